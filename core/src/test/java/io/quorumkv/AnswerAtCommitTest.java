package io.quorumkv;

import static io.quorumkv.MemoryCluster.await;
import static io.quorumkv.MemoryCluster.leaderOf;
import static io.quorumkv.MemoryCluster.partition;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Counter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Writes answered once committed, before they apply ({@link AnswerAtCommit}), on the in-memory
 * cluster: reads still see them, and a write behind an entry that changes the partition's span
 * waits for its real outcome. KvSim checks the same rule under faults, splits and a history
 * checker (its replicas answer at commit too and fail on any applied outcome that contradicts an
 * answer).
 */
class AnswerAtCommitTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  @Test
  void aPutIsAnsweredWhileTheLeadersApplierIsStuckAndALinearizableReadWaitsToSeeIt() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.of("c"), 31).start()) {
      c.awaitLeaders(WAIT);
      KvNode leader = c.node(leaderOf(c, 2));
      leader.put("x0", "before"); // the election's entries are applied
      double answeredBefore = counter(leader, "quorumkv.writes.answered.at.commit");
      CountDownLatch release = new CountDownLatch(1);
      leader.runtime().overrides().beforeApply = g -> await(release);
      CompletableFuture<Optional<String>> read;
      try {
        leader.put("x1", "during");
        PartitionStatus p = partition(leader, 2);
        assertTrue(p.appliedIndex() < p.commitIndex(), "answered before the leader applied it: " + p);
        // The loop counts an answer after giving it: the counter may lag the answer a little.
        MemoryCluster.await(WAIT, "the answer at commit counted",
            () -> counter(leader, "quorumkv.writes.answered.at.commit") > answeredBefore);
        read = CompletableFuture.supplyAsync(() -> leader.get("x1"));
        MemoryCluster.sleep(100);
        assertFalse(read.isDone(), "a linearizable read waits for the applier to reach the commit index");
      } finally {
        release.countDown();
        leader.runtime().overrides().beforeApply = null;
      }
      assertEquals(Optional.of("during"), read.get());
      assertNoContradiction(c);
    }
  }

  @Test
  void aPutBehindASplitNotYetAppliedWaitsForItsOutcomeAndLandsInTheNewPartition() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.of("c"), 32).start()) {
      c.awaitLeaders(WAIT);
      KvNode leader = c.node(leaderOf(c, 2));
      leader.put("x0", "before");
      long committed = partition(leader, 2).commitIndex();
      CountDownLatch release = new CountDownLatch(1);
      leader.runtime().overrides().beforeApply = g -> await(release);
      CompletableFuture<Long> split;
      CompletableFuture<Void> put;
      try {
        split = CompletableFuture.supplyAsync(() -> leader.split("m".getBytes(StandardCharsets.UTF_8)));
        await(WAIT, "the split to commit", () -> partition(leader, 2).commitIndex() > committed);
        long splitCommitted = partition(leader, 2).commitIndex();
        // Routed by the span the leader applied last: to partition 2, in an entry behind the split.
        put = leader.putAsync("x2".getBytes(StandardCharsets.UTF_8), "after".getBytes(StandardCharsets.UTF_8));
        await(WAIT, "the put's entry to commit", () -> partition(leader, 2).commitIndex() > splitCommitted);
        MemoryCluster.sleep(50);
        assertFalse(put.isDone(), "a put behind an unapplied split is not answered at commit");
      } finally {
        release.countDown();
        leader.runtime().overrides().beforeApply = null;
      }
      long child = split.get();
      put.get();
      for (KvNode n : c.nodes()) {
        assertEquals(Optional.of("after"), n.get("x2"), "the put is in the new partition, read through " + n);
      }
      await(WAIT, "the new partition on every node",
          () -> c.nodes().stream().allMatch(n -> n.status().partitions().stream().anyMatch(p -> p.partitionId() == child)));
      assertNoContradiction(c);
    }
  }

  private static double counter(KvNode n, String name) {
    Counter counter = n.meterRegistry().find(name).counter();
    return counter == null ? 0 : counter.count();
  }

  private static void assertNoContradiction(MemoryCluster c) {
    List<KvNode> nodes = c.nodes();
    for (KvNode n : nodes) {
      assertEquals(0.0, counter(n, "quorumkv.writes.answered.at.commit.contradicted"), n + ": an answer at commit contradicted");
    }
  }
}
