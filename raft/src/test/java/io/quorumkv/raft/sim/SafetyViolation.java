package io.quorumkv.raft.sim;

/** A Raft safety property was broken; the message says which, where and when (virtual time). */
public final class SafetyViolation extends AssertionError {
  private static final long serialVersionUID = 1L;

  /** @param message which property broke, where and when */
  public SafetyViolation(String message) {
    super(message);
  }
}
