package io.quorumkv.raft;

/** A snapshot is being produced and is not ready yet; the core will ask again later. */
public final class SnapshotUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Creates the exception (no stack trace: it is control flow). */
  public SnapshotUnavailableException() {
    super("snapshot temporarily unavailable", null, false, false);
  }
}
