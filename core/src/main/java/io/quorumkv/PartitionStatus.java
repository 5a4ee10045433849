package io.quorumkv;

import java.util.Set;

/**
 * One partition (Raft group) as seen by the node that answered a status request.
 *
 * @param partitionId  the partition's id (also its Raft group id)
 * @param keys         which keys it holds, for a person: {@code "hash 2/4"} or {@code "[g, p)"}
 * @param leader       the leader this node knows of, or 0 when none
 * @param term         the node's current term in this group
 * @param commitIndex  the node's commit index in this group
 * @param appliedIndex the node's applied index in this group
 * @param voters       the voting members
 * @param learners     the non-voting members
 */
public record PartitionStatus(
    long partitionId,
    String keys,
    long leader,
    long term,
    long commitIndex,
    long appliedIndex,
    Set<Long> voters,
    Set<Long> learners) {

  /** Checks and copies the fields. */

  public PartitionStatus {
    voters = Set.copyOf(voters);
    learners = Set.copyOf(learners);
  }
}
