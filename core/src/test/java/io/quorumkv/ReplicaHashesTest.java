package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * {@link KvAdmin#replicaHashes()}: each leader checks its partitions through the log and answers
 * with every replica's hash at one index, so a caller sees agreement, a divergence, a fenced
 * replica, and a replica that could not answer.
 */
class ReplicaHashesTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  /** Every node's answer, asked over the client codec (a client pinned to that node). */
  private static Map<Long, ReplicaHashes> askEveryNode(MemoryCluster c, long... ids) {
    Map<Long, ReplicaHashes> out = new TreeMap<>();
    for (long id : ids) {
      try (KvClient client = c.client(id)) {
        out.put(id, client.replicaHashes());
      }
    }
    return out;
  }

  @Test
  void aHealthyClusterAnswersWithAgreeingHashesOfEveryReplicaOfEveryPartition() {
    // Balancing off: a leadership moved between the three asks is checked twice or not at all
    // (seen under load: node 1 answered, then handed partitions 1 and 2 to nodes 3 and 2).
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 41, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      for (int i = 0; i < 30; i++) {
        c.node(1 + i % 3).put("k" + i, "v" + i);
      }
      Map<Long, ReplicaHashes> answers = new TreeMap<>();
      // No timing check: a call that waited out its deadline shows as a replica missing below.
      answers.putAll(askEveryNode(c, 1, 2, 3));

      List<PartitionHashes> checked = new ArrayList<>();
      answers.forEach((id, a) -> {
        assertEquals(id, a.nodeId());
        assertEquals(Map.of(), a.unchecked(), "node " + id + " checked every partition it leads");
        assertEquals(Map.of(), a.fenced(), "no replica of node " + id + " is fenced");
        a.checked().forEach(p -> assertEquals(id, p.leader(), "a node checks only what it leads"));
        checked.addAll(a.checked());
      });
      assertEquals(List.of(1L, 2L, 3L), checked.stream().map(PartitionHashes::partitionId).sorted().toList(),
          "each partition checked once, by its leader");
      for (PartitionHashes p : checked) {
        assertEquals(Set.of(1L, 2L, 3L), p.hashes().keySet(), "every replica reported: " + p);
        assertEquals(Set.of(), p.missing());
        assertTrue(p.agree(), "replicas agree: " + p);
        assertEquals(Set.of(), p.fenced());
        assertTrue(p.index() > 0);
      }
    }
  }

  @Test
  void aFollowerThatAppliedAnotherValueShowsAsADifferentHashAtTheSameIndexAndIsFenced() {
    // Repairs off: this test looks at the fenced replica, which a repair would replace.
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 42,
        b -> b.balanceLeaders(false).repairDivergedReplicas(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = c.node(1).status().partitions().get(0).partitionId();
      long leader = MemoryCluster.leaderOf(c, p);
      long bad = leader == 3 ? 2 : 3;
      long good = 6 - leader - bad;
      KvNode f = c.node(bad);
      f.runtime().overrides().applyData = ReplicaDivergenceTest.rewritePutsOf("victim", "wrong");
      c.node(leader).put("victim", "right");
      MemoryCluster.await(WAIT, "node " + bad + " to apply the wrong value",
          () -> f.get("victim", ReadConsistency.STALE).equals(Optional.of("wrong")));
      f.runtime().overrides().applyData = null;

      ReplicaHashes answer = askEveryNode(c, leader).get(leader);
      assertEquals(1, answer.checked().size(), answer.toString());
      PartitionHashes h = answer.checked().get(0);
      assertEquals(Set.of(1L, 2L, 3L), h.hashes().keySet(), "every replica reported: " + h);
      assertFalse(h.agree(), "the divergence shows: " + h);
      assertNotEquals(h.hashes().get(leader), h.hashes().get(bad));
      assertEquals(h.hashes().get(leader), h.hashes().get(good));

      // The leader and the healthy follower outvote it: it is fenced, and says so.
      MemoryCluster.await(WAIT, "node " + bad + " to report its replica fenced",
          () -> askEveryNode(c, bad).get(bad).fenced().containsKey(p));
      MemoryCluster.await(WAIT, "the leader to list node " + bad + " as fenced",
          () -> askEveryNode(c, leader).get(leader).checked().get(0).fenced().equals(Set.of(bad)));
    }
  }

  @Test
  void aReplicaThatIsDownIsListedAsMissingAndTheCallStillAnswersInTime() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 43, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = c.node(1).status().partitions().get(0).partitionId();
      long leader = MemoryCluster.leaderOf(c, p);
      long down = leader == 3 ? 2 : 3;
      c.node(leader).put("k", "v");
      c.crash(down);

      ReplicaHashes answer = c.node(leader).replicaHashes();
      assertEquals(1, answer.checked().size(), answer.toString());
      PartitionHashes h = answer.checked().get(0);
      assertEquals(Set.of(down), h.missing(), h.toString());
      assertEquals(Set.of(1L, 2L, 3L), h.replicas());
      assertTrue(h.agree(), "the two that reported agree: " + h);
    }
  }
}
