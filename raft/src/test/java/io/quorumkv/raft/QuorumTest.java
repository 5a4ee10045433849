package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.MajorityConfig.VoteResult;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * Quorum arithmetic (majority and joint majority), checked against brute-force definitions, and
 * configuration planning ({@link ConfChanger}).
 */
class QuorumTest {

  /** A voter set of up to 7 ids from 1..9 with an acked index (0..20) for each id 1..9. */
  record Case(Set<Long> voters, Set<Long> outgoing, Map<Long, Long> acked, Map<Long, Boolean> votes) {}

  @Provide
  Arbitrary<Case> cases() {
    Arbitrary<Set<Long>> ids = Arbitraries.longs().between(1, 9).set().ofMaxSize(7);
    Arbitrary<Map<Long, Long>> acked = Arbitraries.maps(Arbitraries.longs().between(1, 9),
        Arbitraries.longs().between(0, 20)).ofMaxSize(9);
    Arbitrary<Map<Long, Boolean>> votes = Arbitraries.maps(Arbitraries.longs().between(1, 9),
        Arbitraries.of(true, false)).ofMaxSize(9);
    return Combinators.combine(ids, ids, acked, votes).as(Case::new);
  }

  private static long acked(Case c, long id) {
    return c.acked().getOrDefault(id, 0L);
  }

  /** Brute force: the largest v that a majority has acknowledged. */
  private static long bruteCommitted(Set<Long> voters, Case c) {
    if (voters.isEmpty()) {
      return Long.MAX_VALUE;
    }
    long best = 0;
    for (long v = 0; v <= 20; v++) {
      long vv = v;
      long count = voters.stream().filter(id -> acked(c, id) >= vv).count();
      if (count > voters.size() / 2) {
        best = v;
      }
    }
    return best;
  }

  private static VoteResult bruteVote(Set<Long> voters, Map<Long, Boolean> votes) {
    if (voters.isEmpty()) {
      return VoteResult.WON;
    }
    long yes = voters.stream().filter(id -> Boolean.TRUE.equals(votes.get(id))).count();
    long no = voters.stream().filter(id -> Boolean.FALSE.equals(votes.get(id))).count();
    int q = voters.size() / 2 + 1;
    return yes >= q ? VoteResult.WON : voters.size() - no < q ? VoteResult.LOST : VoteResult.PENDING;
  }

  @Property
  void majorityCommitIndexIsTheLargestIndexAMajorityHas(@ForAll("cases") Case c) {
    MajorityConfig m = new MajorityConfig(c.voters());
    assertEquals(bruteCommitted(c.voters(), c), m.committedIndex(id -> acked(c, id)));
  }

  @Property
  void jointCommitIndexIsTheMinimumOfBothHalves(@ForAll("cases") Case c) {
    JointConfig j = JointConfig.of(c.voters(), c.outgoing());
    assertEquals(Math.min(bruteCommitted(c.voters(), c), bruteCommitted(c.outgoing(), c)),
        j.committedIndex(id -> acked(c, id)));
  }

  @Property
  void aJointConfigWithAnEmptyOutgoingHalfIsAPlainMajority(@ForAll("cases") Case c) {
    JointConfig j = JointConfig.of(c.voters(), Set.of());
    MajorityConfig m = new MajorityConfig(c.voters());
    assertEquals(m.committedIndex(id -> acked(c, id)), j.committedIndex(id -> acked(c, id)));
    assertEquals(m.voteResult(c.votes()), j.voteResult(c.votes()));
  }

  @Property
  void majorityVoteMatchesCounting(@ForAll("cases") Case c) {
    assertEquals(bruteVote(c.voters(), c.votes()), new MajorityConfig(c.voters()).voteResult(c.votes()));
  }

  @Property
  void jointVoteWinsOnlyIfBothHalvesWinAndLosesIfEitherLoses(@ForAll("cases") Case c) {
    VoteResult in = bruteVote(c.voters(), c.votes());
    VoteResult out = bruteVote(c.outgoing(), c.votes());
    VoteResult expected = in == VoteResult.WON && out == VoteResult.WON ? VoteResult.WON
        : in == VoteResult.LOST || out == VoteResult.LOST ? VoteResult.LOST : VoteResult.PENDING;
    assertEquals(expected, JointConfig.of(c.voters(), c.outgoing()).voteResult(c.votes()));
  }

  @Property(tries = 200)
  void anyTwoMajoritiesOfConfigurationsOneVoterApartIntersect(
      @ForAll("cases") Case c, @ForAll("cases") Case d) {
    // The reason single-server changes need no joint consensus (thesis §4.1): brute force over
    // all subsets of a small configuration and its one-voter variant.
    Set<Long> a = c.voters();
    if (a.isEmpty() || a.size() > 5) {
      return;
    }
    Set<Long> b = new HashSet<>(a);
    long extra = d.voters().stream().filter(id -> !a.contains(id)).findFirst().orElse(0L);
    if (extra != 0) {
      b.add(extra);
    }
    List<Long> all = new java.util.ArrayList<>(b);
    for (int m1 = 0; m1 < 1 << all.size(); m1++) {
      for (int m2 = 0; m2 < 1 << all.size(); m2++) {
        Map<Long, Boolean> v1 = new HashMap<>();
        Map<Long, Boolean> v2 = new HashMap<>();
        for (int i = 0; i < all.size(); i++) {
          v1.put(all.get(i), (m1 & 1 << i) != 0);
          v2.put(all.get(i), (m2 & 1 << i) != 0);
        }
        boolean q1 = new MajorityConfig(a).voteResult(v1) == VoteResult.WON;
        boolean q2 = new MajorityConfig(b).voteResult(v2) == VoteResult.WON;
        if (q1 && q2) {
          int both = m1 & m2;
          assertTrue(both != 0, "disjoint quorums " + a + " / " + b);
        }
      }
    }
  }

  @Test
  void simpleChangesMayChangeOneVoterOnly() {
    ConfState cs = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    assertEquals(Set.of(1L, 2L, 3L, 4L),
        ConfChanger.apply(cs, ConfChange.of(ConfChangeType.ADD_VOTER, 4)).voters());
    ConfChange two = new ConfChange(List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, 4),
        new ConfChange.Single(ConfChangeType.REMOVE, 1)), ConfChange.Transition.AUTO, Entry.EMPTY);
    ConfState joint = ConfChanger.apply(cs, two);
    assertEquals(Set.of(2L, 3L, 4L), joint.voters());
    assertEquals(Set.of(1L, 2L, 3L), joint.votersOutgoing());
    assertTrue(joint.autoLeave());
    ConfState left = ConfChanger.apply(joint, ConfChange.leaveJoint());
    assertEquals(ConfState.ofVoters(Set.of(2L, 3L, 4L)), left);
  }

  @Test
  void demotingAnOutgoingVoterMakesItALearnerOnlyWhenTheJointConfigIsLeft() {
    ConfState cs = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    ConfState joint = ConfChanger.apply(cs, new ConfChange(
        List.of(new ConfChange.Single(ConfChangeType.ADD_LEARNER, 3)),
        ConfChange.Transition.JOINT_EXPLICIT, Entry.EMPTY));
    assertEquals(Set.of(3L), joint.learnersNext());
    assertEquals(Set.of(), joint.learners());
    assertEquals(Set.of(1L, 2L, 3L), joint.votersOutgoing());
    ConfState left = ConfChanger.apply(joint, ConfChange.leaveJoint());
    assertEquals(Set.of(1L, 2L), left.voters());
    assertEquals(Set.of(3L), left.learners());
  }

  @Test
  void invalidChangesAreRefused() {
    ConfState cs = ConfState.ofVoters(Set.of(1L));
    assertThrows(IllegalArgumentException.class,
        () -> ConfChanger.apply(cs, ConfChange.of(ConfChangeType.REMOVE, 1)));
    assertThrows(IllegalArgumentException.class, () -> ConfChanger.apply(cs, ConfChange.leaveJoint()));
    ConfState joint = ConfChanger.apply(cs, new ConfChange(
        List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, 2)),
        ConfChange.Transition.JOINT_EXPLICIT, Entry.EMPTY));
    assertThrows(IllegalArgumentException.class,
        () -> ConfChanger.apply(joint, ConfChange.of(ConfChangeType.ADD_VOTER, 3)));
    assertThrows(IllegalArgumentException.class, () -> ConfChanger.apply(joint,
        new ConfChange(List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, 3)),
            ConfChange.Transition.JOINT_IMPLICIT, Entry.EMPTY)));
    ConfState two = ConfState.ofVoters(Set.of(1L, 2L));
    assertThrows(IllegalArgumentException.class, () -> ConfChanger.apply(two, new ConfChange(
        List.of(new ConfChange.Single(ConfChangeType.REMOVE, 1), new ConfChange.Single(ConfChangeType.REMOVE, 2)),
        ConfChange.Transition.AUTO, Entry.EMPTY)));
  }

  @Provide
  Arbitrary<List<ConfChange>> changeSequences() {
    Arbitrary<ConfChange.Single> single = Combinators.combine(
        Arbitraries.of(ConfChangeType.class), Arbitraries.longs().between(1, 6))
        .as(ConfChange.Single::new);
    Arbitrary<ConfChange> change = Combinators.combine(
        single.list().ofMinSize(0).ofMaxSize(3), Arbitraries.of(ConfChange.Transition.class))
        .as((c, t) -> new ConfChange(c, t, Entry.EMPTY));
    return change.list().ofMaxSize(12);
  }

  @Property
  void everyReachableConfigurationKeepsTheInvariants(@ForAll("changeSequences") List<ConfChange> changes) {
    ConfState cs = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    for (ConfChange cc : changes) {
      ConfState next;
      try {
        next = ConfChanger.apply(cs, cc);
      } catch (IllegalArgumentException refused) {
        continue; // refused changes leave the configuration as it was
      }
      assertTrue(!next.voters().isEmpty(), "voters: " + next);
      Set<Long> allVoters = new HashSet<>(next.voters());
      allVoters.addAll(next.votersOutgoing());
      assertTrue(next.learners().stream().noneMatch(allVoters::contains), "learner and voter: " + next);
      assertTrue(next.votersOutgoing().containsAll(next.learnersNext()), "learnersNext outgoing: " + next);
      assertTrue(next.learnersNext().stream().noneMatch(next.voters()::contains), "learnersNext incoming: " + next);
      if (!next.isJoint()) {
        assertTrue(next.learnersNext().isEmpty() && !next.autoLeave(), "non-joint: " + next);
        if (!cs.isJoint()) {
          Set<Long> diff = new HashSet<>(next.voters());
          diff.addAll(cs.voters());
          Set<Long> both = new HashSet<>(next.voters());
          both.retainAll(cs.voters());
          diff.removeAll(both);
          assertTrue(diff.size() <= 1, "a simple change moved " + diff);
        }
      } else if (!cs.isJoint()) {
        assertEquals(cs.voters(), next.votersOutgoing(), "entering joint keeps the old voters outgoing");
      }
      cs = next;
    }
  }
}
