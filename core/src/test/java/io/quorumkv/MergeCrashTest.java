package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.storage.MemoryDisk;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A power cut while a merged-away replica is deleted ({@code NodeRuntime#destroyReplica}, after
 * the left partition applied the merge), before, between and after its writes, on one node or on
 * every node: once the nodes are back, every key of both sides is read through every node, the
 * right partition's replicas are gone with a tombstone, and the merged partition's replicas'
 * hashes agree. The simulated disk keeps only what was synced ({@link MemoryDisk#crash()}); a cut
 * after an unsynced write (the left's apply of the merge, the tombstone record) is taken with it
 * lost, and with it written back ({@link MemoryDisk#writeBack()}).
 */
class MergeCrashTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final Set<Long> NODES = Set.of(1L, 2L, 3L);
  private static final long LEFT = 1;
  private static final long RIGHT = 2;
  private static final int KEYS = 10;

  /** Where the power is cut: after a step of deleting the right replica, unsynced writes lost or kept. */
  enum Cut {
    MERGE_APPLIED_LOST(NodeRuntime.DestroyStep.BEGUN, false),
    MERGE_APPLIED_KEPT(NodeRuntime.DestroyStep.BEGUN, true),
    AFTER_TOMBSTONE_LOG(NodeRuntime.DestroyStep.RECORDED, false),
    AFTER_TOMBSTONE(NodeRuntime.DestroyStep.RECORDED, true),
    AFTER_DELETE(NodeRuntime.DestroyStep.DELETED, false);

    final NodeRuntime.DestroyStep step;
    final boolean writeBack;

    Cut(NodeRuntime.DestroyStep step, boolean writeBack) {
      this.step = step;
      this.writeBack = writeBack;
    }
  }

  static Stream<Arguments> cuts() {
    return PowerCut.onOneNodeOrAll(Cut.values());
  }

  @ParameterizedTest(name = "{0}, every node: {1}")
  @MethodSource("cuts")
  void aMergeCutOffWhileTheRightReplicaIsDeletedKeepsEveryKeyOnEveryReplica(Cut cut, boolean everyNode) {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.of("n"), 71, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      for (int i = 0; i < KEYS; i++) {
        c.node(MemoryCluster.leaderOf(c, LEFT)).put("a" + i, "v" + i);
        c.node(MemoryCluster.leaderOf(c, RIGHT)).put("n" + i, "w" + i);
      }
      long caller = MemoryCluster.leaderOf(c, RIGHT);
      // Every node, or one that neither leads the right partition nor answers the merge call.
      Set<Long> cutOff = everyNode ? NODES : Set.of(NODES.stream().filter(id -> id != caller).findFirst().orElseThrow());
      List<MemoryDisk> disks = new ArrayList<>();
      // Each node waits at its first step until all have begun deleting the right replica (each
      // learned the merge applied), then goes on alone to the cut.
      CountDownLatch begun = new CountDownLatch(cutOff.size());
      for (long id : cutOff) {
        MemoryDisk disk = c.disk(id);
        disks.add(disk);
        BiConsumer<Long, NodeRuntime.DestroyStep> cutAt = PowerCut.at(cut.step, cut.writeBack, disk, begun);
        c.node(id).runtime().overrides().afterDestroyStep = (g, step) -> {
          if (g == RIGHT) {
            cutAt.accept(g, step);
          }
        };
      }
      KvNode merger = c.node(caller);
      CompletableFuture<Long> merge = CompletableFuture.supplyAsync(() -> merger.merge("n".getBytes()));
      MemoryCluster.await(WAIT, "the power cut on nodes " + cutOff, () -> disks.stream().noneMatch(MemoryDisk::isInUse));
      for (long id : cutOff) {
        c.crash(id);
      }
      merge.handle((into, e) -> into).join(); // answered, or failed with its node
      for (long id : cutOff) {
        c.restart(id);
      }

      MemoryCluster.await(WAIT, "every node to host only the merged partition [, +inf) and agree on its leader",
          () -> mergedLeader(c) != 0);
      long leader = mergedLeader(c);
      for (long id : NODES) {
        for (int i = 0; i < KEYS; i++) {
          String where = " through node " + id + " (cut " + cut + " on " + cutOff + ")";
          assertEquals(Optional.of("v" + i), c.node(id).get("a" + i, ReadConsistency.LINEARIZABLE), "left key a" + i + where);
          assertEquals(Optional.of("w" + i), c.node(id).get("n" + i, ReadConsistency.LINEARIZABLE), "right key n" + i + where);
          assertEquals(Optional.of("w" + i), c.node(id).get("n" + i, ReadConsistency.FOLLOWER), "right key n" + i
              + " from the replica on node " + id + " (cut " + cut + " on " + cutOff + ")");
        }
        assertNotNull(c.node(id).runtime().tombstone(RIGHT), "node " + id + " kept a tombstone of the merged-away partition");
      }
      c.node(leader).put("n-after", "merge");
      MemoryCluster.await(WAIT, "every replica of partition " + LEFT + " to report its hash",
          () -> hashes(c, leader).map(h -> h.hashes().keySet().equals(NODES)).orElse(false));
      PartitionHashes h = hashes(c, leader).orElseThrow();
      assertTrue(h.agree() && h.fenced().isEmpty(), "the merged partition's replicas agree (cut " + cut + " on " + cutOff + "): " + h);
    }
  }

  /** The merged partition's leader if every node hosts it alone and they agree on one, else 0. */
  private static long mergedLeader(MemoryCluster c) {
    Set<Long> leaders = new HashSet<>();
    for (long id : NODES) {
      List<PartitionStatus> ps = c.node(id).status().partitions();
      if (ps.size() != 1 || ps.get(0).partitionId() != LEFT || !"[, +inf)".equals(ps.get(0).keys())
          || ps.get(0).leader() == 0) {
        return 0;
      }
      leaders.add(ps.get(0).leader());
    }
    return leaders.size() == 1 ? leaders.iterator().next() : 0;
  }

  /** The merged partition's replica hashes as its leader checks them, if it answered for it. */
  private static Optional<PartitionHashes> hashes(MemoryCluster c, long leader) {
    return c.node(leader).replicaHashes().checked().stream().filter(p -> p.partitionId() == LEFT).findFirst();
  }
}
