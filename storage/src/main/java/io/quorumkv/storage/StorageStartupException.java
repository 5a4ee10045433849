package io.quorumkv.storage;

/**
 * The engine refused to open its data because using it could lose or invent data. The
 * {@link #reason()} says which check failed; the message says what was found and what to do.
 */
public final class StorageStartupException extends StorageException {
  private static final long serialVersionUID = 1L;

  /** Why the data could not be opened. */
  public enum Reason {
    /** Another live process (or engine in this process) holds the data directory's lock. */
    LOCKED,
    /** The data belongs to a different cluster id. */
    CLUSTER_ID_MISMATCH,
    /** The data belongs to a different node id. */
    NODE_ID_MISMATCH,
    /** The data was written by a format version this code does not know. */
    UNKNOWN_FORMAT_VERSION,
    /** The META file is missing fields or unreadable. */
    BAD_META,
    /** A group's log has a hole between two entries (or before its first entry). */
    LOG_GAP,
    /** A group's state machine is behind its own snapshot: the entries it needs are gone. */
    STATE_MACHINE_BEHIND_SNAPSHOT,
    /** A group's state machine or commit index is past the end of its durable log. */
    STATE_AHEAD_OF_LOG,
    /** An interrupted snapshot install cannot be finished (its staged payload is gone). */
    INTERRUPTED_RESTORE,
    /**
     * The write-ahead log is damaged before its end (not a torn last write): starting would
     * silently drop the writes after the damage, acknowledged ones included.
     */
    WAL_CORRUPTION
  }

  private final Reason reason;

  /**
   * @param reason  which check failed
   * @param message what was found, naming the directory or group
   */
  public StorageStartupException(Reason reason, String message) {
    super(reason + ": " + message);
    this.reason = reason;
  }

  /**
   * @param reason  which check failed
   * @param message what was found
   * @param cause   the underlying error
   */
  public StorageStartupException(Reason reason, String message, Throwable cause) {
    super(reason + ": " + message, cause);
    this.reason = reason;
  }

  /** Which check failed. */
  public Reason reason() {
    return reason;
  }
}
