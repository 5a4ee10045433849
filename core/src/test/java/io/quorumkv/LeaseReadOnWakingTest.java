package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quorumkv.testing.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A {@code LEASE} read that a leader's Raft loop takes on waking from a pause, before its late tick
 * has run, is not answered from the lease: it falls back to ReadIndex ({@code ReadPath#keepIfInLease}).
 *
 * <p>Why it matters: the pause rule (no lease read for an election timeout after a late tick,
 * {@code NodeRuntime#leaseResumesAtTick}) is armed by the late tick itself, and a woken loop runs
 * what queued up during the pause before that tick. With a pause longer than the lease the tick
 * count still shows a valid lease then, while another leader may have taken writes. What saves
 * the read is that the loop takes the lease as valid only until its next tick was due, and keeps
 * the answer only if the state was read before then: a woken loop is past that, whatever it runs
 * first. The simulator's model relies on this (KvSimRegressionTest
 * #aLeaseReadTakenOnWakingBeforeTheLateTickFallsBackToReadIndex).
 *
 * <p>The staging, on three in-memory nodes with one partition: the leader's loop is held (a
 * pause, as far as the loop is concerned) for three ticks, shorter than an election timeout so
 * that it stays leader; a {@code LEASE} get is made meanwhile: the published lease has lapsed, so
 * it queues for the loop, behind the hold and before the late tick. Released, the loop finds the
 * lease valid by its lagging tick count, reads, and must then refuse the answer as a lease read.
 */
class LeaseReadOnWakingTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final byte[] KEY = "k".getBytes(StandardCharsets.UTF_8);
  private static final Duration TICK = Duration.ofMillis(100);

  @Test
  void aLeaseReadTakenOnWakingBeforeTheLateTickFallsBackToReadIndex() throws Exception {
    try (TestCluster c = TestCluster.builder().nodes(3).storage(StorageEngineType.MEMORY)
        .partitioner(RangePartitioner.single()).seed(61).requestTimeout(Duration.ofSeconds(10))
        .configure(b -> b.balanceLeaders(false).quiesceIdleGroups(false).tickInterval(TICK).electionTicks(20))
        .build().start()) {
      c.awaitLeaders(WAIT);
      long a = c.leaderOf(1).orElseThrow();
      KvNode leader = c.node(a);
      leader.put("k", "v");
      // The lease holds: a LEASE get is answered from it (else the check below would prove nothing).
      TestCluster.await(WAIT, "a LEASE read answered from node " + a + "'s lease",
          () -> leader.read(KEY, ReadConsistency.LEASE).consistency() == ReadConsistency.LEASE);
      double fallenBackBefore = fallenBack(leader);

      CountDownLatch wake = new CountDownLatch(1);
      leader.runtime().post(() -> MemoryCluster.await(wake));
      MemoryCluster.sleep(3 * TICK.toMillis()); // the loop's next tick falls due while it sleeps
      CompletableFuture<ReadResult> read = leader.readAsync(KEY, ReadConsistency.LEASE);
      MemoryCluster.sleep(200); // the read is queued for the loop (posted on this thread; margin for a slow one)
      wake.countDown();
      ReadResult r = read.get(20, TimeUnit.SECONDS);

      assertEquals(Optional.of("v"), r.value().map(v -> new String(v, StandardCharsets.UTF_8)));
      assertEquals(a, r.servedBy());
      assertEquals(ReadConsistency.LINEARIZABLE, r.consistency(),
          "a LEASE read taken on waking, before the late tick, was answered from the lease");
      assertEquals(fallenBackBefore + 1, fallenBack(leader), "the read fell back through keepIfInLease");
    }
  }

  private static double fallenBack(KvNode n) {
    return n.meterRegistry().find("quorumkv.reads.lease.fallback").counter().count();
  }
}
