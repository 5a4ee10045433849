package io.quorumkv;

import static io.quorumkv.MemoryCluster.partition;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.storage.StorageEngine;
import io.quorumkv.storage.StorageOptions;
import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The log writes of a replica that is destroyed while they are written but not yet durable still
 * reach the disk, before the first step of deleting the replica ({@code NodeRuntime#destroyReplica}
 * submits the turn's writes and waits for every write submitted so far; the log writer knows
 * nothing of groups and drops none).
 *
 * <p>Why it matters: a follower applies committed entries once they are written, before they are
 * durable, so its state can run ahead of its durable log; the writes in flight settle that, and if
 * a destroy let them go, a power cut before the replica's tombstone is recorded would leave a
 * store ahead of its log (the simulator's model had that gap: KvSimRegressionTest
 * #aDestroyedReplicasUnsyncedLogWritesStillReachTheDisk).
 *
 * <p>The staging, on three in-memory nodes with one partition: a follower's syncs stall (its log
 * writes are written, not durable, and it applies them), then it is removed from the partition.
 * Once its replica is destroyed (gone from the node), the deletion's first step must not come
 * while the syncs still stall (a second is given); then the syncs resume, and the power is cut at
 * that first step. The disk must then hold the replica's log through every entry the replica
 * applied before it was destroyed, and its state no further than its log.
 */
class DestroyedReplicaLogWritesTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long P = 1;

  @Test
  void aReplicaDestroyedWithUnsyncedLogWritesHasThemDurableAtTheFirstStepOfItsDeletion() throws Exception {
    try (TestCluster c = TestCluster.builder().nodes(3).storage(StorageEngineType.MEMORY)
        .partitioner(RangePartitioner.single()).seed(67).requestTimeout(Duration.ofSeconds(10))
        .configure(b -> b.balanceLeaders(false).quiesceIdleGroups(false).syncStallTimeout(Duration.ofSeconds(60)))
        .build().start()) {
      c.awaitLeaders(WAIT);
      long leader = c.leaderOf(P).orElseThrow();
      long x = leader % 3 + 1; // a follower
      KvNode follower = c.node(x);
      c.node(leader).put("before", "stall");
      TestCluster.await(WAIT, "node " + x + " to apply the first write", () -> partition(follower, P).appliedIndex()
          >= partition(c.node(leader), P).commitIndex());
      long durableBefore = partition(follower, P).appliedIndex();

      MemoryDisk disk = follower.runtime().overrides().disk;
      AtomicBoolean cut = new AtomicBoolean();
      follower.runtime().overrides().afterDestroyStep = (g, step) -> {
        if (g == P && step == NodeRuntime.DestroyStep.BEGUN && cut.compareAndSet(false, true)) {
          disk.crash(); // the power cut: whatever is not durable now is lost
        }
      };
      disk.stallSyncs();
      AtomicLong appliedWhileStalled = new AtomicLong();
      try {
        // The removal's entries reach the follower's log written, not durable; it applies them.
        CompletableFuture<Void> removal = CompletableFuture.runAsync(() -> c.node(leader).removeNode(x));
        TestCluster.await(WAIT, "node " + x + " to destroy its replica", () -> {
          Replica r = follower.runtime().replicas().get(P);
          if (r == null) {
            return true;
          }
          appliedWhileStalled.set(r.appliedIndex);
          return false;
        });
        removal.get();
        // The deletion must wait for the writes: give a deletion that does not the time to begin.
        for (int i = 0; i < 20 && !cut.get(); i++) {
          MemoryCluster.sleep(50);
        }
        assertFalse(cut.get(), "node " + x + " began deleting its destroyed replica while log writes it had "
            + "handed to the disk before the destroy were not durable");
      } finally {
        disk.resumeSyncs();
      }
      assertTrue(appliedWhileStalled.get() > durableBefore, "node " + x + " applied entries written while its "
          + "syncs stalled (" + appliedWhileStalled + " > " + durableBefore + "): the case under test");
      TestCluster.await(WAIT, "the power cut at the destroy's first step", () -> cut.get() && !disk.isInUse());
      c.crash(x);

      try (StorageEngine e = StorageEngine.openInMemory(disk, "test", StorageOptions.defaults(x))) {
        long last = e.log(P).lastIndex();
        long applied = e.stateMachine(P).appliedIndex();
        assertTrue(last >= appliedWhileStalled.get(), "node " + x + "'s log on disk ends at " + last
            + ", before index " + appliedWhileStalled + " its replica applied before it was destroyed");
        assertTrue(applied <= last, "node " + x + "'s state on disk (applied through " + applied
            + ") is ahead of its log (" + last + ")");
      }
    }
  }
}
