package io.quorumkv;

/**
 * The base of every failure a QuorumKV call reports. Unchecked: a synchronous call throws it, an
 * asynchronous call completes its future exceptionally with it.
 *
 * <p>Every subclass says whether the operation may have taken effect, so a caller (or a test
 * recording a history) knows whether to treat a write as failed or as unknown.
 */
public abstract class KvException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final boolean outcomeUnknown;

  /**
   * @param message        what happened, for a person
   * @param outcomeUnknown whether a write may have been applied despite the failure
   * @param cause          the underlying cause, or null
   */
  protected KvException(String message, boolean outcomeUnknown, Throwable cause) {
    super(message, cause);
    this.outcomeUnknown = outcomeUnknown;
  }

  /**
   * True when a write may nevertheless have been (or may still be) applied: the caller must not
   * assume it failed. False means the operation certainly did not take effect. Meaningless for
   * reads, which have no effect either way.
   */
  public boolean outcomeUnknown() {
    return outcomeUnknown;
  }
}
