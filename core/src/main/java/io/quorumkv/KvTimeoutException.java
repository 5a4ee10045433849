package io.quorumkv;

/**
 * The call's deadline passed before an answer arrived. <strong>The outcome is unknown</strong>:
 * a write may have been applied, may still be applied later, or may never be. Within one call every
 * internal retry (after a lost answer, a leader change or a redirect) reuses the call's session
 * sequence number, so the write applies at most once. Once this exception is thrown the call is
 * over: calling again is a new write. See docs/guarantees.md.
 */
public final class KvTimeoutException extends KvException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message what was known when the deadline passed (e.g. the last leader tried)
   * @param cause   the last failure seen while retrying, or null
   */
  public KvTimeoutException(String message, Throwable cause) {
    super("outcome unknown: " + message, true, cause);
  }
}
