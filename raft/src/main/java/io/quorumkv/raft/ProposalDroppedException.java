package io.quorumkv.raft;

/**
 * A proposal was not appended: this node is not the leader, a leadership transfer is in progress,
 * a membership change is already pending, or the uncommitted log is over its limit. The proposal
 * certainly did not happen; the caller may retry elsewhere.
 */
public final class ProposalDroppedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param reason why, in words the caller can log */
  public ProposalDroppedException(String reason) {
    super(reason, null, false, false);
  }
}
