package io.quorumkv;

import static io.quorumkv.MemoryCluster.leaderOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Gauge;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The log entries a node keeps in memory are those someone may still read from there: not yet
 * applied on this node, or (on a leader) not yet held by every follower in steady replication.
 * Before, each partition's entry cache kept its newest entries up to its byte bound whether or not
 * anyone would read them again, so every young collection copied the ones new since the last one
 * (benchmarks.md, finding 89).
 */
class EntryCacheReleaseTest {

  private static final Duration WAIT = Duration.ofSeconds(15);
  private static final int WRITES = 300;
  private static final int VALUE_BYTES = 1024;

  @Test
  void appliedAndReplicatedEntriesLeaveTheCacheButStayReadable() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 41).start()) {
      c.awaitLeaders(WAIT);
      KvNode leader = c.node(leaderOf(c, 1));
      String value = "v".repeat(VALUE_BYTES);
      for (int i = 0; i < WRITES; i++) {
        leader.put("k" + i, value + i); // one entry each: the writes are one after the other
      }
      long written = (long) WRITES * VALUE_BYTES;
      // Followers apply the last entries once they learn the commit index (the next heartbeat);
      // the leader lets go of its last ones at its next apply after every follower acknowledged.
      leader.put("last", "x");
      MemoryCluster.await(WAIT, "every node's entry cache to hold at most a few entries",
          () -> c.nodes().stream().allMatch(n -> cachedBytes(n) <= 8L * VALUE_BYTES));
      for (KvNode n : c.nodes()) {
        assertTrue(cachedBytes(n) < written / 20, "node " + n + " caches " + cachedBytes(n) + " B");
      }
      // The entries are still in the log: a follower that restarts replays nothing from memory,
      // and every node still serves every write.
      for (KvNode n : c.nodes()) {
        assertEquals(Optional.of(value + 0), n.get("k0", ReadConsistency.LINEARIZABLE));
        assertEquals(Optional.of(value + (WRITES - 1)), n.get("k" + (WRITES - 1), ReadConsistency.LINEARIZABLE));
      }
    }
  }

  private static double cachedBytes(KvNode n) {
    Gauge g = n.meterRegistry().find("quorumkv.entry.cache.bytes").gauge();
    return g == null ? Double.MAX_VALUE : g.value();
  }
}
