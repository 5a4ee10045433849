package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A three-node cluster in one process, over the in-memory transport and simulated disks. */
class MemoryClusterTest {

  @Test
  void writeOnOneNodeReadOnEveryNodeAtEveryLevel() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 1).start()) {
      c.awaitLeaders(Duration.ofSeconds(10));
      KvNode n1 = c.node(1);
      for (int i = 0; i < 20; i++) {
        n1.put("k" + i, "v" + i);
      }
      for (KvNode n : c.nodes()) {
        for (ReadConsistency level : List.of(ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE,
            ReadConsistency.FOLLOWER)) {
          for (int i = 0; i < 20; i++) {
            assertEquals(Optional.of("v" + i), n.get("k" + i, level), n + " " + level);
          }
        }
      }
      // A stale read eventually sees the write, and says how stale it is.
      MemoryCluster.await(Duration.ofSeconds(5), "stale reads to catch up",
          () -> c.nodes().stream().allMatch(n -> n.get("k19", ReadConsistency.STALE).isPresent()));
      ReadResult r = c.node(2).read("k1".getBytes(), ReadConsistency.STALE);
      assertEquals(ReadConsistency.STALE, r.consistency());
      assertTrue(r.appliedIndex() > 0);
    }
  }

  /**
   * The Raft traffic counters behind benchmarks finding 16: every proposed entry reaches both
   * followers in some AppendEntries, and each AppendEntries is answered.
   */
  @Test
  void raftTrafficCountersCoverEveryProposal() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 1).start()) {
      c.awaitLeaders(Duration.ofSeconds(10));
      for (int i = 0; i < 30; i++) {
        c.node(1).put("k" + i, "v" + i);
      }
      // The last entries reach the followers' logs after the leader applied them: wait for it.
      MemoryCluster.await(Duration.ofSeconds(5), "every proposal sent to both followers",
          () -> sum(c, "quorumkv.raft.sent.entries", null) >= 2 * sum(c, "quorumkv.proposals", null));
      double proposals = sum(c, "quorumkv.proposals", null);
      assertTrue(proposals >= 30, "proposals " + proposals);
      double appends = sum(c, "quorumkv.raft.sent", "append");
      assertTrue(appends > 0, "appends " + appends);
      MemoryCluster.await(Duration.ofSeconds(5), "appends answered",
          () -> sum(c, "quorumkv.raft.sent", "append.response") > 0);
    }
  }

  private static double sum(MemoryCluster c, String name, String type) {
    return c.nodes().stream().mapToDouble(n -> (type == null ? n.meterRegistry().find(name)
        : n.meterRegistry().find(name).tag("type", type)).counters().stream()
        .mapToDouble(Counter::count).sum()).sum();
  }

  @Test
  void deleteCasBatchScan() {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.of("m"), 2).start()) {
      c.awaitLeaders(Duration.ofSeconds(10));
      KvNode n = c.node(3);
      assertTrue(n.putIfAbsent("a", "1"));
      assertFalse(n.putIfAbsent("a", "2"));
      assertTrue(n.compareAndSet("a", "1", "3"));
      assertFalse(n.compareAndSet("a", "1", "4"));
      assertEquals(Optional.of("3"), n.get("a"));
      assertTrue(n.delete("a"));
      assertFalse(n.delete("a"));
      assertTrue(n.batch(List.of(BatchOp.put("b", "1"), BatchOp.put("c", "2"), BatchOp.expectAbsent("a"))));
      assertFalse(n.batch(List.of(BatchOp.put("b", "9"), BatchOp.expect("c", "nope"))));
      n.put("x", "24");
      n.put("y", "25");
      assertEquals(List.of("b=1", "c=2", "x=24", "y=25"),
          n.scan("", "", 100).stream().map(KeyValue::toString).toList());
      assertEquals(List.of("c=2", "x=24"),
          n.scan("c", "y", 100).stream().map(KeyValue::toString).toList());
      assertEquals(List.of("b=1", "c=2", "x=24"),
          n.scan("", "", 3).stream().map(KeyValue::toString).toList());
    }
  }
}
