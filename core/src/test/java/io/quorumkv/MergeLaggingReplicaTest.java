package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * A range merge while one replica of the partition being merged away is cut off (it cannot learn
 * the freeze): no node keeps a replica of the retired partition for good, and every acknowledged
 * write is read back from the merged one. Ranges {@code [, k3)} (partition 1) and
 * {@code [k3, +inf)} (partition 2); node 3 is the one cut off.
 */
class MergeLaggingReplicaTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long LEFT = 1;
  private static final long RIGHT = 2;

  @Test
  void theMergeWaitsForEveryReplicaToApplyTheFreezeAndCompletesOnceTheLaggingOneIsBack() throws Exception {
    try (TestCluster c = cluster(b -> {})) {
      Map<String, String> acked = writeBothSides(c, "before");
      isolateNode3(c);
      // The freeze commits on nodes 1 and 2, but node 3 never applies it while cut off: the
      // absorption must not happen meanwhile, so the call times out (retryably).
      assertThrows(KvException.class, () -> c.node(1).merge("k3".getBytes()));
      for (long id : Set.of(1L, 2L)) {
        assertEquals("[, k3)", span(c.node(id), LEFT), "node " + id + "'s partition 1 absorbed partition 2 "
            + "while node 3 had not applied the freeze");
      }
      c.node(1).put("a-during", "x"); // the left partition keeps serving
      acked.put("a-during", "x");
      c.heal();
      // Nobody calls merge again: the frozen partition's leader drives its merge on.
      awaitMergedEverywhere(c);
      assertEveryWriteReadable(c, acked);
    }
  }

  @Test
  void aReplicaThatMissedTheFreezeIsDroppedOnceTheAbsorbingPartitionRecordsTheMerge() throws Exception {
    try (TestCluster c = cluster(b -> {})) {
      orphanTheOldWayThenHeal(c, 0);
    }
  }

  @Test
  void theRecordOfTheMergeReachesTheOrphansNodeInASnapshotToo() throws Exception {
    try (TestCluster c = cluster(b -> b.logCompactionEntries(5))) {
      orphanTheOldWayThenHeal(c, 30);
      double received = c.node(3).meterRegistry().get("quorumkv.snapshot.bytes.received").counter().count();
      assertTrue(received > 0, "node 3's partition 1 caught up from a snapshot");
    }
  }

  /**
   * The merge as it was before every member had to apply the freeze: frozen and absorbed by nodes
   * 1 and 2 alone while node 3 is cut off, so nodes 1 and 2 drop their replicas of partition 2 and
   * node 3's, which never saw the freeze, is left without a peer. Then {@code writesAfter} more
   * writes to partition 1, and the network heals: node 3's partition 1 learns the absorption, and
   * that is what must drop the orphan.
   */
  private static void orphanTheOldWayThenHeal(TestCluster c, int writesAfter) throws Exception {
    Map<String, String> acked = writeBothSides(c, "before");
    isolateNode3(c);
    NodeRuntime leader = leaderRuntime(c, RIGHT);
    PartitionStateMachine.Outcome.Frozen frozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        leader.propose(leader.replicas().get(RIGHT), new Command.Freeze(LEFT)).get(10, TimeUnit.SECONDS));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    assertInstanceOf(KvResponse.AdminDone.class, leader.commands().groupCallRetrying(LEFT,
        new KvRequest.GroupCommand.Absorb(RIGHT, frozen.seed()), deadline).get(20, TimeUnit.SECONDS));
    for (long id : Set.of(1L, 2L)) {
      KvNode n = c.node(id);
      TestCluster.await(WAIT, n + " to drop its replica of partition 2", () -> n.status().partitions().size() == 1);
    }
    for (int i = 0; i < writesAfter; i++) {
      c.node(1 + i % 2).put("b" + i, "after" + i);
      acked.put("b" + i, "after" + i);
    }
    c.heal();
    awaitMergedEverywhere(c);
    // the applier records the tombstone after the replica left the status: wait for it, bounded
    TestCluster.await(WAIT, "the dropped replica to leave a tombstone", () -> c.node(3).runtime().tombstone(RIGHT) != null);
    assertNotNull(c.node(3).runtime().tombstone(RIGHT), "the dropped replica leaves a tombstone");
    assertEveryWriteReadable(c, acked);
  }

  private static TestCluster cluster(Consumer<KvNode.Builder> configure) {
    TestCluster c = TestCluster.builder().nodes(3).partitioner(RangePartitioner.of("k3")).seed(43)
        .requestTimeout(Duration.ofSeconds(5)).configure(configure).build().start();
    c.awaitLeaders(WAIT);
    return c;
  }

  /** Keys on both sides of "k3", each written once and acknowledged. */
  private static Map<String, String> writeBothSides(TestCluster c, String value) {
    Map<String, String> acked = new LinkedHashMap<>();
    for (int i = 0; i < 10; i++) {
      for (String prefix : new String[] {"a", "m"}) {
        String key = prefix + i;
        c.node(1 + i % 3).put(key, value + i);
        acked.put(key, value + i);
      }
    }
    return acked;
  }

  /** Cuts node 3 off and waits until nodes 1 and 2 lead both partitions among themselves. */
  private static void isolateNode3(TestCluster c) {
    c.isolate(3);
    TestCluster.await(WAIT, "nodes 1 and 2 to lead both partitions without node 3",
        () -> leaderOrNull(c, LEFT) != null && leaderOrNull(c, RIGHT) != null);
  }

  private static NodeRuntime leaderRuntime(TestCluster c, long partition) {
    NodeRuntime rt = leaderOrNull(c, partition);
    assertNotNull(rt, "a leader of partition " + partition + " on node 1 or 2");
    return rt;
  }

  private static NodeRuntime leaderOrNull(TestCluster c, long partition) {
    for (long id : Set.of(1L, 2L)) {
      NodeRuntime rt = c.node(id).runtime();
      Replica r = rt.replicas().get(partition);
      if (r != null && r.isLeader()) {
        return rt;
      }
    }
    return null;
  }

  private static String span(KvNode n, long partition) {
    return n.status().partitions().stream().filter(p -> p.partitionId() == partition).findFirst()
        .map(PartitionStatus::keys).orElse("none");
  }

  /** Waits until every node holds partition 1 alone, over every key. */
  static void awaitMergedEverywhere(TestCluster c) {
    for (KvNode n : c.nodes()) {
      TestCluster.await(WAIT, () -> n + " to hold only partition 1 over every key; it holds "
          + n.status().partitions(), () -> n.status().partitions().size() == 1
          && n.status().partitions().get(0).partitionId() == LEFT
          && n.status().partitions().get(0).keys().equals("[, +inf)"));
    }
  }

  /** Reads every acknowledged write back on every node. */
  static void assertEveryWriteReadable(TestCluster c, Map<String, String> acked) {
    for (KvNode n : c.nodes()) {
      for (Map.Entry<String, String> e : acked.entrySet()) {
        assertEquals(Optional.of(e.getValue()), n.get(e.getKey()), n + " reads " + e.getKey());
      }
    }
  }
}
