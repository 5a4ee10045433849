package io.quorumkv;

import static io.quorumkv.MemoryCluster.await;
import static io.quorumkv.MemoryCluster.leaderOf;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The applier: batches of many groups queued together are applied with one storage write, and
 * nothing of them is answered before that write.
 */
class ApplierTest {

  private static final Duration WAIT = Duration.ofSeconds(15);
  private static final int PARTITIONS = 8;

  private static double count(KvNode n, String name) {
    return n.meterRegistry().find(name).counter().count();
  }

  /** A key of each partition. */
  private static Map<Long, String> keyPerPartition(HashPartitioner partitioner) {
    Map<Long, String> keys = new HashMap<>();
    for (int i = 0; keys.size() < PARTITIONS && i < 10_000; i++) {
      keys.putIfAbsent(partitioner.partitionOf(("k" + i).getBytes(UTF_8)), "k" + i);
    }
    assertEquals(PARTITIONS, keys.size());
    return keys;
  }

  @Test
  void batchesOfManyGroupsQueuedTogetherShareOneWriteAndAreAnsweredOnlyOnceWritten() throws Exception {
    HashPartitioner partitioner = HashPartitioner.of(PARTITIONS);
    try (MemoryCluster c = new MemoryCluster(3, partitioner, 31).start()) {
      c.awaitLeaders(WAIT);
      // every entry so far applied everywhere: what follows is queued by the writes below alone
      await(WAIT, "every replica to apply what is committed", () -> c.nodes().stream().allMatch(n ->
          n.status().partitions().stream().allMatch(p -> p.appliedIndex() == p.commitIndex())));
      Map<KvNode, long[]> before = new HashMap<>();
      Map<KvNode, Map<Long, Long>> committed = new HashMap<>();
      CountDownLatch release = new CountDownLatch(1);
      for (KvNode n : c.nodes()) {
        Map<Long, Long> commits = new HashMap<>();
        n.status().partitions().forEach(p -> commits.put(p.partitionId(), p.commitIndex()));
        committed.put(n, commits);
        before.put(n, new long[] {
            (long) count(n, "quorumkv.apply.writes"), (long) count(n, "quorumkv.apply.batches")});
        n.runtime().overrides().beforeApply = g -> MemoryCluster.await(release);
      }
      List<CompletableFuture<String>> seenAtAnswer = new ArrayList<>();
      try {
        keyPerPartition(partitioner).forEach((p, key) -> {
          KvNode leader = c.node(leaderOf(c, p));
          Replica r = leader.runtime().replicas().get(p);
          // runs where the answer is given (the leader's applier: the write is not answered yet)
          seenAtAnswer.add(leader.putAsync(key.getBytes(UTF_8), "v".getBytes(UTF_8)).thenApply(v ->
              r.sm.get(key.getBytes(UTF_8)).map(b -> new String(b, UTF_8)).orElse("not in the store")));
        });
        await(WAIT, "every write to be committed on every node", () -> c.nodes().stream().allMatch(n ->
            n.status().partitions().stream().allMatch(p -> p.commitIndex() > committed.get(n).get(p.partitionId()))));
      } finally {
        release.countDown();
      }
      for (CompletableFuture<String> seen : seenAtAnswer) {
        assertEquals("v", seen.get(WAIT.toSeconds(), TimeUnit.SECONDS),
            "a write answered before its apply was in the store");
      }
      await(WAIT, "every replica to apply the writes", () -> c.nodes().stream().allMatch(n ->
          n.status().partitions().stream().allMatch(p -> p.appliedIndex() == p.commitIndex())));
      for (KvNode n : c.nodes()) {
        n.runtime().overrides().beforeApply = null;
        long writes = (long) count(n, "quorumkv.apply.writes") - before.get(n)[0];
        long batches = (long) count(n, "quorumkv.apply.batches") - before.get(n)[1];
        // The first batch blocked in the hook, alone or with a few; the others queued behind it
        // and went into (about) one write. A stray batch later (a hash check) adds one of each.
        assertTrue(batches >= PARTITIONS, n + ": " + batches + " batches");
        assertTrue(batches - writes >= PARTITIONS - 2,
            n + ": " + batches + " batches in " + writes + " writes");
      }
      for (KvNode n : c.nodes()) {
        keyPerPartition(partitioner).forEach((p, key) -> assertEquals("v",
            n.runtime().replicas().get(p).sm.get(key.getBytes(UTF_8)).map(b -> new String(b, UTF_8)).orElse("-"),
            n + ", partition " + p));
      }
    }
  }
}
