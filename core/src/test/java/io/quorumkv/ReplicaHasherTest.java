package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Replica hashes are computed away from the applier ({@link ReplicaHasher}): every replica of a
 * partition applies a hash check at the same entry, and hashing there stalled every replica's
 * applies at once (docs/benchmarks.md, finding 78).
 */
class ReplicaHasherTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  /** A view of {@code records} records that counts its closes. */
  private static final class CountingView implements PartitionStore.View {
    final List<KeyValue> records = new ArrayList<>();
    final AtomicInteger closes = new AtomicInteger();

    CountingView(int records) {
      for (int i = 0; i < records; i++) {
        this.records.add(new KeyValue(new byte[] {PartitionStateMachine.DATA, (byte) (i >> 8), (byte) i}, new byte[] {1}));
      }
    }

    @Override
    public List<KeyValue> scan(byte[] from, byte[] to, int limit) {
      List<KeyValue> out = new ArrayList<>();
      for (KeyValue kv : records) {
        if (java.util.Arrays.compareUnsigned(kv.key(), from) >= 0 && java.util.Arrays.compareUnsigned(kv.key(), to) < 0
            && out.size() < limit) {
          out.add(kv);
        }
      }
      return out;
    }

    @Override
    public void close() {
      closes.incrementAndGet();
    }
  }

  private static PartitionStateMachine.HashJob job(long index, CountingView view) {
    return new PartitionStateMachine.HashJob(index, view, List.of(), h -> { });
  }

  private static Timer timer() {
    return Timer.builder("t").register(new SimpleMeterRegistry());
  }

  /**
   * While the hasher is busy, a second check of a partition replaces its first one still waiting
   * (whose view is released unread); on close, what waits is released too and nothing outlives it.
   */
  @Test
  void aNewerCheckReplacesAWaitingOneAndCloseReleasesEveryView() throws Exception {
    CountDownLatch busy = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    ReplicaHasher hasher = new ReplicaHasher("test", Long.MAX_VALUE / 4, timer(), g -> {
      if (g == 1) {
        busy.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    });
    Map<Long, PartitionStateMachine.ReplicaHash> hashed = new java.util.concurrent.ConcurrentHashMap<>();
    CountingView first = new CountingView(3);
    hasher.submit(1, job(10, first), h -> hashed.put(1L, h));
    assertTrue(busy.await(10, TimeUnit.SECONDS));
    CountingView older = new CountingView(3);
    CountingView newer = new CountingView(3);
    CountingView otherPartition = new CountingView(3);
    hasher.submit(2, job(20, older), h -> hashed.put(2L, h));
    hasher.submit(3, job(30, otherPartition), h -> hashed.put(3L, h));
    hasher.submit(2, job(21, newer), h -> hashed.put(2L, h));
    assertEquals(1, older.closes.get(), "the replaced check's view is released at once");
    assertEquals(2, hasher.waiting());
    release.countDown();
    MemoryCluster.await(WAIT, "the three hashes", () -> hashed.size() == 3);
    assertEquals(21, hashed.get(2L).index(), "the newer check of partition 2");
    assertEquals(1, first.closes.get());
    assertEquals(1, newer.closes.get());
    assertEquals(1, otherPartition.closes.get());

    CountDownLatch busyAgain = new CountDownLatch(1);
    ReplicaHasher closing = new ReplicaHasher("test", Long.MAX_VALUE / 4, timer(), g -> {
      busyAgain.countDown();
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    CountingView running = new CountingView(3 * PartitionStateMachine.HashJob.PAGE_RECORDS);
    CountingView queued = new CountingView(3);
    closing.submit(1, job(1, running), h -> hashed.put(100L, h));
    assertTrue(busyAgain.await(10, TimeUnit.SECONDS));
    closing.submit(2, job(2, queued), h -> hashed.put(200L, h));
    closing.close();
    assertEquals(1, queued.closes.get(), "a waiting check is released at close");
    assertEquals(1, running.closes.get(), "the running check gave up and released its view");
    assertTrue(!hashed.containsKey(200L), "a check waiting at close is never hashed");
    CountingView late = new CountingView(1);
    closing.submit(3, job(3, late), h -> hashed.put(300L, h));
    assertEquals(1, late.closes.get(), "a check submitted after close is released at once");
    hasher.close();
  }

  /**
   * With every replica's hash held, the appliers go on: writes are applied on every node (a
   * linearizable read on each waits for its applier), and the hashes, released, still agree.
   */
  @Test
  void writesAreAppliedEverywhereWhileEveryReplicaHashIsHeld() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 41, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = c.node(1).status().partitions().get(0).partitionId();
      long leader = MemoryCluster.partition(c.node(1), p).leader();
      CountDownLatch release = new CountDownLatch(1);
      AtomicInteger held = new AtomicInteger();
      for (KvNode n : c.nodes()) {
        n.runtime().overrides().beforeHash = g -> {
          held.incrementAndGet();
          try {
            release.await(30, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        };
      }
      try {
        c.node(leader).put("before", "the check");
        c.node(leader).runtime().checkReplicaHashes();
        MemoryCluster.await(WAIT, "every replica to start hashing", () -> held.get() >= 3);
        for (int i = 0; i < 20; i++) {
          c.node(leader).put("k" + i, "v" + i);
        }
        for (KvNode n : c.nodes()) {
          assertEquals(Optional.of("v19"), n.get("k19", ReadConsistency.LINEARIZABLE), "node " + n.nodeId());
        }
      } finally {
        release.countDown();
      }
      MemoryCluster.await(WAIT, "every replica's hash, the same", () -> {
        TreeMap<Long, Optional<PartitionStateMachine.ReplicaHash>> first = new TreeMap<>(c.node(1).runtime().replicaHashes());
        return first.get(p).isPresent()
            && c.nodes().stream().allMatch(n -> new TreeMap<>(n.runtime().replicaHashes()).equals(first));
      });
    }
  }
}
