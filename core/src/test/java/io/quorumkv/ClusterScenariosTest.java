package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Failures and reconfigurations while serving, on the in-memory cluster. */
class ClusterScenariosTest {

  private static final Duration WAIT = Duration.ofSeconds(15);


  @Test
  void killTheLeaderAndKeepGoing() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 3).start()) {
      c.awaitLeaders(WAIT);
      long leader = c.node(1).status().partitions().get(0).leader();
      long survivor = leader == 1 ? 2 : 1;
      try (BackgroundWriter w = new BackgroundWriter(c.node(survivor), "k")) {
        w.awaitAcked(50);
        c.crash(leader);
        int before = w.acked.size();
        w.awaitAcked(before + 50);
      }
      c.awaitLeaders(WAIT);
      assertTrue(c.node(survivor).status().partitions().get(0).leader() != leader);
    }
  }

  @Test
  void aRestartedNodeCatchesUpThroughASnapshot() throws Exception {
    catchUpThroughASnapshot(b -> b.logCompactionEntries(20));
  }

  /** The same with snapshots due by the log's growth in bytes alone (the production default). */
  @Test
  void aRestartedNodeCatchesUpThroughASnapshotDueByLogBytes() throws Exception {
    catchUpThroughASnapshot(b -> b.logCompactionEntries(1_000_000).logCompactionBytes(2_048));
  }

  private static void catchUpThroughASnapshot(java.util.function.Consumer<KvNode.Builder> configure)
      throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 4, configure).start()) {
      c.awaitLeaders(WAIT);
      c.node(1).put("before", "crash");
      c.crash(3);
      Map<String, String> acked = new TreeMap<>();
      for (int i = 0; i < 150; i++) {
        c.node(1).put("k" + i, "v" + i);
        acked.put("k" + i, "v" + i);
      }
      // The logs were compacted (node 3 gets a snapshot below), but no snapshot is taken before a
      // follower needs one.
      assertEquals(0.0, snapshotsTaken(c));
      KvNode n3 = c.restart(3);
      // Caught up: every write is visible on node 3 without asking anyone (a stale read).
      MemoryCluster.await(WAIT, "node 3 to catch up", () -> acked.entrySet().stream()
          .allMatch(e -> n3.get(e.getKey(), ReadConsistency.STALE).equals(Optional.of(e.getValue()))));
      assertEquals(Optional.of("crash"), n3.get("before", ReadConsistency.STALE));
      assertTrue(c.node(1).meterRegistry().find("quorumkv.commits").counter().count() > 0);
      // through a snapshot: the leaders had compacted their logs past what node 3 had
      assertTrue(n3.meterRegistry().find("quorumkv.snapshot.bytes.received").counter().count() > 0);
      assertTrue(snapshotsTaken(c) > 0, "taken when node 3 needed them");
    }
  }

  /**
   * The commit index is volatile: a node writes its hard state when the term or the vote changes,
   * not with every append (NodeRuntime#persist). Crashed together, the nodes restart with a durable
   * commit index far behind their logs and lose nothing acknowledged.
   */
  @Test
  void theCommitIndexIsNotWrittenWithAppendsAndAWholeClusterCrashLosesNothing() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 7).start()) {
      c.awaitLeaders(WAIT);
      Map<String, String> acked = new TreeMap<>();
      for (int i = 0; i < 60; i++) {
        c.node(1 + i % 3).put("k" + i, "v" + i);
        acked.put("k" + i, "v" + i);
      }
      long g = c.node(1).status().partitions().get(0).partitionId();
      // every node has applied the 60 writes (followers apply after the leader acknowledged them)
      MemoryCluster.await(WAIT, "every node to apply the writes", () -> c.nodes().stream()
          .allMatch(n -> n.status().partitions().get(0).appliedIndex() >= 60));
      for (KvNode n : c.nodes()) {
        long applied = n.status().partitions().get(0).appliedIndex();
        long durableCommit = n.runtime().durableHardState(g).commit();
        assertTrue(durableCommit + 50 < applied,
            "node " + n.nodeId() + ": commit index " + durableCommit + " written with appends (applied " + applied + ")");
      }
      for (long id = 1; id <= 3; id++) {
        c.crash(id);
      }
      for (long id = 1; id <= 3; id++) {
        c.restart(id);
      }
      c.awaitLeaders(WAIT);
      for (Map.Entry<String, String> e : acked.entrySet()) {
        assertEquals(Optional.of(e.getValue()), c.node(2).get(e.getKey(), ReadConsistency.LINEARIZABLE));
      }
    }
  }

  private static double snapshotsTaken(MemoryCluster c) {
    return c.nodes().stream()
        .mapToDouble(n -> n.meterRegistry().find("quorumkv.snapshots.taken").counter().count()).sum();
  }

  @Test
  void splitARangeWhileWritingLosesAndDuplicatesNothing() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 5).start()) {
      c.awaitLeaders(WAIT);
      long child;
      try (BackgroundWriter a = new BackgroundWriter(c.node(1), "a"); BackgroundWriter z = new BackgroundWriter(c.node(2), "z")) {
        a.awaitAcked(30);
        z.awaitAcked(30);
        child = c.node(3).split("m".getBytes());
        a.awaitAcked(a.acked.size() + 30);
        z.awaitAcked(z.acked.size() + 30);
        a.close();
        z.close();
        Map<String, String> all = new TreeMap<>(a.acked);
        all.putAll(z.acked);
        // Every acknowledged key once, in order, across both partitions.
        List<KeyValue> scanned = c.node(1).scan("", "", 1_000_000);
        List<String> keys = scanned.stream().map(KeyValue::keyString).toList();
        assertEquals(keys.stream().distinct().sorted().toList(), keys);
        assertTrue(keys.containsAll(all.keySet()));
        assertEquals(a.acked.size() + z.acked.size() + a.unknown.get() + z.unknown.get() >= keys.size(), true);
        BackgroundWriter.assertAllPresent(c.node(2), all);
      }
      c.awaitLeaders(WAIT);
      for (KvNode n : c.nodes()) {
        Map<Long, String> spans = new TreeMap<>();
        n.status().partitions().forEach(p -> spans.put(p.partitionId(), p.keys()));
        assertEquals("[m, +inf)", spans.get(child), n.toString());
        assertEquals("[, m)", spans.get(1L), n.toString());
      }
      assertThrows(IllegalArgumentException.class, () -> c.node(1).split("m".getBytes()));
    }
  }

  /**
   * Nodes 1 and 2 of five miss a split (cut off) and catch the parent up later through a snapshot
   * taken after it, so they never apply it; of the three that created the new partition from the
   * split, two are then stopped. The new partition needs three votes of five: node 3's, and those
   * of two nodes that do not host it. They create its empty replica when its candidate asks for
   * their vote (NodeRuntime#maybeCreateUnknown), vote, and get it by snapshot from the leader
   * they elected. (They used to create it only when contacted by its leader, which it never had.)
   */
  @Test
  void aSplitChildWhoseOtherReplicasAreGoneGetsTheVotesOfNodesThatSkippedTheSplit() throws Exception {
    try (MemoryCluster c = new MemoryCluster(5, RangePartitioner.single(), 11, b -> b.logCompactionEntries(8)).start()) {
      c.awaitLeaders(WAIT);
      c.node(3).put("a", "1");
      c.node(3).put("z", "1");
      Set<Long> majority = Set.of(3L, 4L, 5L);
      Fault cut = new Fault.Partition(List.of(Set.of(1L, 2L), majority));
      for (long id = 1; id <= 5; id++) {
        c.node(id).injectFault(id, cut);
      }
      MemoryCluster.await(WAIT, "a leader of partition 1 among nodes 3-5",
          () -> majority.contains(MemoryCluster.partition(c.node(3), 1).leader()));
      long child = c.node(3).split("m".getBytes());
      c.node(3).put("z", "2");
      for (int i = 0; i < 30; i++) {
        c.node(3).put("a" + i, "v" + i); // partition 1's log grows past the split and is compacted
      }
      MemoryCluster.await(WAIT, "node 3 to compact partition 1 past the split",
          () -> MemoryCluster.partition(c.node(3), 1).appliedIndex() > 30);
      c.stop(4);
      c.stop(5);
      for (long id = 1; id <= 3; id++) {
        c.node(id).injectFault(id, new Fault.Heal());
      }
      MemoryCluster.await(WAIT, "nodes 1 and 2 to host partition " + child + " and agree on its leader", () -> {
        Set<Long> leaders = new java.util.HashSet<>();
        for (long id = 1; id <= 3; id++) {
          Optional<PartitionStatus> p = c.node(id).status().partitions().stream()
              .filter(x -> x.partitionId() == child).findFirst();
          if (p.isEmpty() || p.get().leader() == 0 || !"[m, +inf)".equals(p.get().keys())) {
            return false;
          }
          leaders.add(p.get().leader());
        }
        return leaders.size() == 1;
      });
      // Partition 1 reaches node 1 by a snapshot of its own, usually before the child's election,
      // but not always on a busy machine: wait for it rather than race it.
      MemoryCluster.await(WAIT, "node 1 to catch up partition 1 past the split",
          () -> "[, m)".equals(MemoryCluster.partition(c.node(1), 1).keys()));
      assertTrue(c.node(1).meterRegistry().find("quorumkv.snapshot.bytes.received").counter().count() > 0,
          "node 1 caught up through snapshots");
      c.node(1).put("z", "3");
      assertEquals(Optional.of("3"), c.node(2).get("z"));
      assertEquals(Optional.of("v29"), c.node(1).get("a29"));
    }
  }

  @Test
  void addALearnerPromoteItThenRemoveANodeWhileWriting() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 6).start()) {
      c.awaitLeaders(WAIT);
      try (BackgroundWriter w = new BackgroundWriter(c.node(1), "k")) {
        w.awaitAcked(30);
        KvNode n4 = c.startNode(4, true);
        c.node(2).addNode(4, c.address(4));
        // Done at every leader when addNode returns; the other replicas apply it right after.
        MemoryCluster.await(WAIT, "node 1 to see node 4 as a voter", () -> c.node(1).status().partitions()
            .stream().allMatch(p -> p.voters().contains(4L)));
        w.awaitAcked(w.acked.size() + 30);
        c.node(1).removeNode(3);
        MemoryCluster.await(WAIT, "node 1 to see node 3 removed", () -> c.node(1).status().partitions()
            .stream().allMatch(p -> p.voters().equals(Set.of(1L, 2L, 4L))));
        c.stop(3);
        w.awaitAcked(w.acked.size() + 30);
        w.close();
        MemoryCluster.await(WAIT, "node 4 to hold every write", () -> w.acked.entrySet().stream()
            .allMatch(e -> n4.get(e.getKey(), ReadConsistency.STALE).equals(Optional.of(e.getValue()))));
        BackgroundWriter.assertAllPresent(n4, w.acked);
        assertEquals(c.address(4), c.node(1).status().members().get(4L));
      }
    }
  }

  @Test
  void rejectPolicyNamesTheLeader() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 7,
        b -> b.notLeaderPolicy(NotLeaderPolicy.REJECT).balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long leader = c.node(1).status().partitions().get(0).leader();
      KvNode follower = c.node(leader == 1 ? 2 : 1);
      NotLeaderException e = assertThrows(NotLeaderException.class, () -> follower.put("k", "v"));
      assertEquals(leader, e.leaderHint().orElseThrow());
      assertEquals(Optional.of(c.address(leader)), e.leaderAddress());
      assertTrue(!e.outcomeUnknown());
      c.node(leader).put("k", "v");
      // A follower read is served by the follower itself even under REJECT.
      assertEquals(Optional.of("v"), follower.get("k", ReadConsistency.FOLLOWER));
      // The remote client follows the hint.
      try (KvClient client = c.client(follower.nodeId())) {
        client.put("k2", "v2");
        assertEquals(Optional.of("v2"), client.get("k2"));
      }
    }
  }

  @Test
  void leadersSpreadOverTheNodes() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 8).start()) {
      c.awaitLeaders(WAIT);
      // Eventually every node leads one of the three partitions.
      MemoryCluster.await(WAIT, "leaders to spread", () -> {
        Set<Long> leaders = new java.util.HashSet<>();
        c.node(1).status().partitions().forEach(p -> leaders.add(p.leader()));
        return leaders.size() == 3 && !leaders.contains(0L);
      });
    }
  }

  @Test
  void transferLeaderWaitsUntilTheTargetLeads() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 14, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long leader = c.node(1).status().partitions().get(0).leader();
      long to = leader == 3 ? 2 : 3;
      c.node(1).transferLeader(1, to);
      assertEquals(to, c.node(to).status().partitions().get(0).leader());
      assertThrows(IllegalArgumentException.class, () -> c.node(1).transferLeader(1, 9));
    }
  }

  @Test
  void remoteClientSurvivesANodeBeingDown() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 9).start();
        KvClient client = c.client(1, 2, 3)) {
      c.awaitLeaders(WAIT);
      client.put("a", "1");
      c.crash(1);
      for (int i = 0; i < 20; i++) {
        client.put("b" + i, "x");
      }
      assertEquals(Optional.of("1"), client.get("a", ReadConsistency.LINEARIZABLE));
      assertTrue(client.compareAndSet("a", "1", "2"));
      assertEquals(20, client.scan("b", "c", 100).size());
      ClusterStatus s = client.status();
      assertEquals(2, s.partitions().size());
    }
  }

  @Test
  void limitsClosedAndUnstartedNodesFailClearly() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 10, b -> b.maxKeySize(8).maxValueSize(16)).start()) {
      c.awaitLeaders(WAIT);
      KvNode n = c.node(1);
      KeyTooLargeException k = assertThrows(KeyTooLargeException.class, () -> n.put("123456789", "v"));
      assertEquals(9, k.size());
      assertEquals(8, k.max());
      assertThrows(ValueTooLargeException.class, () -> n.put("k", "12345678901234567"));
      assertThrows(IllegalArgumentException.class, () -> n.put("", "v"));
      List<KvNode> nodes = new ArrayList<>(c.nodes());
      c.stop(1);
      NodeClosedException closed = assertThrows(NodeClosedException.class, () -> nodes.get(0).put("k", "v"));
      assertTrue(closed.getMessage().contains("closed"));
    }
    KvNode unstarted = KvNode.builder().nodeId(1).advertisedAddress("127.0.0.1:1")
        .storageEngine(StorageEngineType.MEMORY).build();
    assertThrows(NodeClosedException.class, () -> unstarted.get("k"));
  }

  @Test
  void aClusterThatLostItsQuorumTimesOutWithinTheDeadline() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 11).start()) {
      c.awaitLeaders(WAIT);
      c.crash(2);
      c.crash(3);
      long start = System.nanoTime();
      KvException e = assertThrows(KvException.class,
          () -> c.node(1).withTimeout(Duration.ofMillis(500)).put("k", "v"));
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertTrue(ms < 1500, "took " + ms + " ms");
      assertTrue(e instanceof KvTimeoutException || e instanceof ClusterUnavailableException, e.toString());
      assertTrue(e.getMessage().startsWith("outcome unknown") || e instanceof ClusterUnavailableException);
    }
  }

  @Test
  void replicasHashTheSameStateAtTheSameIndex() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 12).start()) {
      c.awaitLeaders(WAIT);
      for (int i = 0; i < 30; i++) {
        c.node(1).put("k" + i, "v" + i);
      }
      for (KvNode n : c.nodes()) {
        n.runtime().checkReplicaHashes();
      }
      MemoryCluster.await(WAIT, "every replica to hash every partition", () -> c.nodes().stream()
          .allMatch(n -> n.runtime().replicaHashes().values().stream().allMatch(java.util.Optional::isPresent)));
      MemoryCluster.await(WAIT, "replicas to agree", () -> {
        Map<Long, Object> first = new TreeMap<>(c.node(1).runtime().replicaHashes());
        return c.nodes().stream().allMatch(n -> new TreeMap<>(n.runtime().replicaHashes()).equals(first));
      });
      for (KvNode n : c.nodes()) {
        assertEquals(0, n.runtime().replicaHashMismatches());
      }
    }
  }

  @Test
  void aWriteRetriedThroughAnotherNodeAfterALeaderChangeAppliesOnce() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 13, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      KvRequest.Write cas = new KvRequest.Write(42, 1, 1,
          new WriteOp.Cas("k".getBytes(), Optional.empty(), "first".getBytes()));
      long deadline = System.nanoTime() + WAIT.toNanos();
      KvResponse r1 = c.node(1).runtime().execute(cas, deadline).join();
      assertEquals(new KvResponse.Written(true), r1);
      c.node(1).put("k", "second");
      // Move the leadership, then deliver the same (client, sequence) again through another node,
      // as a client whose answer was lost would.
      long leader = c.node(1).status().partitions().get(0).leader();
      long other = leader == 3 ? 2 : 3;
      c.node(1).transferLeader(1, other);
      // Right after the transfer the entry node may still know the old leader, or know none yet
      // (the transferee's election is under way): retry NOT_LEADER and NO_LEADER answers until the
      // deadline, as a client does.
      KvResponse r2 = c.node(leader == 1 ? 2 : 1).runtime().execute(cas, deadline).join();
      while (r2 instanceof KvResponse.Failure f
          && (f.code() == KvResponse.Code.NOT_LEADER || f.code() == KvResponse.Code.NO_LEADER)
          && System.nanoTime() < deadline) {
        MemoryCluster.sleep(10);
        r2 = c.node(leader == 1 ? 2 : 1).runtime().execute(cas, deadline).join();
      }
      assertEquals(new KvResponse.Written(true), r2, "the retry returns the first result");
      assertEquals(Optional.of("second"), c.node(2).get("k"), "and does not apply again");
    }
  }
}
