package io.quorumkv.raft;

/** The requested log index is past the end of the log. */
public final class LogUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param index the index asked for */
  public LogUnavailableException(long index) {
    super("log index " + index + " is unavailable", null, false, false);
  }
}
