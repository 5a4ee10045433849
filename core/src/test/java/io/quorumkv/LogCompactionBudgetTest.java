package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The log compaction budget is the node's: many partitions' logs, none of which reached
 * {@code logCompactionBytes} alone, are compacted once together they did (NodeRuntime#maybeCompact;
 * docs/benchmarks.md, finding 64).
 */
class LogCompactionBudgetTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void partitionsWhoseLogsTogetherReachTheBudgetAreCompacted() throws Exception {
    int partitions = 8;
    long budget = 1L << 20;
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(partitions), 5,
        b -> b.logCompactionBytes(budget).logCompactionEntries(1_000_000)).start()) {
      c.awaitLeaders(WAIT);
      Map<String, Long> firstBefore = firstIndexes(c);
      String value = "v".repeat(32 << 10);
      // 6 MiB in all, about 768 KiB per partition: each past its 256 KiB share, none at the budget
      for (int i = 0; i < 192; i++) {
        c.node(1).put("k" + i, value);
      }
      MemoryCluster.await(WAIT, "every partition's log to be compacted on every node", () -> {
        Map<String, Long> now = firstIndexes(c);
        return now.entrySet().stream().allMatch(e -> e.getValue() > firstBefore.get(e.getKey()));
      });
      Map<String, Long> after = firstIndexes(c);
      assertTrue(after.size() == 3 * partitions, "partitions seen: " + after.keySet());
    }
  }

  /** "node/partition" to the first index its log holds. */
  private static Map<String, Long> firstIndexes(MemoryCluster c) {
    Map<String, Long> out = new HashMap<>();
    for (KvNode n : c.nodes()) {
      for (PartitionStatus p : n.status().partitions()) {
        out.put(n.nodeId() + "/" + p.partitionId(), n.runtime().logFirstIndex(p.partitionId()));
      }
    }
    return out;
  }
}
