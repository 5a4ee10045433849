package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Idle partitions stop ticking and heartbeating, and wake when used or when their leader's node dies. */
class QuiescenceTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  private static boolean allQuiesced(MemoryCluster c, long... nodes) {
    for (long n : nodes) {
      for (PartitionStatus p : c.node(n).status().partitions()) {
        if (!c.node(n).runtime().isQuiesced(p.partitionId())) {
          return false;
        }
      }
    }
    return true;
  }

  /** A started 3-node cluster whose partitions all hold key {@code key} and are all quiesced. */
  private static MemoryCluster quiesced(int partitions, long seed, String key, String value) {
    MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(partitions), seed, b -> b.balanceLeaders(false)).start();
    c.awaitLeaders(WAIT);
    c.node(1).put(key, value);
    MemoryCluster.await(WAIT, "every replica quiesced", () -> allQuiesced(c, 1, 2, 3));
    return c;
  }

  private static double readIndexCount(KvNode n) {
    return n.meterRegistry().find("quorumkv.readindex.latency").timer().count();
  }

  @Test
  void idleGroupsQuiesceOnEveryNodeAndAWriteWakesThem() {
    try (MemoryCluster c = quiesced(4, 21, "a", "1")) {
      assertEquals(4.0, c.node(2).meterRegistry().find("quorumkv.groups.quiesced").gauge().value());

      c.node(2).put("a", "2"); // its partition wakes, commits, and quiesces again
      assertEquals(Optional.of("2"), c.node(3).get("a", ReadConsistency.LINEARIZABLE));
      MemoryCluster.await(WAIT, "quiesced again after the write", () -> allQuiesced(c, 1, 2, 3));
      assertEquals(Optional.of("2"), c.node(1).get("a", ReadConsistency.STALE));
      assertEquals(Optional.of("2"), c.node(2).get("a", ReadConsistency.STALE));
    }
  }

  @Test
  void aQuiescedLeaderServesNoLeaseReadFromItsFrozenLease() {
    try (MemoryCluster c = quiesced(1, 22, "k", "v")) {
      long leader = c.node(1).status().partitions().get(0).leader();
      KvNode l = c.node(leader);
      double before = readIndexCount(l);
      // The core's lease evidence stopped with its ticks: the read must confirm leadership.
      assertEquals(Optional.of("v"), l.get("k", ReadConsistency.LEASE));
      assertEquals(before + 1, readIndexCount(l));
      assertFalse(l.runtime().isQuiesced(1));
    }
  }

  @Test
  void aPartitionThatIsOnlyReadStaysAwakeAndItsLeaderGetsItsLeaseBack() {
    try (MemoryCluster c = quiesced(1, 25, "k", "v")) {
      KvNode l = c.node(c.node(1).status().partitions().get(0).leader());
      // Woken by the first read, the leader needs an election timeout (10 ticks of 10 ms) of fresh
      // heartbeats before its lease serves reads; reads alone must keep it from quiescing again.
      MemoryCluster.await(WAIT, "a LEASE read served from the lease", () -> {
        double before = readIndexCount(l);
        assertEquals(Optional.of("v"), l.get("k", ReadConsistency.LEASE));
        return readIndexCount(l) == before;
      });
    }
  }

  @Test
  void aQuiescedGroupWhoseLeaderDiesElectsANewLeader() {
    try (MemoryCluster c = quiesced(2, 23, "x", "1")) {
      long leader = c.node(1).status().partitions().get(0).leader();
      long survivor = leader == 1 ? 2 : 1;
      c.crash(leader);
      MemoryCluster.await(WAIT, "a new leader of every partition", () -> c.node(survivor).status().partitions()
          .stream().allMatch(p -> p.leader() != 0 && p.leader() != leader));
      c.node(survivor).put("x", "2");
      assertEquals(Optional.of("2"), c.node(survivor).get("x", ReadConsistency.LINEARIZABLE));
      assertNotEquals(leader, c.node(survivor).status().partitions().get(0).leader());
    }
  }

  @Test
  void offMeansEveryGroupKeepsTicking() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 24, b -> b.quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      c.node(1).put("a", "1");
      MemoryCluster.sleep(300); // 30 ticks: far past the few a group needs to quiesce
      assertFalse(allQuiesced(c, 1) || allQuiesced(c, 2) || allQuiesced(c, 3));
      for (long n = 1; n <= 3; n++) {
        for (PartitionStatus p : c.node(n).status().partitions()) {
          assertFalse(c.node(n).runtime().isQuiesced(p.partitionId()));
        }
      }
    }
  }
}
