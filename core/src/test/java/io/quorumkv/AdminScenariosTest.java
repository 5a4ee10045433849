package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Administrative calls as an operator makes them (the {@code qkv} CLI), on the in-memory cluster. */
class AdminScenariosTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  private static Map<Long, Long> leaders(KvNode n) {
    Map<Long, Long> out = new TreeMap<>();
    n.status().partitions().forEach(p -> out.put(p.partitionId(), p.leader()));
    return out;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }

  @Test
  void anExplicitTransferIsNotUndoneByLeaderBalancing() {
    // Balancing runs every 5 election timeouts (1.5 s here); the pin must outlive several rounds.
    // 300 ms election timeouts: on a loaded machine 100 ms ones made elections, and a leader that
    // steps down rightly drops its pin, after which balancing may move the leadership.
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 21, b -> b.electionTicks(30)).start()) {
      c.awaitLeaders(WAIT);
      for (long p = 1; p <= 3; p++) {
        c.node(1).transferLeader(p, 2);
      }
      assertEquals(Map.of(1L, 2L, 2L, 2L, 3L, 2L), leaders(c.node(2)));
      io.micrometer.core.instrument.Counter balancedAway =
          c.node(2).meterRegistry().get("quorumkv.leader.transfers.balancing").counter();
      double balancedBefore = balancedAway.count();
      Map<Long, Long> pinnedTerms = new TreeMap<>();
      c.node(2).status().partitions().forEach(p -> pinnedTerms.put(p.partitionId(), p.term()));
      sleep(5_000);
      // The pin stops balancing, not elections: on a loaded machine an election may still move a
      // leadership (seen in session 21), so only a hand-off by balancing, or a leadership lost
      // without a new term, fails the test.
      ClusterStatus after = c.node(2).status();
      assertEquals(balancedBefore, balancedAway.count(), "balancing handed a pinned leadership away: " + after);
      for (PartitionStatus p : after.partitions()) {
        assertTrue(p.leader() == 2 || p.term() > pinnedTerms.get(p.partitionId()),
            "partition " + p.partitionId() + " left node 2 without an election: " + after);
      }
    }
  }

  @Test
  void theTransferPinExpiresAfterItsConfiguredTime() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 22,
        b -> b.leaderPinDuration(Duration.ofMillis(600))).start()) {
      c.awaitLeaders(WAIT);
      for (long p = 1; p <= 3; p++) {
        c.node(1).transferLeader(p, 2);
      }
      MemoryCluster.await(WAIT, "balancing to spread the leaders once the pins expired",
          () -> Set.copyOf(leaders(c.node(1)).values()).size() == 3);
    }
  }

  @Test
  void aTransferToAnUnknownPartitionOrANonVoterFailsAtOnce() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 23).start();
        KvClient client = c.client(1)) {
      c.awaitLeaders(WAIT);
      for (KvAdmin admin : new KvAdmin[] {c.node(1), client}) {
        long start = System.nanoTime();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> admin.transferLeader(99, 2));
        assertTrue(e.getMessage().contains("partition 99"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> admin.transferLeader(1, 9));
        assertTrue(e.getMessage().contains("node 9"), e.getMessage());
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms < 1_000, "took " + ms + " ms");
      }
    }
  }

  @Test
  void removingANodeThatIsNotAMemberFailsClearly() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 24).start();
        KvClient client = c.client(2)) {
      c.awaitLeaders(WAIT);
      for (KvAdmin admin : new KvAdmin[] {c.node(1), client}) {
        long start = System.nanoTime();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> admin.removeNode(7));
        assertTrue(e.getMessage().contains("node 7 is not a member"), e.getMessage());
        assertTrue((System.nanoTime() - start) / 1_000_000 < 1_000);
      }
    }
  }

  @Test
  void aRemovedNodeStopsLeadingAndEveryNodeSeesTheNewMembership() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 25, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      // Node 3 leads every partition: its removal is the removal of a leader everywhere.
      for (long p = 1; p <= 3; p++) {
        c.node(1).transferLeader(p, 3);
      }
      c.node(1).removeNode(3);
      // Node 3 applied its removal before the call returned (it led every partition): from then on
      // it hands off, and must not claim to lead, even before its successor's election reaches it.
      assertEquals(0, c.node(3).status().leaderCount(), c.node(3).status().toString());
      for (long id = 1; id <= 2; id++) {
        KvNode n = c.node(id);
        MemoryCluster.await(WAIT, "node " + id + " to see node 3 removed", () -> {
          ClusterStatus s = n.status();
          return !s.members().containsKey(3L)
              && s.partitions().stream().allMatch(p -> p.voters().equals(Set.of(1L, 2L)) && p.leader() != 0
                  && p.leader() != 3);
        });
      }
      KvNode removed = c.node(3);
      MemoryCluster.await(WAIT, "node 3 to stop leading", () -> removed.status().leaderCount() == 0);
      ClusterStatus s = removed.status();
      assertFalse(s.partitions().stream().anyMatch(p -> p.voters().contains(3L)), s.toString());
      assertEquals(Set.of(1L, 2L), s.members().keySet(), "a removed node reports the remaining members: " + s);
      assertFalse(removed.isReady());
      // A restart with the initial peers (node 3 among them) does not bring node 3 back.
      c.stop(1);
      KvNode n1 = c.restart(1);
      assertEquals(Set.of(1L, 2L), n1.status().members().keySet());
      n1.put("after", "removal");
    }
  }

  @Test
  void aReadAgainstAnUnreachableClusterIsUnavailableNotUnknown() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 26).start();
        KvClient client = c.client(1, 2, 3)) {
      c.awaitLeaders(WAIT);
      client.put("k", "v");
      c.crash(1);
      c.crash(2);
      c.crash(3);
      KvStore store = client.withTimeout(Duration.ofMillis(500));
      ClusterUnavailableException e = assertThrows(ClusterUnavailableException.class, () -> store.get("k"));
      assertFalse(e.outcomeUnknown());
      assertFalse(e.getMessage().contains("outcome unknown"), e.getMessage());
      // It names the nodes tried and the last error, whichever it was: on a loaded machine the
      // last attempt may have met its own deadline in the queue instead of the refused connection.
      assertTrue(e.getMessage().contains("127.0.0.1:17001") && e.getMessage().contains("last error"), e.getMessage());
      assertThrows(ClusterUnavailableException.class, () -> store.scan("a", "z", 10));
      // A write keeps its honest answer: it may have reached a node before the connection died.
      KvTimeoutException w = assertThrows(KvTimeoutException.class, () -> store.put("k", "w"));
      assertTrue(w.getMessage().startsWith("outcome unknown"), w.getMessage());
    }
  }

  @Test
  void aReadOnANodeWithoutQuorumIsUnavailable() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 27).start()) {
      c.awaitLeaders(WAIT);
      assertTrue(c.node(1).isReady());
      c.crash(2);
      c.crash(3);
      KvStore store = c.node(1).withTimeout(Duration.ofMillis(500));
      ClusterUnavailableException e = assertThrows(ClusterUnavailableException.class, () -> store.get("k"));
      assertFalse(e.getMessage().contains("outcome unknown"), e.getMessage());
      MemoryCluster.await(WAIT, "node 1 to notice it has no leader", () -> !c.node(1).isReady());
    }
  }
}
