package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Merging a range partition back into its left neighbour while clients read and write keys of
 * both: the recorded history stays linearizable, no acknowledged write is lost, every key is held
 * once, and the retired partition's replicas go away.
 */
class MergeTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void mergeTwoRangesWhileClientsWrite() throws Exception {
    // Register keys k0..k5 fall on both sides of "k3"; the writer's keys ("m...") on the right.
    try (TestCluster c = TestCluster.builder().nodes(3).partitioner(RangePartitioner.of("k3")).seed(41)
        .requestTimeout(Duration.ofSeconds(5)).build().start()) {
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "m", 3)) {
        w.awaitProgress(50);
        assertEquals(1L, c.node(2).merge("k3".getBytes()));
        w.awaitProgress(50);
      }
      for (KvNode n : c.nodes()) {
        MemoryCluster.await(WAIT, n + " to hold only the merged partition", () -> n.status().partitions().size() == 1);
        PartitionStatus p = n.status().partitions().get(0);
        assertEquals(1L, p.partitionId());
        assertEquals("[, +inf)", p.keys());
      }
      List<String> keys = c.node(1).scan("", "", 1_000_000).stream().map(KeyValue::keyString).toList();
      assertEquals(keys.stream().distinct().sorted().toList(), keys);
      assertThrows(IllegalArgumentException.class, () -> c.node(1).merge("k3".getBytes()));
      c.node(3).put("after", "merge");
      assertEquals(java.util.Optional.of("merge"), c.node(1).get("after"));
      assertTrue(c.node(1).split("k3".getBytes()) != 0, "the merged range splits again");
    }
  }

  /**
   * Found by {@code PlacementScheduleProperties} ({@code [merge m, merge m]}): a node that hosted
   * the right-hand partition but not the left one, right after the merge dropped its replica,
   * knew no partition holding the key until its next directory poll, and refused a second merge
   * as if the cluster hashed its keys (IllegalArgumentException, not retried). Retried, it then
   * timed out: by its peers' reports from before the freeze, that node still routed the key to the
   * retired partition (hosted here, frozen), whose replicas went away under the call.
   */
  @Test
  void aMergeRightAfterAMergeIsNotRefusedByANodeThatDroppedTheRetiredReplica() throws Exception {
    try (TestCluster c = threeRangesOnFourNodes(43)) {
      Map<Long, PartitionStatus> parts = PlacementWorkload.byLeaders(c);
      long right = rangeStarting(parts, "k2").partitionId();
      long middle = rangeStarting(parts, "k1").partitionId();
      // A node with a replica of [k2, +inf) and none of [k1, k2): it routes "m" only through its own replica.
      long via = c.members().stream().filter(id -> parts.get(right).voters().contains(id)
          && !parts.get(middle).voters().contains(id)).findFirst().orElseThrow();
      assertEquals(middle, c.node(via).merge("m".getBytes()));
      assertEquals(1L, c.node(via).merge("m".getBytes()), "the merged range merges on into the first");
    }
  }

  /**
   * Four nodes, replication factor 3, ranges {@code [, k1)}, {@code [k1, k2)} and
   * {@code [k2, +inf)}, started and placed (three voters a partition, loads even).
   */
  static TestCluster threeRangesOnFourNodes(long seed) {
    TestCluster c = TestCluster.builder().nodes(4).partitioner(RangePartitioner.of("k1", "k2")).seed(seed)
        .requestTimeout(Duration.ofSeconds(5)).configure(b -> b.replicationFactor(3)).build().start();
    c.awaitLeaders(WAIT);
    PlacementWorkload.awaitPlaced(c, 3, 3, c.members(), WAIT);
    return c;
  }

  /** The partition whose range starts with {@code prefix}, in {@code parts}. */
  static PartitionStatus rangeStarting(Map<Long, PartitionStatus> parts, String prefix) {
    return parts.values().stream().filter(p -> p.keys().startsWith("[" + prefix)).findFirst().orElseThrow();
  }

  @Test
  void hashPartitionsAreNotMerged() {
    try (TestCluster c = TestCluster.builder().nodes(3).partitioner(HashPartitioner.of(2)).build().start()) {
      c.awaitLeaders(WAIT);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.node(1).merge("k".getBytes()));
      assertTrue(e.getMessage().contains("hash partitions"), e.getMessage());
    }
  }

  @Test
  void smallAdjacentRangesAreMergedByTheClusterWhileClientsWrite() throws Exception {
    try (TestCluster c = TestCluster.builder().nodes(3).partitioner(RangePartitioner.of("d", "k3", "p")).seed(42)
        .requestTimeout(Duration.ofSeconds(5)).configure(b -> b.mergeBelowKeys(5_000)).build().start()) {
      c.awaitLeaders(WAIT);
      try (PlacementWorkload w = new PlacementWorkload(c, "m", 3)) {
        w.awaitProgress(30);
        for (KvNode n : c.nodes()) {
          MemoryCluster.await(WAIT, n + " to hold one partition, all ranges merged",
              () -> n.status().partitions().size() == 1 && n.status().partitions().get(0).keys().equals("[, +inf)"));
        }
        w.awaitProgress(30);
      }
      List<String> keys = c.node(1).scan("", "", 1_000_000).stream().map(KeyValue::keyString).toList();
      assertEquals(keys.stream().distinct().sorted().toList(), keys);
    }
  }
}
