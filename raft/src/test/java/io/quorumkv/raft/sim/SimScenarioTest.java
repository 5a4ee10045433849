package io.quorumkv.raft.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message;
import io.quorumkv.raft.Status;
import io.quorumkv.testkit.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Named scenarios in the simulator: each drives a cluster through one story and checks both the
 * story's outcome and, at the end, that the client history is linearizable.
 */
class SimScenarioTest {

  private static final long SECOND = 1_000_000;

  private static long leaderOf(SimCluster c) {
    assertTrue(c.runUntil(c::hasMemberLeader, 3 * SECOND), "a leader is elected: " + c.stats());
    return c.leader().getAsLong();
  }

  private static void assertLinearizable(SimCluster c) {
    c.stopClients();
    assertTrue(c.runUntil(c::clientsIdle, 2 * SECOND), "clients finish");
    Verdict v = c.checkHistory();
    assertTrue(v.isLinearizable(), v::describe);
    assertTrue(c.history().ops().size() > 50, "a real workload ran: " + c.stats());
  }

  @Test
  void electsALeaderAndCommitsClientWrites() {
    SimCluster c = new SimCluster(SimConfig.defaults(3, 1));
    c.startClients();
    leaderOf(c);
    c.runFor(SECOND);
    assertTrue(c.maxCommitted() > 20, c.stats());
    assertLinearizable(c);
  }

  @Test
  void aCrashedLeaderIsReplacedAndComesBackAsFollower() {
    SimCluster c = new SimCluster(SimConfig.defaults(3, 2));
    c.startClients();
    long first = leaderOf(c);
    c.runFor(SECOND / 2);
    c.crash(first);
    long second = leaderOf(c);
    assertNotEquals(first, second);
    long committed = c.maxCommitted();
    c.runFor(SECOND / 2);
    assertTrue(c.maxCommitted() > committed, "the new leader commits: " + c.stats());
    c.restart(first);
    c.runFor(SECOND);
    assertEquals(c.applied(second), c.applied(first), 5, "the old leader caught up");
    assertLinearizable(c);
  }

  /**
   * A node its driver forbids to lead ({@code RawNode.setPromotable}) through the whole story: a
   * transfer to it is not taken up (the leader aborts it and commits on), and when the leader
   * crashes the third node is elected with its vote; so is the first leader, restarted, once the
   * third crashes. The invariants fail the run if the forbidden node ever becomes leader.
   */
  @Test
  void aNodeForbiddenToLeadVotesButNeverLeads() {
    SimCluster c = new SimCluster(SimConfig.defaults(3, 11));
    c.startClients();
    long first = leaderOf(c);
    long forbidden = first % 3 + 1;
    long other = 6 - first - forbidden;
    c.node(forbidden).forbidLeadingFor(30 * SECOND);
    c.runFor(SECOND / 4);
    assertTrue(c.transferLeadership(forbidden));
    c.runFor(SECOND / 2);
    assertEquals(first, c.leader().getAsLong(), "the transfer was not taken up");
    long committed = c.maxCommitted();
    c.runFor(SECOND / 4);
    assertTrue(c.maxCommitted() > committed, "the leader commits again after aborting the transfer: " + c.stats());
    c.crash(first);
    assertEquals(other, leaderOf(c), "elected with the forbidden node's vote");
    c.restart(first);
    c.runFor(SECOND / 2);
    c.crash(other);
    assertEquals(first, leaderOf(c));
    c.restart(other);
    assertLinearizable(c);
  }

  /**
   * A leader that applied its own removal hands its leadership to the most up-to-date voter, and
   * retries every election timeout until a successor takes over; when that voter is forbidden to
   * lead (a fenced replica in core), the retry must go to another voter, or the group takes no
   * proposal again (the removed leader refuses them, and its heartbeats keep the other voter from
   * campaigning). The forbidden one is the follower with the lower id, which wins a tie of match
   * indexes, as the followers' are on a quiet group (found by core's KvSim with fencing
   * modelled: {@code KvSimRegressionTest.aLeaderRemovingItselfHandsOffPastAFencedVoter}).
   */
  @Test
  void aLeaderRemovingItselfHandsOffPastAVoterForbiddenToLead() {
    SimCluster c = new SimCluster(SimConfig.defaults(3, 21));
    c.startClients();
    long first = leaderOf(c);
    long forbidden = first == 1 ? 2 : 1;
    long other = 6 - first - forbidden;
    c.node(forbidden).forbidLeadingFor(60 * SECOND);
    c.runFor(SECOND / 4);
    // Quiet, so that both followers hold the whole log when the removal applies: a tie.
    c.stopClients();
    assertTrue(c.runUntil(c::clientsIdle, 2 * SECOND), "clients finish");
    c.runFor(SECOND / 4);
    assertTrue(c.remove(first), "removal of leader " + first + " proposed");
    assertTrue(c.runUntil(() -> c.leader().isPresent() && c.leader().getAsLong() == other, 5 * SECOND),
        "node " + other + " leads once leader " + first + " removed itself, node " + forbidden
            + " forbidden to lead: " + c.stats());
    assertLinearizable(c);
  }

  /**
   * With {@code written()} reports nodes apply entries before their own sync; crashes (of leaders
   * and followers, on a slow disk) land between written and persisted and lose applied state,
   * always together with the log it applied (checked at every crash), and the history stays
   * linearizable.
   */
  @Test
  void crashesBetweenWrittenAndPersistedLoseAppliedStateOnlyWithItsLog() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 9).sync(2_000, 30_000).snapshots(15, 3)
        .reportWritten(true).build());
    c.startClients();
    for (int round = 0; round < 16; round++) {
      long leader = leaderOf(c);
      long victim = round % 2 == 0 ? leader : leader % 3 + 1;
      c.runFor(SECOND / 8 + round * 7_919);
      c.crash(victim);
      c.runFor(SECOND / 20);
      c.restart(victim);
    }
    c.runFor(SECOND);
    assertTrue(c.appliedStateLost() > 0, "some crash lost written, applied state: " + c.stats());
    assertLinearizable(c);
  }

  /**
   * The leader's written copy must not count toward commit. Leader and one follower are cut off
   * from the third member and the leader's disk is slow: entries commit only as the leader's own
   * syncs finish. Had its written copies counted, it would commit and apply entries that only the
   * follower holds durably; its crash loses them, and once it restarts cut off from that follower
   * it forms a majority with the third member, which elects a leader without them (leader
   * completeness fails).
   */
  @Test
  void aLeadersWrittenCopyDoesNotCountTowardCommit() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 10).reportWritten(true).build());
    c.startClients();
    long leader = leaderOf(c);
    c.runFor(SECOND / 4);
    long near = leader % 3 + 1;
    long far = near % 3 + 1;
    c.partition(List.of(Set.of(leader, near), Set.of(far)));
    c.slowDisk(leader, 100_000);
    c.runFor(SECOND / 4);
    c.crash(leader);
    c.slowDisk(leader, 0);
    c.partition(List.of(Set.of(leader, far), Set.of(near)));
    c.restart(leader);
    long second = leaderOf(c);
    assertTrue(second == leader || second == far, "the majority without the follower elects " + second);
    c.runFor(SECOND / 2);
    c.heal();
    c.runFor(SECOND);
    assertLinearizable(c);
  }

  @Test
  void aMinorityPartitionCannotCommitAndTheMajorityCarriesOn() {
    SimCluster c = new SimCluster(SimConfig.defaults(5, 3));
    c.startClients();
    long leader = leaderOf(c);
    c.runFor(SECOND / 2);
    Set<Long> minority = Set.of(leader, leader % 5 + 1);
    Set<Long> majority = new TreeSet<>(c.nodeIds());
    majority.removeAll(minority);
    c.partition(List.of(minority, majority));
    c.runFor(SECOND);
    long newLeader = leaderOf(c);
    assertTrue(majority.contains(newLeader), "the majority elects " + newLeader);
    long committed = c.maxCommitted();
    c.runFor(SECOND / 2);
    assertTrue(c.maxCommitted() > committed, c.stats());
    c.heal();
    c.runFor(SECOND);
    assertLinearizable(c);
  }

  @Test
  void addLearnerPromoteItThenRemoveTheLeader() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 4).spares(1).build());
    c.startClients();
    leaderOf(c);
    c.runFor(SECOND / 2);
    assertTrue(c.addLearner(4), "learner proposed");
    assertTrue(c.runUntil(() -> c.membership().learners().contains(4L), SECOND), "learner added");
    assertTrue(c.runUntil(() -> c.applied(4) >= c.maxCommitted() - 5 && c.applied(4) > 20, 2 * SECOND),
        "the learner catches up: applied " + c.applied(4) + " of " + c.maxCommitted());
    assertTrue(c.isInSyncLearner(4) && c.promote(4), "promotion proposed");
    assertTrue(c.runUntil(() -> c.membership().voters().equals(Set.of(1L, 2L, 3L, 4L)), SECOND),
        "4 is a voter: " + c.membership());
    long leader = c.leader().getAsLong();
    // The leader refuses a new change until it has applied the promotion itself, which may come
    // after another node applied it (what membership() reports).
    assertTrue(c.runUntil(() -> c.remove(leader), SECOND), "removal of the leader proposed");
    assertTrue(c.runUntil(() -> !c.membership().voters().contains(leader), SECOND), "leader removed");
    assertTrue(c.runUntil(() -> c.hasMemberLeader() && c.leader().getAsLong() != leader, 3 * SECOND),
        "a remaining voter leads: " + c.stats());
    long committed = c.maxCommitted();
    c.runFor(SECOND);
    assertTrue(c.maxCommitted() > committed + 10, "the shrunk group commits: " + c.stats());
    assertLinearizable(c);
  }

  @Test
  void replaceAVoterThroughAJointConfiguration() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 6).spares(1).build());
    c.startClients();
    long leader = leaderOf(c);
    c.runFor(SECOND / 2);
    long out = leader % 3 + 1;
    assertTrue(c.addLearner(4), "learner proposed");
    assertTrue(c.runUntil(() -> c.isInSyncLearner(4), SECOND), "learner in sync");
    assertTrue(c.replace(4, out), "replacement proposed");
    assertTrue(c.runUntil(() -> c.membership().isJoint(), SECOND), "joint: " + c.membership());
    assertTrue(c.membership().votersOutgoing().contains(out) && !c.membership().voters().contains(out)
        && c.membership().voters().contains(4L), "C_old,new: " + c.membership());
    assertTrue(c.runUntil(() -> !c.membership().isJoint(), 2 * SECOND), "left joint: " + c.membership());
    Set<Long> expected = new TreeSet<>(Set.of(1L, 2L, 3L, 4L));
    expected.remove(out);
    assertEquals(expected, Set.copyOf(c.membership().voters()));
    long committed = c.maxCommitted();
    c.runFor(SECOND);
    assertTrue(c.maxCommitted() > committed + 10, "the new group commits: " + c.stats());
    assertLinearizable(c);
  }

  @Test
  void aLaggingFollowerCatchesUpByInstallSnapshot() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 5).snapshots(10, 2).build());
    c.startClients();
    long leader = leaderOf(c);
    long lagging = leader % 3 + 1;
    c.crash(lagging);
    c.runFor(2 * SECOND);
    long target = c.maxCommitted();
    assertTrue(c.firstIndex(c.leader().getAsLong()) > c.applied(lagging) + 1,
        "the leader compacted past the lagging follower: " + c.stats());
    c.restart(lagging);
    assertTrue(c.runUntil(() -> c.applied(lagging) >= target, 2 * SECOND),
        "the follower caught up: applied " + c.applied(lagging) + " of " + target);
    assertTrue(c.snapshotsInstalled(lagging) > 0, "by a snapshot");
    assertLinearizable(c);
  }

  /**
   * The paper's figure 8: an entry of an earlier term, once on a majority, must still not count
   * as committed until an entry of the leader's own term is, because a leader of a later term
   * that lacks it may still be elected and overwrite it.
   *
   * <p>(a) A leads term t1 and appends entry i, which only B receives. (b) A crashes; C wins
   * term t2 among C, D, E and appends its no-op at i, which nobody else receives. (c) A restarts
   * and a node holding i@t1 leads term t3; it copies i to D but its own no-op reaches no one but
   * B: i is now on a majority (A, B, D) yet must not commit. (d) C, D and E are cut off with C,
   * whose last term t2 beats D's and E's t1: C wins and replaces i by its own entry. A core that
   * committed i in (c) by counting replicas is caught by leader completeness in (d).
   */
  @Test
  void figure8AnEntryOfAnEarlierTermIsNotCommittedByCountingReplicas() {
    SimCluster c = new SimCluster(SimConfig.builder(5, 8).clients(0).maxSizePerMsg(1).build());
    long a = leaderOf(c);
    c.runFor(SECOND / 5);
    List<Long> others = new ArrayList<>(c.nodeIds());
    others.remove(a);
    long b = others.get(0);
    Set<Long> cde = Set.of(others.get(1), others.get(2), others.get(3));

    // (a) i@t1 reaches B only.
    c.partition(List.of(Set.of(a, b), cde));
    assertTrue(c.proposeAtLeader("x", "from-t1"));
    long i = status(c, a).lastIndex();
    c.runFor(SECOND / 50);
    assertEquals(i, status(c, b).lastIndex(), "B has i");

    // (b) A crashes; C wins among C, D, E and is cut off before its no-op (at i) leaves.
    c.crash(a);
    assertTrue(c.runUntil(() -> c.leader().isPresent() && cde.contains(c.leader().getAsLong()), 2 * SECOND));
    long cNode = c.leader().getAsLong();
    Set<Long> de = new TreeSet<>(cde);
    de.remove(cNode);
    c.partition(List.of(Set.of(cNode), Set.of(a, b, de.toArray(new Long[0])[0], de.toArray(new Long[0])[1])));
    assertEquals(i, status(c, cNode).lastIndex(), "C's no-op took index i");
    long t2 = c.node(cNode).term();

    // (c) A restarts; a holder of i@t1 leads t3; its own-term entries reach only B.
    c.restart(a);
    long dNode = de.iterator().next();
    // Lost: any entry of term t3 sent to D or E once they hold i (before that they reject it,
    // which is how the leader learns to send them i).
    c.network().dropIf(m -> m instanceof Message.AppendEntries ae && de.contains(ae.to())
        && ae.entries().stream().anyMatch(e -> e.term() > t2) && status(c, ae.to()).lastIndex() >= i);
    assertTrue(c.runUntil(() -> c.leader().isPresent() && c.leader().getAsLong() != cNode, 2 * SECOND));
    long t3Leader = c.leader().getAsLong();
    assertTrue(t3Leader == a || t3Leader == b, "a holder of i leads: " + t3Leader);
    assertTrue(c.runUntil(() -> status(c, dNode).lastIndex() >= i, SECOND), "D got i");
    c.runFor(SECOND / 5);
    assertTrue(c.maxCommitted() < i, "i is on a majority but must not be committed: " + c.stats());

    // (d) C, D, E together: C wins with its later last term and overwrites i.
    Set<Long> ab = Set.of(a, b);
    c.network().dropIf(m -> false);
    c.partition(List.of(ab, cde));
    assertTrue(c.runUntil(() -> c.leader().isPresent() && c.leader().getAsLong() == cNode, 3 * SECOND),
        "C leads again: " + c.stats());
    c.heal();
    assertTrue(c.runUntil(() -> c.applied(a) >= i && c.applied(dNode) >= i, 2 * SECOND), c.stats());
    assertEquals(null, c.valueAt(a, "x"), "the t1 write at i was replaced everywhere");
  }

  private static Status status(SimCluster c, long id) {
    return c.node(id).raw().status();
  }
}
