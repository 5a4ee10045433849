package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.storage.MemoryDisk;
import java.time.Duration;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A power cut while a lagging follower is sent a snapshot: on the leader after it took the
 * snapshot and before recording it (which compacts its log), on the follower after it received
 * the whole payload and before installing it, and after installing it before writing the rest of
 * its Ready. Once the node is back, every key is read through every node and the replicas'
 * hashes agree. The steps inside the install (its marker, the state, the applied index) are cut
 * in storage's FaultInjectionTest.
 */
class SnapshotCrashTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final Set<Long> NODES = Set.of(1L, 2L, 3L);
  private static final long PARTITION = 1;
  private static final int KEYS = 100;

  /** Where the power is cut, and on which node. */
  enum Cut {
    LEADER_AFTER_TAKING(NodeRuntime.SnapshotStep.TAKEN, true),
    FOLLOWER_BEFORE_INSTALLING(NodeRuntime.SnapshotStep.RECEIVED, false),
    FOLLOWER_AFTER_INSTALLING(NodeRuntime.SnapshotStep.INSTALLED, false);

    final NodeRuntime.SnapshotStep step;
    final boolean onLeader;

    Cut(NodeRuntime.SnapshotStep step, boolean onLeader) {
      this.step = step;
      this.onLeader = onLeader;
    }
  }

  @ParameterizedTest
  @EnumSource(Cut.class)
  void aSnapshotCutOffMidwayStillBringsTheFollowerUpToDate(Cut cut) {
    AtomicLong target = new AtomicLong();
    AtomicBoolean cutDone = new AtomicBoolean();
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 79, b -> {
      long id = b.nodeId();
      b.logCompactionEntries(20).balanceLeaders(false).overrides(o -> o.afterSnapshotStep = (g, step) -> {
        if (id == target.get() && step == cut.step && cutDone.compareAndSet(false, true)) {
          o.disk.crash(); // the power cut: the process dies here, its unsynced writes are lost
        }
      });
    }).start()) {
      c.awaitLeaders(WAIT);
      long leader = MemoryCluster.leaderOf(c, PARTITION);
      long follower = leader == 3 ? 2 : 3;
      c.node(leader).put("before", "lag");
      c.crash(follower);
      for (int i = 0; i < KEYS; i++) {
        c.node(leader).put("k" + i, "v" + i); // compacted past what the follower holds
      }
      long cutOff = cut.onLeader ? leader : follower;
      target.set(cutOff);
      c.restart(follower);
      MemoryDisk disk = c.disk(cutOff);
      MemoryCluster.await(WAIT, "the power cut on node " + cutOff + " at " + cut.step, () -> !disk.isInUse());
      c.crash(cutOff);
      c.restart(cutOff);

      MemoryCluster.await(WAIT, "every node to agree on a leader", () -> leader(c) != 0);
      long now = leader(c);
      for (long id : NODES) {
        String where = " through node " + id + " (cut " + cut + " on node " + cutOff + ")";
        assertEquals(Optional.of("lag"), c.node(id).get("before", ReadConsistency.LINEARIZABLE), "before" + where);
        for (int i = 0; i < KEYS; i++) {
          assertEquals(Optional.of("v" + i), c.node(id).get("k" + i, ReadConsistency.LINEARIZABLE), "k" + i + where);
        }
      }
      MemoryCluster.await(WAIT, "node " + follower + " to catch up", () -> c.node(follower)
          .get("k" + (KEYS - 1), ReadConsistency.FOLLOWER).equals(Optional.of("v" + (KEYS - 1))));
      for (int i = 0; i < KEYS; i++) {
        assertEquals(Optional.of("v" + i), c.node(follower).get("k" + i, ReadConsistency.FOLLOWER),
            "k" + i + " from the replica on node " + follower + " (cut " + cut + ")");
      }
      assertTrue(c.node(follower).meterRegistry().find("quorumkv.snapshot.bytes.received").counter().count() > 0
          || cut == Cut.FOLLOWER_AFTER_INSTALLING, "node " + follower + " caught up through a snapshot");
      MemoryCluster.await(WAIT, "every replica to report its hash",
          () -> hashes(c, now).map(h -> h.hashes().keySet().equals(NODES)).orElse(false));
      PartitionHashes h = hashes(c, now).orElseThrow();
      assertTrue(h.agree() && h.fenced().isEmpty(), "the replicas agree (cut " + cut + "): " + h);
    }
  }

  /** The partition's leader if every node agrees on one, else 0. */
  private static long leader(MemoryCluster c) {
    Set<Long> leaders = new HashSet<>();
    for (long id : NODES) {
      PartitionStatus p = MemoryCluster.partition(c.node(id), PARTITION);
      if (p == null || p.leader() == 0) {
        return 0;
      }
      leaders.add(p.leader());
    }
    return leaders.size() == 1 ? leaders.iterator().next() : 0;
  }

  private static Optional<PartitionHashes> hashes(MemoryCluster c, long leader) {
    return c.node(leader).replicaHashes().checked().stream().filter(p -> p.partitionId() == PARTITION).findFirst();
  }
}
