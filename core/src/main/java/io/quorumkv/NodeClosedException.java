package io.quorumkv;

/**
 * The node or client was closed (or not started) while the call was pending. A write that was
 * already proposed may still be applied by the rest of the cluster, which {@link #outcomeUnknown()}
 * reports.
 */
public final class NodeClosedException extends KvException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message        what was closed
   * @param outcomeUnknown whether the call had already been proposed
   */
  public NodeClosedException(String message, boolean outcomeUnknown) {
    super(message, outcomeUnknown, null);
  }
}
