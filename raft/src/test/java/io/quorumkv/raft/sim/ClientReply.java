package io.quorumkv.raft.sim;

/** A node's answer to a {@link ClientRequest}. */
sealed interface ClientReply {

  long requestId();

  /**
   * The operation took effect.
   *
   * @param applied for a cas, whether the comparison matched; true otherwise
   * @param read    for a get, the value read (null = absent)
   */
  record Done(long requestId, boolean applied, String read) implements ClientReply {}

  /**
   * The operation certainly did not take effect here (not leader, node down, proposal dropped,
   * or its log entry was replaced by another leader's); the client may try elsewhere.
   *
   * @param leaderHint the leader this node knows of, or 0
   */
  record Rejected(long requestId, long leaderHint) implements ClientReply {}

  /**
   * The operation may or may not take effect, and the node that took it will never learn which
   * (it was removed from the membership: NodeRuntime's "outcome unknown" of a destroyed replica).
   * The client records {@code info}, as after a timeout, but without waiting one out.
   */
  record Unknown(long requestId) implements ClientReply {}
}
