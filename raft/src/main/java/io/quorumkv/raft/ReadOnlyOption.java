package io.quorumkv.raft;

/** How a leader confirms it is still leader before answering a read. */
public enum ReadOnlyOption {
  /**
   * ReadIndex (thesis §6.4): the leader records its commit index and confirms leadership with a
   * heartbeat round to a majority. Linearizable with no assumption about clocks; costs one round
   * trip, shared by every read waiting on the same round.
   */
  SAFE,
  /**
   * Leader lease (thesis §6.4.1): the leader answers at once while a quorum acknowledged a
   * heartbeat round it sent less than about {@code (electionTick - 1) * (1 - clockDriftFactor)}
   * ticks ago (exact rule: {@link RawNode#hasValidLease()}); otherwise it falls back to
   * {@link #SAFE}. No round trip, but linearizable only if no node's tick runs faster than the
   * drift bound allows and no process pause outlasts the margin. Requires CheckQuorum.
   */
  LEASE_BASED
}
