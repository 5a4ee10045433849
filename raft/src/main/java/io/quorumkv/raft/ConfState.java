package io.quorumkv.raft;

import java.util.Set;

/**
 * The membership of a Raft group at a point in its log.
 *
 * <p>Outside a joint configuration {@code votersOutgoing} and {@code learnersNext} are empty.
 * During joint consensus (Raft thesis §4.3) decisions need a majority of {@code voters} and a
 * majority of {@code votersOutgoing}; {@code learnersNext} are outgoing voters that become
 * learners when the joint configuration is left.
 *
 * @param voters         voters of the incoming (or only) configuration
 * @param learners       non-voting members that receive the log
 * @param votersOutgoing voters of the outgoing configuration; empty when not joint
 * @param learnersNext   members to turn into learners when leaving the joint configuration
 * @param autoLeave      whether the leader leaves the joint configuration by itself
 */
public record ConfState(
    Set<Long> voters,
    Set<Long> learners,
    Set<Long> votersOutgoing,
    Set<Long> learnersNext,
    boolean autoLeave) {

  /** No members at all: the configuration of an uninitialised node. */
  public static final ConfState EMPTY = new ConfState(Set.of(), Set.of(), Set.of(), Set.of(), false);

  public ConfState {
    voters = Set.copyOf(voters);
    learners = Set.copyOf(learners);
    votersOutgoing = Set.copyOf(votersOutgoing);
    learnersNext = Set.copyOf(learnersNext);
  }

  /** A simple (non-joint) configuration of voters only. */
  public static ConfState ofVoters(Set<Long> voters) {
    return new ConfState(voters, Set.of(), Set.of(), Set.of(), false);
  }

  /** True while the group is in a joint configuration. */
  public boolean isJoint() {
    return !votersOutgoing.isEmpty();
  }
}
