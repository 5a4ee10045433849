package io.quorumkv.raft;

/** What an {@link Entry}'s data holds. */
public enum EntryType {
  /** An application command, opaque to Raft (or empty: a new leader's no-op). */
  NORMAL,
  /** An encoded {@link ConfChange}; see {@link ConfChange#encode()}. */
  CONF_CHANGE
}
