package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.storage.MemoryDisk;
import java.time.Duration;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A power cut during a node's very first start, after it created its replica of the first initial
 * partition and before the second ({@code NodeRuntime#start}), on one node or on every node: once
 * the nodes are back, every node hosts both initial partitions with the initial voters, every key
 * written is read through every node, and each partition's replicas' hashes agree. The simulated
 * disk keeps only what was synced ({@link MemoryDisk#crash()}).
 */
class InitialBootstrapCrashTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final Set<Long> NODES = Set.of(1L, 2L, 3L);
  private static final int KEYS = 10;

  @ParameterizedTest(name = "every node: {0}")
  @ValueSource(booleans = {false, true})
  void aFirstStartCutOffBetweenTwoInitialPartitionsHostsBothOnceBack(boolean everyNode) {
    // Every node, or the last one started (so the others start whole).
    Set<Long> armed = ConcurrentHashMap.newKeySet();
    armed.addAll(everyNode ? NODES : Set.of(3L));
    Set<Long> cutOff = Set.copyOf(armed);
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.of("n"), 73, b -> {
      long id = b.nodeId();
      b.balanceLeaders(false).overrides(o -> {
        if (armed.contains(id)) {
          o.afterInitialBootstrap = g -> {
            if (armed.remove(id)) {
              o.disk.crash(); // the power cut: the process dies here, its unsynced writes are lost
            }
          };
        }
      });
    })) {
      try {
        c.start();
      } catch (RuntimeException cut) {
        // the first node cut off failed its start; those after it were not started
      }
      for (long id : NODES) {
        for (int attempt = 0; attempt < 2; attempt++) {
          try {
            c.restart(id); // a node cut off on this first try is started again
            break;
          } catch (RuntimeException cut) {
            assertTrue(cutOff.contains(id) && attempt == 0, "node " + id + " failed to start: " + cut);
          }
        }
      }
      assertTrue(armed.isEmpty(), "every node in " + cutOff + " was cut off: " + armed + " left");

      MemoryCluster.await(WAIT, "every node to host partitions 1 and 2 with voters " + NODES + " and agree on their leaders",
          () -> leader(c, 1) != 0 && leader(c, 2) != 0);
      for (int i = 0; i < KEYS; i++) {
        c.node(leader(c, 1)).put("a" + i, "v" + i);
        c.node(leader(c, 2)).put("n" + i, "w" + i);
      }
      for (long id : NODES) {
        for (int i = 0; i < KEYS; i++) {
          String where = " through node " + id + " (cut on " + cutOff + ")";
          assertEquals(Optional.of("v" + i), c.node(id).get("a" + i, ReadConsistency.LINEARIZABLE), "key a" + i + where);
          assertEquals(Optional.of("w" + i), c.node(id).get("n" + i, ReadConsistency.LINEARIZABLE), "key n" + i + where);
          assertEquals(Optional.of("w" + i), c.node(id).get("n" + i, ReadConsistency.FOLLOWER), "key n" + i
              + " from the replica on node " + id + " (cut on " + cutOff + ")");
        }
      }
      for (long p = 1; p <= 2; p++) {
        long partition = p;
        long leader = leader(c, partition);
        MemoryCluster.await(WAIT, "every replica of partition " + partition + " to report its hash",
            () -> hashes(c, leader, partition).map(h -> h.hashes().keySet().equals(NODES)).orElse(false));
        PartitionHashes h = hashes(c, leader, partition).orElseThrow();
        assertTrue(h.agree() && h.fenced().isEmpty(), "partition " + partition + "'s replicas agree (cut on " + cutOff + "): " + h);
      }
    }
  }

  /** {@code partition}'s leader if every node hosts it with the initial voters and they agree on one, else 0. */
  private static long leader(MemoryCluster c, long partition) {
    Set<Long> leaders = new HashSet<>();
    for (long id : NODES) {
      Optional<PartitionStatus> p = c.node(id).status().partitions().stream()
          .filter(x -> x.partitionId() == partition).findFirst();
      if (p.isEmpty() || p.get().leader() == 0 || !p.get().voters().equals(NODES)) {
        return 0;
      }
      leaders.add(p.get().leader());
    }
    return leaders.size() == 1 ? leaders.iterator().next() : 0;
  }

  /** {@code partition}'s replica hashes as its leader checks them, if it answered for it. */
  private static Optional<PartitionHashes> hashes(MemoryCluster c, long leader, long partition) {
    return c.node(leader).replicaHashes().checked().stream().filter(p -> p.partitionId() == partition).findFirst();
  }
}
