package io.quorumkv;

import static io.quorumkv.MemoryCluster.leaderOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A write its leader had already proposed when the leader went down may still commit under the
 * next leader, so the client must not report it as certainly not applied. The leader used to
 * answer such a proposal {@code CLOSED} as it shut down, which the client took for "never
 * happened": with no other leader before the call's deadline, the call failed with
 * {@code outcomeUnknown() == false}, and the write then applied (seen once in a generated fault
 * schedule of {@code ScheduleRunnerProperties}; this staging makes it certain).
 */
class ClosedLeaderOutcomeTest {

  private static final Duration WAIT = Duration.ofSeconds(30);

  @Test
  void aWriteProposedWhenItsLeaderClosesIsNotReportedAsCertainlyFailed() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 61, b -> b.balanceLeaders(false)).start();
        KvClient client = c.client(1, 2, 3)) {
      c.awaitLeaders(WAIT);
      client.put("warm", "up");
      long leader = leaderOf(c, 1);
      long[] followers = {leader % 3 + 1, (leader + 1) % 3 + 1};
      // The followers append the write but cannot make it durable: no acknowledgement, no commit,
      // and no election among them until their disks come back.
      for (long f : followers) {
        c.disk(f).stallSyncs();
      }
      KvException failure;
      try {
        CompletableFuture<KvException> put = CompletableFuture.supplyAsync(() -> {
          try {
            client.put("k", "v");
            return null;
          } catch (KvException e) {
            return e;
          }
        });
        MemoryCluster.sleep(300); // proposed and sent to both followers
        c.stop(leader);
        failure = put.get(30, TimeUnit.SECONDS);
      } finally {
        for (long f : followers) {
          c.disk(f).resumeSyncs();
        }
      }
      assertNotNull(failure, "the write succeeded without a quorum");
      MemoryCluster.await(WAIT, "a new leader", () -> {
        long l = MemoryCluster.partition(c.node(followers[0]), 1).leader();
        return l == followers[0] || l == followers[1];
      });
      // The followers held the write: the next leader commits it.
      assertEquals(Optional.of("v"), c.node(followers[0]).get("k"), "staging: the write did not survive");
      assertTrue(failure.outcomeUnknown(), "the write applied, yet its call said it had not: " + failure);
    }
  }
}
