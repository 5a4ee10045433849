package io.quorumkv.raft.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testkit.Verdict;
import java.util.List;
import java.util.Set;
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

  @Test
  void aMinorityPartitionCannotCommitAndTheMajorityCarriesOn() {
    SimCluster c = new SimCluster(SimConfig.defaults(5, 3));
    c.startClients();
    long leader = leaderOf(c);
    c.runFor(SECOND / 2);
    Set<Long> minority = Set.of(leader, leader % 5 + 1);
    Set<Long> majority = new java.util.TreeSet<>(c.nodeIds());
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
    assertTrue(c.promote(4), "promotion proposed");
    assertTrue(c.runUntil(() -> c.membership().voters().equals(Set.of(1L, 2L, 3L, 4L)), SECOND),
        "4 is a voter: " + c.membership());
    long leader = c.leader().getAsLong();
    assertTrue(c.remove(leader), "removal of the leader proposed");
    assertTrue(c.runUntil(() -> !c.membership().voters().contains(leader), SECOND), "leader removed");
    assertTrue(c.runUntil(() -> c.hasMemberLeader() && c.leader().getAsLong() != leader, 3 * SECOND),
        "a remaining voter leads: " + c.stats());
    long committed = c.maxCommitted();
    c.runFor(SECOND);
    assertTrue(c.maxCommitted() > committed + 10, "the shrunk group commits: " + c.stats());
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
}
