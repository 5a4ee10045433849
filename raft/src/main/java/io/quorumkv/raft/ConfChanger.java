package io.quorumkv.raft;

import java.util.HashSet;
import java.util.Set;

/**
 * Plans a membership change: computes the configuration that results from applying a
 * {@link ConfChange} to the current one, or says why it is not allowed.
 *
 * <ul>
 *   <li>Simple change: at most one voter added or removed (learner changes are free); safe
 *       without joint consensus because any two majorities of configurations differing by one
 *       voter intersect (thesis §4.1).</li>
 *   <li>Enter joint: the current voters become the outgoing half, the changes build the incoming
 *       half (thesis §4.3).</li>
 *   <li>Leave joint: drop the outgoing half; outgoing voters that were demoted become learners.</li>
 * </ul>
 */
final class ConfChanger {

  private ConfChanger() {}

  /**
   * The configuration after {@code cc}.
   *
   * @throws IllegalArgumentException naming why the change is not allowed from {@code cs}
   */
  static ConfState apply(ConfState cs, ConfChange cc) {
    if (cc.isLeaveJoint()) {
      return leaveJoint(cs);
    }
    boolean joint = cc.changes().size() > 1 || cc.transition() != ConfChange.Transition.AUTO;
    return joint
        ? enterJoint(cs, cc.transition() != ConfChange.Transition.JOINT_EXPLICIT, cc)
        : simple(cs, cc);
  }

  private static ConfState leaveJoint(ConfState cs) {
    if (!cs.isJoint()) {
      throw new IllegalArgumentException("cannot leave a joint configuration: not in one");
    }
    Set<Long> learners = new HashSet<>(cs.learners());
    learners.addAll(cs.learnersNext());
    return new ConfState(cs.voters(), learners, Set.of(), Set.of(), false);
  }

  private static ConfState enterJoint(ConfState cs, boolean autoLeave, ConfChange cc) {
    if (cs.isJoint()) {
      throw new IllegalArgumentException("already in a joint configuration");
    }
    if (cs.voters().isEmpty()) {
      throw new IllegalArgumentException("cannot make a zero-voter configuration joint");
    }
    Sets s = new Sets(cs.voters(), cs.learners(), cs.voters(), Set.of());
    s.apply(cc);
    return new ConfState(s.incoming, s.learners, cs.voters(), s.learnersNext, autoLeave);
  }

  private static ConfState simple(ConfState cs, ConfChange cc) {
    if (cs.isJoint()) {
      throw new IllegalArgumentException("cannot apply a simple change in a joint configuration");
    }
    Sets s = new Sets(cs.voters(), cs.learners(), Set.of(), Set.of());
    s.apply(cc);
    Set<Long> changed = new HashSet<>(s.incoming);
    changed.addAll(cs.voters());
    Set<Long> both = new HashSet<>(s.incoming);
    both.retainAll(cs.voters());
    changed.removeAll(both);
    if (changed.size() > 1) {
      throw new IllegalArgumentException("more than one voter changed without joint consensus");
    }
    return new ConfState(s.incoming, s.learners, Set.of(), Set.of(), false);
  }

  /** Mutable working copies of a configuration's sets while changes are applied. */
  private static final class Sets {
    final Set<Long> incoming;
    final Set<Long> learners;
    final Set<Long> outgoing;
    final Set<Long> learnersNext;

    Sets(Set<Long> incoming, Set<Long> learners, Set<Long> outgoing, Set<Long> learnersNext) {
      this.incoming = new HashSet<>(incoming);
      this.learners = new HashSet<>(learners);
      this.outgoing = Set.copyOf(outgoing);
      this.learnersNext = new HashSet<>(learnersNext);
    }

    void apply(ConfChange cc) {
      for (ConfChange.Single c : cc.changes()) {
        switch (c.type()) {
          case ADD_VOTER -> {
            learners.remove(c.nodeId());
            learnersNext.remove(c.nodeId());
            incoming.add(c.nodeId());
          }
          case ADD_LEARNER -> {
            if (!learners.contains(c.nodeId())) {
              incoming.remove(c.nodeId());
              learnersNext.remove(c.nodeId());
              // A voter of the outgoing half keeps voting there until the joint config is left.
              if (outgoing.contains(c.nodeId())) {
                learnersNext.add(c.nodeId());
              } else {
                learners.add(c.nodeId());
              }
            }
          }
          case REMOVE -> {
            incoming.remove(c.nodeId());
            learners.remove(c.nodeId());
            learnersNext.remove(c.nodeId());
          }
        }
      }
      if (incoming.isEmpty()) {
        throw new IllegalArgumentException("the change removes every voter");
      }
    }
  }
}
