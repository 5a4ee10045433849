package io.quorumkv.raft;

/** The requested log index was compacted into a snapshot. */
public final class LogCompactedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param index the index asked for */
  public LogCompactedException(long index) {
    super("log index " + index + " is compacted", null, false, false);
  }
}
