package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Counter;
import io.quorumkv.testing.Recording;
import io.quorumkv.testing.RecordingKvStore;
import io.quorumkv.testing.TestCluster;
import io.quorumkv.testkit.Verdict;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Client writes of a partition that reach its leader's Raft loop in one drain of its inbox go into
 * one log entry, and every write gets its own outcome: on the in-memory cluster and on Netty with
 * RocksDB. The loop is held still (a task that waits on a latch) while writes queue up behind it, so
 * what is packed does not depend on timing.
 */
class PackedWritesClusterTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  private static TestCluster cluster(StorageEngineType storage, int partitions) {
    return TestCluster.builder().nodes(3).storage(storage).partitioner(HashPartitioner.of(partitions))
        .requestTimeout(Duration.ofSeconds(10)).build().start();
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static double counter(KvNode n, String name) {
    return n.meterRegistry().find(name).counters().stream().mapToDouble(Counter::count).sum();
  }

  private static double sum(TestCluster c, String name) {
    return c.nodes().stream().mapToDouble(n -> counter(n, name)).sum();
  }

  /** Holds the Raft loop of {@code node} until the returned latch is counted down. */
  private static CountDownLatch holdLoop(KvNode node) {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch held = new CountDownLatch(1);
    assertTrue(node.runtime().post(() -> {
      held.countDown();
      try {
        release.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
    try {
      assertTrue(held.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS), "the loop took the holding task");
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
    return release;
  }

  private static KvNode leaderOfPartition1(TestCluster c) {
    c.awaitLeaders(TIMEOUT);
    return c.node(c.leaderOf(1).orElseThrow());
  }

  private static Replica partition1(KvNode leader) {
    return leader.runtime().replicas().get(1L);
  }

  private static PartitionStateMachine.Outcome await(CompletableFuture<PartitionStateMachine.Outcome> f) {
    return f.orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
  }

  @ParameterizedTest
  @EnumSource(value = StorageEngineType.class, names = {"MEMORY", "ROCKSDB"})
  void writesTakenInOneDrainShareAnEntryAndEachGetsItsOwnOutcome(StorageEngineType storage) {
    try (TestCluster c = cluster(storage, 1)) {
      KvNode leader = leaderOfPartition1(c);
      Replica r = partition1(leader);
      leader.put("k", "0");
      double entriesBefore = counter(leader, "quorumkv.proposals");
      CountDownLatch release = holdLoop(leader);
      List<CompletableFuture<PartitionStateMachine.Outcome>> fs = new ArrayList<>();
      // Two clients: a cas that holds, one that does not (it sees the first), a retry of the first
      // (deduplicated: its first result), a put and a delete.
      fs.add(leader.runtime().propose(r, new Command.Write(901, 1, 1, new WriteOp.Cas(b("k"), Optional.of(b("0")), b("1")))));
      fs.add(leader.runtime().propose(r, new Command.Write(902, 1, 1, new WriteOp.Cas(b("k"), Optional.of(b("0")), b("2")))));
      fs.add(leader.runtime().propose(r, new Command.Write(901, 1, 1, new WriteOp.Cas(b("k"), Optional.of(b("0")), b("1")))));
      fs.add(leader.runtime().propose(r, new Command.Write(902, 2, 1, new WriteOp.Put(b("p"), b("P")))));
      fs.add(leader.runtime().propose(r, new Command.Write(901, 2, 1, new WriteOp.Delete(b("absent")))));
      release.countDown();
      List<Boolean> results = fs.stream()
          .map(f -> assertInstanceOf(PartitionStateMachine.Outcome.Written.class, await(f)).result()).toList();
      assertEquals(List.of(true, false, true, true, false), results);
      assertEquals(1.0, counter(leader, "quorumkv.proposals") - entriesBefore, "one entry for the five writes");
      assertEquals(5.0, counter(leader, "quorumkv.writes.packed"));
      for (KvNode n : c.nodes()) {
        assertEquals(Optional.of("1"), n.get("k"));
        assertEquals(Optional.of("P"), n.get("p"));
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = StorageEngineType.class, names = {"MEMORY"})
  void anEntryHoldsAtMostItsBoundOfWritesAndBytes(StorageEngineType storage) {
    try (TestCluster c = cluster(storage, 1)) {
      KvNode leader = leaderOfPartition1(c);
      Replica r = partition1(leader);
      double entriesBefore = counter(leader, "quorumkv.proposals");
      CountDownLatch release = holdLoop(leader);
      List<CompletableFuture<PartitionStateMachine.Outcome>> fs = new ArrayList<>();
      int n = 2 * NodeRuntime.MAX_PACKED_WRITES + 1;
      for (int i = 0; i < n; i++) {
        fs.add(leader.runtime().propose(r, new Command.Write(903, i + 1, 1, new WriteOp.Put(b("k" + i), b("v")))));
      }
      // A write larger than an entry's byte bound goes alone; the small one after it starts the next.
      byte[] big = new byte[NodeRuntime.MAX_PACKED_BYTES + 1];
      fs.add(leader.runtime().propose(r, new Command.Write(903, n + 1, 1, new WriteOp.Put(b("big"), big))));
      fs.add(leader.runtime().propose(r, new Command.Write(903, n + 2, 1, new WriteOp.Put(b("small"), b("s")))));
      // A client's batch counts by its bytes too: two batches of 2 x 20 KiB do not share an entry.
      for (int i = 0; i < 2; i++) {
        byte[] v = new byte[20 << 10];
        fs.add(leader.runtime().propose(r, new Command.Write(903, n + 3 + i, 1, new WriteOp.Batch(List.of(
            new BatchOp.Put(b("b" + i + "a"), v), new BatchOp.Put(b("b" + i + "b"), v))))));
      }
      release.countDown();
      fs.forEach(f -> assertTrue(assertInstanceOf(PartitionStateMachine.Outcome.Written.class, await(f)).result()));
      // 128 + 128 + (1: the big one does not fit) + big + (small + first batch) + second batch.
      assertEquals(6.0, counter(leader, "quorumkv.proposals") - entriesBefore);
      assertEquals(n + 4.0, counter(leader, "quorumkv.writes.proposed"));
      assertEquals(2.0 * NodeRuntime.MAX_PACKED_WRITES + 2, counter(leader, "quorumkv.writes.packed"));
      assertEquals(NodeRuntime.MAX_PACKED_BYTES + 1, c.node(1).get(b("big")).orElseThrow().length);
    }
  }

  @ParameterizedTest
  @EnumSource(value = StorageEngineType.class, names = {"MEMORY"})
  void packedWritesOfALeaderCutOffFailAsUnknownAndOfAClosedNodeAsClosed(StorageEngineType storage) {
    try (TestCluster c = cluster(storage, 1)) {
      KvNode leader = leaderOfPartition1(c);
      long id = c.leaderOf(1).orElseThrow();
      Replica r = partition1(leader);
      CountDownLatch release = holdLoop(leader);
      List<CompletableFuture<PartitionStateMachine.Outcome>> fs = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        fs.add(leader.runtime().propose(r, new Command.Write(904, i + 1, 1, new WriteOp.Put(b("x" + i), b("v")))));
      }
      c.isolate(id);
      release.countDown();
      // The entry cannot commit; CheckQuorum deposes the leader, which fails every write of it
      // with an unknown outcome (the next leader may still commit it).
      for (CompletableFuture<PartitionStateMachine.Outcome> f : fs) {
        PartitionStateMachine.Outcome.Rejected rj = assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, await(f));
        assertEquals(KvResponse.Code.TIMEOUT, rj.code(), rj.message());
      }
      c.heal();
      KvNode next = leaderOfPartition1(c);
      Replica r2 = partition1(next);
      CountDownLatch hold = holdLoop(next);
      List<CompletableFuture<PartitionStateMachine.Outcome>> closing = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        closing.add(next.runtime().propose(r2, new Command.Write(905, i + 1, 1, new WriteOp.Put(b("y" + i), b("v")))));
      }
      CompletableFuture<Void> closed = CompletableFuture.runAsync(next::close);
      hold.countDown();
      closed.orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
      // Each write is answered: applied before the close got to it, refused by the leadership
      // transfer a close starts with, or failed as closed.
      for (CompletableFuture<PartitionStateMachine.Outcome> f : closing) {
        PartitionStateMachine.Outcome o = await(f);
        assertTrue(o instanceof PartitionStateMachine.Outcome.Written w && w.result()
            || o instanceof PartitionStateMachine.Outcome.Rejected rj
                && Set.of(KvResponse.Code.CLOSED, KvResponse.Code.NO_LEADER, KvResponse.Code.TIMEOUT).contains(rj.code()),
            o.toString());
      }
    }
  }

  /**
   * Many client threads writing and reading a few keys concurrently, through every node, while the
   * leaders' loops are held now and then (so writes pile up as they would under load): writes get
   * packed, and the history stays linearizable.
   */
  @ParameterizedTest
  @EnumSource(value = StorageEngineType.class, names = {"MEMORY", "ROCKSDB"})
  void concurrentWritesFromManyThreadsArePackedAndLinearizable(StorageEngineType storage) throws Exception {
    try (TestCluster c = cluster(storage, 2)) {
      c.awaitLeaders(TIMEOUT);
      Recording recording = new Recording("packed-" + storage.name().toLowerCase(java.util.Locale.ROOT));
      int threads = 12;
      int opsPerThread = 40;
      AtomicBoolean done = new AtomicBoolean();
      AtomicInteger unanswered = new AtomicInteger();
      ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
      try {
        List<Future<?>> clients = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          long via = 1 + t % 3;
          RecordingKvStore store = recording.store(() -> c.node(via));
          clients.add(pool.submit(() -> {
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            for (int i = 0; i < opsPerThread; i++) {
              String key = "k" + rnd.nextInt(4);
              try {
                switch (rnd.nextInt(4)) {
                  case 0 -> store.get(key);
                  case 1 -> store.compareAndSet(key, "v" + rnd.nextInt(3), "v" + rnd.nextInt(3));
                  default -> store.put(key, "v" + rnd.nextInt(3));
                }
              } catch (KvException e) {
                unanswered.incrementAndGet(); // recorded as failed or unknown
                return;
              }
            }
          }));
        }
        Future<?> holder = pool.submit(() -> {
          for (int round = 0; !done.get() && round < 2_000; round++) {
            for (KvNode n : c.nodes()) {
              CountDownLatch hold = holdLoop(n);
              MemoryCluster.sleep(3);
              hold.countDown();
            }
            MemoryCluster.sleep(5);
          }
        });
        for (Future<?> f : clients) {
          f.get(2, TimeUnit.MINUTES);
        }
        done.set(true);
        holder.get(1, TimeUnit.MINUTES);
      } finally {
        done.set(true);
        pool.shutdownNow();
      }
      // A healthy cluster answers every call in time. (A caller of a packed write that is never
      // told is not caught here: the client's retry of the attempt is deduplicated and answered.
      // The one-drain tests above catch it.)
      assertEquals(0, unanswered.get(), "calls without an answer");
      double packed = sum(c, "quorumkv.writes.packed");
      double writes = sum(c, "quorumkv.writes.proposed");
      assertTrue(packed >= 2, "some writes shared an entry: " + packed + " of " + writes);
      Verdict v = recording.check();
      if (!v.isLinearizable()) {
        throw new AssertionError("not linearizable (" + recording.write() + "): " + v);
      }
      assertTrue(recording.history().ops().size() > threads * opsPerThread / 2, "a real workload ran");
    }
  }
}
