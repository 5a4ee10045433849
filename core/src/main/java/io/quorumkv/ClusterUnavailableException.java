package io.quorumkv;

/**
 * No quorum could be reached for the key's partition before the deadline: no leader was known or
 * reachable, or the node is shutting down. {@link #outcomeUnknown()} tells whether an earlier
 * attempt of the same call had already been handed to a leader (then the write may still apply).
 * A read (get, scan, status) whose deadline passes always fails with this exception, never with
 * {@link KvTimeoutException}: it has no effect, so nothing about it is unknown. The message names
 * the nodes tried and the last error seen.
 */
public final class ClusterUnavailableException extends KvException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message        what was tried
   * @param outcomeUnknown whether an attempt had reached a leader before
   * @param cause          the last failure, or null
   */
  public ClusterUnavailableException(String message, boolean outcomeUnknown, Throwable cause) {
    super(message, outcomeUnknown, cause);
  }
}
