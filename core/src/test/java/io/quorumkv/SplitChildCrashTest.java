package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A power cut in the middle of creating a split child ({@code NodeRuntime#createChild}), after
 * each of its writes, on one node or on every node: once the nodes are back and the split is
 * applied again, the child holds every moved key on every replica and its replicas' hashes agree.
 * The simulated disk keeps only what was synced ({@link MemoryDisk#crash()}); a cut after an
 * unsynced write is taken with it lost, and where that differs, with it written back
 * ({@link MemoryDisk#writeBack()}). Before the fix, a child left without its seed was opened at
 * start, elected a leader and failed every node's applier (a partition without a span).
 */
class SplitChildCrashTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final Set<Long> NODES = Set.of(1L, 2L, 3L);
  private static final int MOVED = 10;

  /** Where the power is cut: after a step, with the unsynced writes before it lost or kept. */
  enum Cut {
    AFTER_RECORD(NodeRuntime.ChildStep.BEGUN, true),
    AFTER_BOOTSTRAP(NodeRuntime.ChildStep.BOOTSTRAPPED, false),
    AFTER_LOG(NodeRuntime.ChildStep.LOGGED, false),
    AFTER_SEED_LOST(NodeRuntime.ChildStep.SEEDED, false),
    AFTER_SEED_KEPT(NodeRuntime.ChildStep.SEEDED, true),
    AFTER_COMPACTION(NodeRuntime.ChildStep.COMPACTED, false),
    BEFORE_PARENT_BATCH_RECORD_KEPT(NodeRuntime.ChildStep.CREATED, false),
    BEFORE_PARENT_BATCH(NodeRuntime.ChildStep.CREATED, true);

    final NodeRuntime.ChildStep step;
    final boolean writeBack;

    Cut(NodeRuntime.ChildStep step, boolean writeBack) {
      this.step = step;
      this.writeBack = writeBack;
    }
  }

  static Stream<Arguments> cuts() {
    return PowerCut.onOneNodeOrAll(Cut.values());
  }

  @ParameterizedTest(name = "{0}, every node: {1}")
  @MethodSource("cuts")
  void aChildCutOffMidCreationHoldsEveryMovedKeyOnEveryReplicaOnceTheSplitIsAppliedAgain(Cut cut,
      boolean everyNode) {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 61, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long leader = MemoryCluster.leaderOf(c, 1);
      for (int i = 0; i < MOVED; i++) {
        c.node(leader).put("n" + i, "v" + i);
        c.node(leader).put("a" + i, "w" + i);
      }
      // Every node, or one follower of the parent (so the split call itself is answered).
      Set<Long> cutOff = everyNode ? NODES : Set.of(leader == 3 ? 2L : 3L);
      List<MemoryDisk> disks = new ArrayList<>();
      // Each node waits at its first step until all have begun the child: a node cut off early
      // would take the parent's leader with it, and a follower might never learn the split is
      // committed. Then each goes on alone to the cut, with nothing else writing meanwhile.
      CountDownLatch begun = new CountDownLatch(cutOff.size());
      for (long id : cutOff) {
        MemoryDisk disk = c.disk(id);
        disks.add(disk);
        c.node(id).runtime().overrides().afterChildStep = PowerCut.at(cut.step, cut.writeBack, disk, begun);
      }
      KvNode splitter = c.node(leader);
      CompletableFuture<Long> split = CompletableFuture.supplyAsync(() -> splitter.split("n".getBytes()));
      MemoryCluster.await(WAIT, "the power cut on nodes " + cutOff, () -> disks.stream().noneMatch(MemoryDisk::isInUse));
      for (long id : cutOff) {
        c.crash(id);
      }
      split.handle((child, e) -> child).join(); // answered, or failed with its node
      for (long id : cutOff) {
        c.restart(id);
      }

      MemoryCluster.await(WAIT, "every node to host the child [n, +inf) and agree on its leader",
          () -> childLeader(c) != 0);
      long childLeader = childLeader(c);
      long child = childOf(c.node(childLeader)).orElseThrow().partitionId();
      for (long id : NODES) {
        for (int i = 0; i < MOVED; i++) {
          assertEquals(Optional.of("v" + i), c.node(id).get("n" + i, ReadConsistency.LINEARIZABLE),
              "moved key n" + i + " read through node " + id + " (cut " + cut + " on " + cutOff + ")");
          assertEquals(Optional.of("v" + i), c.node(id).get("n" + i, ReadConsistency.FOLLOWER),
              "moved key n" + i + " read from node " + id + "'s replica (cut " + cut + " on " + cutOff + ")");
          assertEquals(Optional.of("w" + i), c.node(id).get("a" + i, ReadConsistency.FOLLOWER));
        }
      }
      MemoryCluster.await(WAIT, "every replica of partition " + child + " to report its hash",
          () -> hashes(c, childLeader, child).map(h -> h.hashes().keySet().equals(NODES)).orElse(false));
      PartitionHashes h = hashes(c, childLeader, child).orElseThrow();
      assertTrue(h.agree() && h.fenced().isEmpty(), "the child's replicas agree (cut " + cut + " on " + cutOff + "): " + h);
    }
  }

  /** The child [n, +inf) as {@code n} sees it, if it hosts it. */
  private static Optional<PartitionStatus> childOf(KvNode n) {
    return n.status().partitions().stream().filter(p -> "[n, +inf)".equals(p.keys())).findFirst();
  }

  /** The child's leader if every node hosts the child and they agree on one, else 0. */
  private static long childLeader(MemoryCluster c) {
    Set<Long> leaders = new HashSet<>();
    for (long id : NODES) {
      Optional<PartitionStatus> p = childOf(c.node(id));
      if (p.isEmpty() || p.get().leader() == 0) {
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
