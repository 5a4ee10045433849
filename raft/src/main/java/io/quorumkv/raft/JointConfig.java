package io.quorumkv.raft;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.ToLongFunction;

/**
 * Joint consensus (Raft thesis §4.3): a decision needs a majority of {@code incoming} and a
 * majority of {@code outgoing}. Outside a membership change {@code outgoing} is empty and this is
 * a plain majority of {@code incoming}.
 */
record JointConfig(MajorityConfig incoming, MajorityConfig outgoing) {

  static JointConfig of(Set<Long> incoming, Set<Long> outgoing) {
    return new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing));
  }

  boolean isJoint() {
    return !outgoing.isEmpty();
  }

  /** Every voter of either half, in id order. */
  Set<Long> ids() {
    TreeSet<Long> all = new TreeSet<>(incoming.ids());
    all.addAll(outgoing.ids());
    return all;
  }

  boolean contains(long id) {
    return incoming.ids().contains(id) || outgoing.ids().contains(id);
  }

  /** The largest value acknowledged by a quorum of both halves. */
  long committedIndex(ToLongFunction<Long> acked) {
    return Math.min(incoming.committedIndex(acked), outgoing.committedIndex(acked));
  }

  /** WON only if both halves won; LOST as soon as either lost. */
  MajorityConfig.VoteResult voteResult(Map<Long, Boolean> votes) {
    MajorityConfig.VoteResult in = incoming.voteResult(votes);
    MajorityConfig.VoteResult out = outgoing.voteResult(votes);
    if (in == out) {
      return in;
    }
    if (in == MajorityConfig.VoteResult.LOST || out == MajorityConfig.VoteResult.LOST) {
      return MajorityConfig.VoteResult.LOST;
    }
    return MajorityConfig.VoteResult.PENDING;
  }

  @Override
  public String toString() {
    return isJoint() ? incoming + "&&" + outgoing : incoming.toString();
  }
}
