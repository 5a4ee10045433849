package io.quorumkv;

import static io.quorumkv.MemoryCluster.partition;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A node's log of only its own leader entries waits for other leaders' appends to share its sync
 * ({@code NodeRuntime.syncHoldNanos}), and only while such appends keep arriving: a node that
 * leads the only partition being written never waits. No assertion depends on timing beyond the
 * hold itself, which is long here (50 ms) so that concurrent writers always meet it.
 */
class SyncHoldTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long HOLD = TimeUnit.MILLISECONDS.toNanos(50);

  @Test
  void aLeaderWaitsForOtherLeadersAppendsOnlyWhileTheyArrive() throws Exception {
    HashPartitioner partitioner = HashPartitioner.of(2);
    try (MemoryCluster c = new MemoryCluster(3, partitioner, 31,
        b -> b.electionTicks(30).overrides(o -> o.syncHoldNanos = HOLD)).start()) {
      c.awaitLeaders(WAIT);
      // Partition 1 led by node 1, partition 2 by node 2 (pinned: balancing leaves them).
      c.node(3).transferLeader(1, 1);
      c.node(3).transferLeader(2, 2);
      MemoryCluster.await(WAIT, "the leaders in place",
          () -> partition(c.node(3), 1).leader() == 1 && partition(c.node(3), 2).leader() == 2);
      List<String> keys1 = keysOf(partitioner, 1, 40);
      List<String> keys2 = keysOf(partitioner, 2, 40);

      // Only partition 1 written: node 1 has no other leader's appends to wait for.
      long[] before = c.node(1).runtime().syncHolds();
      for (String k : keys1) {
        c.node(1).put(k, "a");
      }
      long[] after = c.node(1).runtime().syncHolds();
      assertEquals(before[0] + before[1], after[0] + after[1],
          "node 1 held a sync while no other leader's appends came: " + java.util.Arrays.toString(after));

      // Both written at once: each leader's own entries wait for the other's appends, and get them.
      List<CompletableFuture<Void>> writers = new ArrayList<>();
      writers.add(CompletableFuture.runAsync(() -> keys1.forEach(k -> c.node(1).put(k, "b"))));
      writers.add(CompletableFuture.runAsync(() -> keys2.forEach(k -> c.node(2).put(k, "b"))));
      CompletableFuture.allOf(writers.toArray(CompletableFuture[]::new)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
      long joined = c.node(1).runtime().syncHolds()[0] - after[0] + c.node(2).runtime().syncHolds()[0];
      assertTrue(joined > 0, "no held sync was joined by the other leader's appends");
      for (String k : keys2) {
        assertEquals(java.util.Optional.of("b"), c.node(3).get(k, ReadConsistency.LINEARIZABLE));
      }
    }
  }

  private static List<String> keysOf(HashPartitioner p, long partition, int n) {
    List<String> keys = new ArrayList<>();
    for (int i = 0; keys.size() < n; i++) {
      String k = "k" + i;
      if (p.partitionOf(k.getBytes(StandardCharsets.UTF_8)) == partition) {
        keys.add(k);
      }
    }
    return keys;
  }
}
