package io.quorumkv.raft;

import java.util.Map;

/**
 * A read-only view of a node for monitoring and tests.
 *
 * @param id        this member
 * @param softState leader and role
 * @param hardState term, vote and commit index
 * @param applied   the last index reported applied
 * @param lastIndex the last index in this node's log (persisted or not)
 * @param confState the current membership
 * @param progress  on a leader, each member's replication progress; empty otherwise
 * @param leadTransferee the member leadership is being transferred to, or {@link RaftConfig#NONE}
 */
public record Status(
    long id,
    SoftState softState,
    HardState hardState,
    long applied,
    long lastIndex,
    ConfState confState,
    Map<Long, FollowerProgress> progress,
    long leadTransferee) {

  /**
   * A leader's view of one member (paper figure 2: matchIndex, nextIndex).
   *
   * @param matchIndex   highest index known to be replicated on the member
   * @param nextIndex    next index to send
   * @param state        probing, replicating (pipelined) or waiting for a snapshot
   * @param inflight     AppendEntries sent and not yet acknowledged
   * @param recentActive whether the member was heard from in the current election timeout
   * @param learner      whether the member is a learner
   */
  public record FollowerProgress(
      long matchIndex, long nextIndex, ReplicationState state, int inflight,
      boolean recentActive, boolean learner) {}

  /** How the leader replicates to one member. */
  public enum ReplicationState {
    /** Sends one AppendEntries at a time until it finds where the logs match. */
    PROBE,
    /** Streams AppendEntries optimistically, up to the inflight window. */
    REPLICATE,
    /** Waits for the member to install a snapshot. */
    SNAPSHOT
  }
}
