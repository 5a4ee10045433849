package io.quorumkv;

import static io.quorumkv.MemoryCluster.leaderOf;
import static io.quorumkv.MemoryCluster.partition;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A lease read that passed its lease check on the leader's calling thread, then stalled, must not
 * be answered from the old leader's state once it handed leadership away (a transfer makes the
 * next leader at once, well inside the old leader's lease) and the next leader took a write.
 * Without NodeRuntime's count of lease ends ({@code Replica.leaseEnds}) the stalled read answered
 * "old" as LEASE; the same race made a LEASE get stale in a coalesced-workload run (benchmarks.md,
 * finding 24).
 */
class LeaseTransferTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void aLeaseReadStalledAcrossALeadershipTransferIsNotAnsweredFromTheOldLeader() throws Exception {
    // Long ticks: the lease the reader checked stays valid for up to a tick, time enough for the
    // transfer and a write on the next leader.
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 41,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false).tickInterval(Duration.ofSeconds(1)).electionTicks(4)).start()) {
      c.awaitLeaders(WAIT);
      long old = leaderOf(c, 1);
      long next = old == 1 ? 2 : 1;
      KvNode l = c.node(old);
      l.put("k", "old");
      CountDownLatch release = new CountDownLatch(1);
      CompletableFuture<CompletableFuture<ReadResult>> issued = null;
      try {
        issued = ReadPathTest.heldLeaseRead(l, "k", release);
        // Straight to the old leader's core, as its balancer would: TimeoutNow leaves at once.
        l.runtime().post(() -> l.runtime().replicas().get(1L).raw.transferLeadership(next));
        MemoryCluster.await(WAIT, "node " + next + " to lead", () -> partition(c.node(next), 1).leader() == next);
        // The old leader must not learn of the write (it would apply it before the reader reads).
        Fault cut = new Fault.Partition(List.of(Set.of(old), Set.of(next, 6 - old - next)));
        for (long id = 1; id <= 3; id++) {
          c.node(id).injectFault(id, cut);
        }
        c.node(next).put("k", "new");
      } finally {
        l.runtime().overrides().beforeRead = null;
        release.countDown();
      }
      ReadResult answer;
      try {
        answer = issued.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS);
      } catch (ExecutionException refused) {
        answer = null; // no answer is a correct answer
      }
      if (answer != null && answer.value().map(v -> new String(v, StandardCharsets.UTF_8)).equals(Optional.of("old"))) {
        assertNotEquals(ReadConsistency.LEASE, answer.consistency(),
            "a LEASE read answered from the old leader's state after it handed leadership away and the next leader took a write");
      }
    }
  }
}
