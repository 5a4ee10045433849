package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Merges decided from a view older than an earlier merge: ranges {@code [, k1)} (partition 1),
 * {@code [k1, k2)} (partition 2) and {@code [k2, +inf)} (partition 3); partition 2 is merged into
 * partition 1 first, then a second merge names the retired partition 2, as a node whose last
 * directory poll predates the first merge does (its peers' reports of partition 2, and of
 * partition 1 before it grew). Found by {@code PlacementScheduleProperties} ({@code [merge k1,
 * crash leader, merge k2, ...]}): the right range froze for a merge into partition 2, which has no
 * replica left, the call timed out and every resumed merge retried partition 2 until its deadline,
 * so {@code k2}'s range stayed frozen (unavailable) for good.
 */
class MergeStaleViewTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final KeySpan.Range RETIRED_SPAN = new KeySpan.Range(bytes("k1"), bytes("k2"));

  /** The state such a call leaves: the right range frozen into the retired partition, nobody calling. */
  @Test
  void aRangeFrozenForAMergeIntoAPartitionMergedAwayIsMergedIntoItsAbsorber() throws Exception {
    try (TestCluster c = threeRanges()) {
      Map<String, String> acked = writeEveryRangeThenMergeK1(c);
      NodeRuntime leader = leaderOf(c, 3);
      assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
          leader.propose(leader.replicas().get(3L), new Command.Freeze(2)).get(10, TimeUnit.SECONDS));
      MergeLaggingReplicaTest.awaitMergedEverywhere(c);
      c.node(2).put("m-after", "x");
      acked.put("m-after", "x");
      MergeLaggingReplicaTest.assertEveryWriteReadable(c, acked);
    }
  }

  /** The call itself, as the node with the stale view sends it: it merges into the absorber. */
  @Test
  void aMergeCallNamingAPartitionMergedAwayMergesIntoItsAbsorber() throws Exception {
    try (TestCluster c = threeRanges()) {
      Map<String, String> acked = writeEveryRangeThenMergeK1(c);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      assertEquals(new KvResponse.AdminDone(1), c.node(2).runtime().commands()
          .groupCallRetrying(3, new KvRequest.GroupCommand.MergeInto(2), deadline).get(20, TimeUnit.SECONDS));
      MergeLaggingReplicaTest.awaitMergedEverywhere(c);
      MergeLaggingReplicaTest.assertEveryWriteReadable(c, acked);
    }
  }

  /**
   * A node that hosts no replica of partition 1 and routes {@code k1} by peers' reports from before
   * the first merge (while its last poll already named partition 2 absorbed): a second merge of
   * {@code k1} through it was sent to the retired partition 2 and retried it until its deadline.
   * It must skip partition 2 and, once its routes are fresh, find that {@code k1}'s range (now
   * partition 1's) has no left-hand neighbour.
   */
  @Test
  void aMergeIsNotRoutedToAPartitionKnownMergedAway() throws Exception {
    try (TestCluster c = MergeTest.threeRangesOnFourNodes(53)) {
      Map<Long, PartitionStatus> parts = PlacementWorkload.byLeaders(c);
      long via = c.members().stream().filter(id -> !parts.get(1L).voters().contains(id)).findFirst().orElseThrow();
      long other = c.members().stream().filter(id -> id != via).findFirst().orElseThrow();
      assertEquals(1L, c.node(other).merge(bytes("k1")));
      awaitRetiredDropped(c);
      TestCluster.await(WAIT, "node " + via + " to route k1a by a poll after the merge",
          () -> c.node(via).runtime().routing().route(bytes("k1a")).orElse(0) == 1);
      // The peers' reports as they were before the merge (a poll that predates it).
      c.node(via).runtime().routing().replaceRemote(Map.of(1L, new KeySpan.Range(new byte[0], bytes("k1")),
          2L, RETIRED_SPAN, 3L, new KeySpan.Range(bytes("k2"), new byte[0])));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.node(via).merge(bytes("k1")));
      assertEquals(true, e.getMessage().contains("no left-hand neighbour"), e.getMessage());
    }
  }

  private static TestCluster threeRanges() {
    TestCluster c = TestCluster.builder().nodes(3).partitioner(RangePartitioner.of("k1", "k2")).seed(47)
        .requestTimeout(Duration.ofSeconds(5)).build().start();
    c.awaitLeaders(WAIT);
    return c;
  }

  /** Writes a key in every range, then merges partition 2 into partition 1 and waits until it is gone. */
  private static Map<String, String> writeEveryRangeThenMergeK1(TestCluster c) {
    Map<String, String> acked = new LinkedHashMap<>();
    for (String key : List.of("a", "k1a", "k2", "m")) {
      c.node(1).put(key, "v-" + key);
      acked.put(key, "v-" + key);
    }
    assertEquals(1L, c.node(1).merge(bytes("k1")));
    awaitRetiredDropped(c);
    return acked;
  }

  private static void awaitRetiredDropped(TestCluster c) {
    for (KvNode n : c.nodes()) {
      TestCluster.await(WAIT, () -> n + " to drop partition 2; it holds " + n.status().partitions(),
          () -> n.status().partitions().stream().noneMatch(p -> p.partitionId() == 2));
    }
  }

  private static NodeRuntime leaderOf(TestCluster c, long partition) {
    TestCluster.await(WAIT, "a leader of partition " + partition, () -> c.leaderOf(partition).isPresent());
    return c.node(c.leaderOf(partition).orElseThrow()).runtime();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }
}
