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
    try (MemoryCluster c = new MemoryCluster(3, partitioner, 31, b -> b.balanceLeaders(false)).start()) {
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
          // runs where the answer is given (the leader's applier: the write is not answered yet).
          // A conditional write: a put's outcome is known at commit, and answered then (AnswerAtCommitTest).
          seenAtAnswer.add(leader.putIfAbsentAsync(key.getBytes(UTF_8), "v".getBytes(UTF_8)).thenApply(v ->
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

  private static String stored(KvNode n, long partition, String key) {
    Replica r = n.runtime().replicas().get(partition);
    return r == null ? "(no replica)" : r.sm.get(key.getBytes(UTF_8)).map(b -> new String(b, UTF_8)).orElse("-");
  }

  /**
   * A split among batches applied together: the split writes its group's prefix on its own (it
   * reads the store) and creates the child, while another group's applied entries wait in memory
   * for the shared write; after a crash the node applies it all again from its log.
   */
  @Test
  void aSplitAppliedTogetherWithOtherGroupsBatchesLosesNothing() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.of("k3"), 32,
        b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long leader1 = leaderOf(c, 1);
      long leader2 = leaderOf(c, 2);
      long f = 1;
      while (f == leader1 || f == leader2) {
        f++;
      }
      KvNode follower = c.node(f);
      c.node(leader1).put("c0", "moved");
      await(WAIT, "the follower to apply c0", () -> stored(follower, 1, "c0").equals("moved"));
      double writes0 = count(follower, "quorumkv.apply.writes");
      double batches0 = count(follower, "quorumkv.apply.batches");
      CountDownLatch release = new CountDownLatch(1);
      follower.runtime().overrides().beforeApply = g -> MemoryCluster.await(release);
      long child;
      try {
        c.node(leader1).put("a1", "before");
        c.node(leader2).put("x", "other group");
        child = c.node(leader1).split("b".getBytes(UTF_8));
        c.node(leader1).put("a2", "after");
        c.node(leader2).put("y", "other group after");
        long commit1 = MemoryCluster.partition(c.node(leader1), 1).commitIndex();
        long commit2 = MemoryCluster.partition(c.node(leader2), 2).commitIndex();
        await(WAIT, "the follower to have it all committed", () ->
            MemoryCluster.partition(follower, 1).commitIndex() >= commit1
                && MemoryCluster.partition(follower, 2).commitIndex() >= commit2);
      } finally {
        follower.runtime().overrides().beforeApply = null;
        release.countDown();
      }
      await(WAIT, "the follower to apply everything and create the child", () ->
          stored(follower, 1, "a2").equals("after") && stored(follower, 2, "y").equals("other group after")
              && stored(follower, child, "c0").equals("moved"));
      assertEquals("before", stored(follower, 1, "a1"));
      assertEquals("-", stored(follower, 1, "c0"), "moved to the child by the split");
      assertEquals("other group", stored(follower, 2, "x"));
      assertTrue(count(follower, "quorumkv.apply.batches") - batches0
          > count(follower, "quorumkv.apply.writes") - writes0, "some batches shared a write");

      c.crash(f);
      KvNode restarted = c.restart(f);
      await(WAIT, "the restarted follower to apply its log again", () ->
          stored(restarted, 1, "a2").equals("after") && stored(restarted, 2, "y").equals("other group after")
              && stored(restarted, child, "c0").equals("moved"));
      assertEquals("before", stored(restarted, 1, "a1"));
      assertEquals("-", stored(restarted, 1, "c0"));
      assertEquals("other group", stored(restarted, 2, "x"));
    }
  }
}
