package io.quorumkv.raft;

import java.util.Objects;

/**
 * Where a snapshot sits in the log: it replaces every entry up to and including {@code index}.
 *
 * @param index     the last log index the snapshot covers
 * @param term      the term of the entry at {@code index}
 * @param confState the membership as of {@code index}
 */
public record SnapshotMetadata(long index, long term, ConfState confState) {

  /** The metadata of "no snapshot". */
  public static final SnapshotMetadata EMPTY = new SnapshotMetadata(0, 0, ConfState.EMPTY);

  public SnapshotMetadata {
    Objects.requireNonNull(confState, "confState");
  }
}
