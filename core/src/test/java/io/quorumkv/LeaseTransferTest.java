package io.quorumkv;

import static io.quorumkv.MemoryCluster.await;
import static io.quorumkv.MemoryCluster.leaderOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
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

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

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
        for (int attempt = 0; attempt < 20 && issued == null; attempt++) {
          await(WAIT, "the lease shortcut to open", () -> l.runtime().leaseReadSkipsTheLoop(1));
          CountDownLatch paused = new CountDownLatch(1);
          CompletableFuture<CompletableFuture<ReadResult>> call = new CompletableFuture<>();
          Thread caller = new Thread(() -> call.complete(l.readAsync(bytes("k"), ReadConsistency.LEASE)));
          l.runtime().overrides().beforeRead = g -> {
            if (Thread.currentThread() == caller) {
              paused.countDown();
              MemoryCluster.await(release);
            }
          };
          caller.start();
          if (paused.await(2, TimeUnit.SECONDS)) {
            issued = call;
          } else {
            call.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS);
          }
        }
        assertNotNull(issued, "no lease read took the shortcut in 20 attempts");
        // Straight to the old leader's core, as its balancer would: TimeoutNow leaves at once.
        l.runtime().post(() -> l.runtime().replicas().get(1L).raw.transferLeadership(next));
        MemoryCluster.await(WAIT, "node " + next + " to lead", () -> MemoryCluster.partition(c.node(next), 1).leader() == next
            && MemoryCluster.partition(c.node(next), 1).term() > 0);
        // The old leader must not learn of the write (it would apply it before the reader reads).
        Fault cut = new Fault.Partition(java.util.List.of(java.util.Set.of(old),
            java.util.Set.of(next, 6 - old - next)));
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
