package io.quorumkv.raft;

import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BiConsumer;

/**
 * The membership as the core uses it: the voter configuration (possibly joint), the learners, and
 * on a leader one {@link Progress} per member; on a candidate, the votes received.
 *
 * <p>Maps are sorted by id so that every iteration (and thus every message order) is
 * deterministic.
 */
final class ProgressTracker {

  private ConfState confState = ConfState.EMPTY;
  private JointConfig voters = JointConfig.of(Set.of(), Set.of());
  private final TreeMap<Long, Progress> progress = new TreeMap<>();
  private final TreeMap<Long, Boolean> votes = new TreeMap<>();
  private final int maxInflight;
  private final long maxInflightBytes;

  ProgressTracker(int maxInflight, long maxInflightBytes) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
  }

  ConfState confState() {
    return confState;
  }

  JointConfig voters() {
    return voters;
  }

  /**
   * Switches to {@code cs}: members that stay keep their progress, new members start probing at
   * {@code lastIndex} (the leader checks the last entry first), removed members are forgotten.
   */
  void reconfigure(ConfState cs, long lastIndex) {
    confState = cs;
    voters = JointConfig.of(cs.voters(), cs.votersOutgoing());
    Set<Long> members = new TreeSet<>(voters.ids());
    members.addAll(cs.learners());
    members.addAll(cs.learnersNext());
    progress.keySet().retainAll(members);
    for (long id : members) {
      // learnersNext are still voters of the outgoing half until the joint config is left.
      boolean learner = cs.learners().contains(id);
      Progress pr = progress.get(id);
      if (pr == null) {
        pr = new Progress(Math.max(lastIndex, 1), maxInflight, maxInflightBytes, learner);
        progress.put(id, pr);
      }
      pr.learner = learner;
    }
  }

  Progress get(long id) {
    return progress.get(id);
  }

  boolean isMember(long id) {
    return progress.containsKey(id);
  }

  /** Visits every member (voters and learners) in id order. */
  void forEach(BiConsumer<Long, Progress> visitor) {
    progress.forEach(visitor);
  }

  Map<Long, Progress> progressView() {
    return progress;
  }

  /** The highest index replicated on a quorum (joint-aware). */
  long committed() {
    return voters.committedIndex(id -> {
      Progress pr = progress.get(id);
      return pr == null ? 0 : pr.match;
    });
  }

  /** Whether the voters heard from in this CheckQuorum period form a quorum. */
  boolean quorumActive(long self) {
    Map<Long, Boolean> active = new TreeMap<>();
    progress.forEach((id, pr) -> {
      if (!pr.learner) {
        active.put(id, id == self || pr.recentActive);
      }
    });
    return voters.voteResult(active) == MajorityConfig.VoteResult.WON;
  }

  /** A single voter and no joint configuration: the leader decides alone. */
  boolean isSingleton() {
    return voters.outgoing().isEmpty() && voters.incoming().ids().size() == 1;
  }

  void resetVotes() {
    votes.clear();
  }

  /** Records {@code id}'s vote; a second answer from the same voter is ignored. */
  void recordVote(long id, boolean granted) {
    votes.putIfAbsent(id, granted);
  }

  MajorityConfig.VoteResult tallyVotes() {
    return voters.voteResult(votes);
  }

  @Override
  public String toString() {
    return "voters=" + voters + " learners=" + new TreeSet<>(confState.learners()) + " " + progress;
  }
}
