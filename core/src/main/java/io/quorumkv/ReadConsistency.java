package io.quorumkv;

/**
 * How fresh a read must be, chosen per call. Writes are always replicated to a majority of the
 * key's partition and made durable (fsynced) there before they are acknowledged.
 *
 * <p>From strongest and slowest to weakest and fastest. docs/guarantees.md states the same with
 * examples.
 */
public enum ReadConsistency {

  /**
   * Linearizable, the default: the read reflects every write acknowledged before the read was
   * issued. Implemented with ReadIndex (Raft thesis §6.4): the partition's leader records its
   * commit index, confirms it is still leader with one heartbeat round to a majority (shared by
   * every read waiting at the same time), waits until it has applied that index, then reads its
   * state. <b>No clock assumption.</b> Costs one round trip to a majority; a request reaching a
   * follower is forwarded to the leader.
   */
  LINEARIZABLE,

  /**
   * Leader lease (thesis §6.4.1): the leader answers from its state at once, without a round trip,
   * while it has heard from a majority within the lease, which is
   * {@code electionTicks * (1 - leaseClockDriftFactor)} ticks. Linearizable <b>only if</b> no
   * node's clock runs faster than the others by more than the drift factor allows and no process
   * pause (GC, VM freeze) outlasts that margin: a deposed leader whose clock is slow or who was
   * frozen may serve a stale value for up to the margin. When the leader holds no valid lease
   * (just elected, or a quorum was not heard from recently) the read falls back to
   * {@link #LINEARIZABLE} transparently.
   */
  LEASE,

  /**
   * Follower read (thesis §6.4): the node that receives the call asks the leader for its commit
   * index (one round trip to the leader, which confirms leadership with a majority as in
   * {@link #LINEARIZABLE}), waits until its own replica has applied that index, then reads
   * locally. <b>Linearizable, no clock assumption</b>, and it spreads read load over replicas; it
   * costs the ReadIndex round trip plus however long the local replica takes to catch up.
   */
  FOLLOWER,

  /**
   * Stale read: served at once from the local replica with no communication at all. It reflects
   * a prefix of the partition's log (every write up to the replica's applied index, nothing
   * later), so it never returns a value that was never written, and successive STALE reads on one
   * node never go backwards. It may miss any number of recent writes, including the caller's own.
   * {@link KvStore#read(byte[], ReadConsistency)} reports how stale it was: the applied index and
   * the time since this replica last heard from a leader. No clock assumption (the staleness
   * figure uses this node's monotonic clock only).
   */
  STALE
}
