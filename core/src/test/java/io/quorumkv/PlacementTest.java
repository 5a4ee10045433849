package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Replica placement by the cluster itself (replication factor 3): a node added while clients write
 * receives replicas, a decommissioned node is emptied, a crash of the leader or of the target in
 * the middle of a move leaves every partition with its three voters, and a replica removed while it
 * was cut off learns it and goes away. Every test checks the recorded history for linearizability
 * and that no acknowledged write was lost; a sampler checks that no partition ever had fewer than
 * three voters.
 */
class PlacementTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final int FACTOR = 3;

  private static TestCluster cluster(int nodes, int partitions, long seed) {
    return TestCluster.builder().nodes(nodes).partitioner(HashPartitioner.of(partitions)).seed(seed)
        .requestTimeout(Duration.ofSeconds(5))
        .configure(b -> b.replicationFactor(FACTOR).logCompactionEntries(200))
        .build().start();
  }

  @Test
  void replicasMoveOntoAnAddedNodeWhileClientsWrite() throws Exception {
    try (TestCluster c = cluster(3, 4, 31)) {
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "add", 3)) {
        w.awaitProgress(30);
        long added = c.addNode();
        PlacementWorkload.awaitPlaced(c, 4, FACTOR, Set.of(1L, 2L, 3L, added), WAIT);
        w.awaitProgress(30);
        assertTrue(PlacementWorkload.load(c).get(added) >= 3, PlacementWorkload.load(c).toString());
        assertEquals(FACTOR, w.fewestVoters(), "a partition had fewer voters than the factor during a move");
      }
    }
  }

  @Test
  void aDecommissionedNodeIsEmptiedWhileClientsWrite() throws Exception {
    try (TestCluster c = cluster(4, 4, 32)) {
      c.awaitLeaders(WAIT);
      PlacementWorkload.awaitPlaced(c, 4, FACTOR, Set.of(1L, 2L, 3L, 4L), WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "dec", 3)) {
        w.awaitProgress(30);
        c.node(1).decommission(2);
        Map<Long, Integer> load = PlacementWorkload.load(c);
        assertEquals(0, load.get(2L), load.toString());
        PlacementWorkload.awaitPlaced(c, 4, FACTOR, Set.of(1L, 3L, 4L), WAIT);
        w.awaitProgress(30);
        MemoryCluster.await(WAIT, "node 2 to destroy its replicas", () -> c.node(2).status().partitions().isEmpty());
        // Back into service: replicas move onto it again, created anew over their tombstones.
        c.node(3).addNode(2, c.address(2));
        PlacementWorkload.awaitPlaced(c, 4, FACTOR, Set.of(1L, 2L, 3L, 4L), WAIT);
        assertTrue(PlacementWorkload.load(c).get(2L) >= 3, PlacementWorkload.load(c).toString());
        w.awaitProgress(30);
        assertEquals(FACTOR, w.fewestVoters(), "a partition had fewer voters than the factor during a move");
      }
      c.node(1).decommission(4);
      MemoryCluster.await(WAIT, "node 4 to destroy its replicas", () -> c.node(4).status().partitions().isEmpty());
      // An emptied node still routes: it forwards to the nodes that host the keys.
      c.node(4).put("via-4", "ok");
      assertEquals(java.util.Optional.of("ok"), c.node(4).get("via-4"));
    }
  }

  /** Waits until some partition's leader reports a learner on {@code target}; returns that leader. */
  private static long awaitLearnerOn(TestCluster c, long target) {
    long[] leader = new long[1];
    MemoryCluster.await(WAIT, "a learner on node " + target, () -> {
      for (PartitionStatus p : PlacementWorkload.byLeaders(c).values()) {
        if (p.learners().contains(target)) {
          leader[0] = p.leader();
          return true;
        }
      }
      return false;
    });
    return leader[0];
  }

  /** Slows the new node's catch-up, so that a move stays in its learner step for a while. */
  private static void slowLinksTo(TestCluster c, long target) {
    for (long id : c.members()) {
      if (id != target) {
        c.delay(id, target, Duration.ofMillis(40));
      }
    }
  }

  @Test
  void aLeaderCrashInTheMiddleOfAMoveLeavesEveryPartitionWithItsVoters() throws Exception {
    try (TestCluster c = cluster(3, 3, 33)) {
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "crashleader", 3)) {
        w.awaitProgress(50);
        long added = c.addNode();
        slowLinksTo(c, added);
        long leader = awaitLearnerOn(c, added);
        c.crash(leader);
        MemoryCluster.sleep(500);
        c.heal();
        c.restart(leader);
        PlacementWorkload.awaitPlaced(c, 3, FACTOR, Set.of(1L, 2L, 3L, added), WAIT);
        w.awaitProgress(30);
        assertEquals(FACTOR, w.fewestVoters(), "a partition had fewer voters than the factor during a move");
      }
    }
  }

  @Test
  void aTargetCrashInTheMiddleOfAMoveIsRolledBackThenResumed() throws Exception {
    try (TestCluster c = cluster(3, 3, 34)) {
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "crashtarget", 3)) {
        w.awaitProgress(50);
        long added = c.addNode();
        slowLinksTo(c, added);
        awaitLearnerOn(c, added);
        c.crash(added);
        MemoryCluster.await(WAIT, "the move to the crashed node to be rolled back", () -> {
          var parts = PlacementWorkload.byLeaders(c);
          return parts.size() == 3 && parts.values().stream()
              .allMatch(p -> p.learners().isEmpty() && p.voters().size() == FACTOR);
        });
        w.awaitProgress(30);
        c.heal();
        c.restart(added);
        PlacementWorkload.awaitPlaced(c, 3, FACTOR, Set.of(1L, 2L, 3L, added), WAIT);
        w.awaitProgress(30);
        assertEquals(FACTOR, w.fewestVoters(), "a partition had fewer voters than the factor during a move");
      }
    }
  }

  @Test
  void aReplicaRemovedWhileCutOffLearnsItAndGoesAway() throws Exception {
    // No leader balancing: its transfers move terms too, and this test counts terms.
    try (TestCluster c = TestCluster.builder().nodes(3).partitioner(HashPartitioner.of(2)).seed(35)
        .requestTimeout(Duration.ofSeconds(5)).configure(b -> b.balanceLeaders(false)).build().start()) {
      c.awaitLeaders(WAIT);
      long fourth = c.addNode();
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "cutoff", 2)) {
        w.awaitProgress(20);
        c.isolate(fourth);
        c.node(1).removeNode(fourth);
        w.awaitProgress(20);
        KvNode n4 = c.node(fourth);
        // Cut off, it never applied its removal: it still lists itself as a voter.
        assertTrue(n4.status().partitions().stream().allMatch(p -> p.voters().contains(fourth)), n4.status().toString());
        c.heal();
        MemoryCluster.await(WAIT, "the removed node to drop its replicas", () -> n4.status().partitions().isEmpty());
        assertFalse(n4.isReady());
        long terms = termSum(c);
        MemoryCluster.sleep(500); // many election timeouts: nobody campaigns
        assertEquals(terms, termSum(c), "terms moved: someone campaigned");
        assertTrue(n4.status().partitions().isEmpty(), n4.status().toString());
        w.awaitProgress(20);
      }
    }
  }

  private static long termSum(TestCluster c) {
    long sum = 0;
    for (long id = 1; id <= 3; id++) {
      sum += c.node(id).status().partitions().stream().mapToLong(PartitionStatus::term).sum();
    }
    return sum;
  }

  @Test
  void addThenDecommissionOverNettyAndRocksDb() throws Exception {
    try (TestCluster c = TestCluster.builder().nodes(3).storage(StorageEngineType.ROCKSDB)
        .partitioner(HashPartitioner.of(3)).requestTimeout(Duration.ofSeconds(5))
        .configure(b -> b.replicationFactor(FACTOR).logCompactionEntries(200).syncStallTimeout(Duration.ofSeconds(2)))
        .build().start()) {
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "netty", 2)) {
        w.awaitProgress(30);
        long added = c.addNode();
        PlacementWorkload.awaitPlaced(c, 3, FACTOR, Set.of(1L, 2L, 3L, added), WAIT);
        w.awaitProgress(20);
        c.node(added).decommission(1);
        PlacementWorkload.awaitPlaced(c, 3, FACTOR, Set.of(2L, 3L, added), WAIT);
        w.awaitProgress(20);
        assertEquals(FACTOR, w.fewestVoters(), "a partition had fewer voters than the factor during a move");
      }
    }
  }

  /**
   * The long variant (-Dquorumkv.long=true): several clusters, each through rounds of adding a
   * node, crashing a partition's leader in the middle of a move, and decommissioning the oldest
   * member, with the same checks.
   */
  @Test
  void longRoundsOfAddCrashAndDecommission() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("quorumkv.long"), "-Dquorumkv.long=true");
    for (long seed = 100; seed < 105; seed++) {
      try (TestCluster c = cluster(3, 4, seed)) {
        c.awaitLeaders(WAIT);
        try (PlacementWorkload w = new PlacementWorkload(c, "long" + seed, 3)) {
          Set<Long> nodes = new java.util.TreeSet<>(c.members());
          for (int round = 0; round < 3; round++) {
            w.awaitProgress(30);
            long added = c.addNode();
            nodes.add(added);
            long leader = awaitLearnerOn(c, added);
            c.crash(leader);
            MemoryCluster.sleep(300);
            c.restart(leader);
            PlacementWorkload.awaitPlaced(c, 4, FACTOR, nodes, WAIT);
            long oldest = nodes.iterator().next();
            c.node(added).decommission(oldest);
            nodes.remove(oldest);
            PlacementWorkload.awaitPlaced(c, 4, FACTOR, nodes, WAIT);
          }
          w.awaitProgress(30);
          assertEquals(FACTOR, w.fewestVoters(), "a partition had fewer voters than the factor during a move");
        }
      }
    }
  }

  @Test
  void decommissionNeedsAReplicationFactor() {
    try (TestCluster c = TestCluster.builder().nodes(3).build().start()) {
      c.awaitLeaders(WAIT);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.node(1).decommission(3));
      assertTrue(e.getMessage().contains("replication factor"), e.getMessage());
    }
  }
}
