package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Counter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A leader keeps one entry of client writes in flight per partition: writes that reach it while
 * its last entry of writes is not committed wait, and go out together in one entry once it is.
 * Both followers' disks stop syncing so that the first entry cannot commit; the writes after it
 * reach the leader's loop one loop turn apart, so without the rule each would be an entry of its own.
 */
class WritesInFlightTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  private static double counter(KvNode n, String name) {
    return n.meterRegistry().find(name).counters().stream().mapToDouble(Counter::count).sum();
  }

  /** Waits until {@code node}'s Raft loop has run every task posted before this call. */
  private static void loopTurn(KvNode node) throws InterruptedException {
    CountDownLatch ran = new CountDownLatch(1);
    assertTrue(node.runtime().post(ran::countDown));
    assertTrue(ran.await(WAIT.toSeconds(), TimeUnit.SECONDS), "the loop ran the task");
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void writesArrivingWhileAnEntryIsInFlightShareTheNextEntry() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 31,
        b -> b.electionTicks(30).syncStallTimeout(Duration.ofSeconds(30))).start()) {
      c.awaitLeaders(WAIT);
      KvNode leader = c.node(MemoryCluster.leaderOf(c, 1));
      leader.put("before", "v");
      List<Long> followers = new ArrayList<>(List.of(1L, 2L, 3L));
      followers.remove(leader.nodeId());
      double proposals = counter(leader, "quorumkv.proposals");
      double packed = counter(leader, "quorumkv.writes.packed");
      followers.forEach(f -> c.disk(f).stallSyncs());
      List<CompletableFuture<Void>> writes = new ArrayList<>();
      try {
        writes.add(leader.putAsync(b("first"), b("v")));
        loopTurn(leader);
        MemoryCluster.await(WAIT, "the first write to be proposed",
            () -> counter(leader, "quorumkv.proposals") == proposals + 1);
        for (int i = 0; i < 20; i++) {
          writes.add(leader.putAsync(b("k" + i), b("v")));
          loopTurn(leader); // each write in a turn of its own
        }
        MemoryCluster.sleep(100);
        assertEquals(proposals + 1, counter(leader, "quorumkv.proposals"),
            "the writes wait while the first entry is not committed");
        assertFalse(writes.get(0).isDone(), "nothing commits while no follower syncs");
      } finally {
        followers.forEach(f -> c.disk(f).resumeSyncs());
      }
      CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
      assertEquals(proposals + 2, counter(leader, "quorumkv.proposals"), "the 20 later writes went out as one entry");
      assertEquals(packed + 20, counter(leader, "quorumkv.writes.packed"));
      for (int i = 0; i < 20; i++) {
        assertEquals("v", leader.get("k" + i).orElseThrow());
      }
    }
  }
}
