package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.ReadConsistency;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ClosedLoopTest {

  private final ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);

  @AfterEach
  void stop() {
    timer.shutdownNow();
  }

  /** An in-memory store answering after a delay; counts requests in flight to check the closed loop. */
  final class FakeStore implements ClosedLoop.Operations {
    final Map<String, byte[]> data = new ConcurrentHashMap<>();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final LongAdder gets = new LongAdder();
    final LongAdder puts = new LongAdder();
    final AtomicLong calls = new AtomicLong();
    volatile int failEvery; // 0 = never
    volatile boolean synchronousFailures;

    private <T> CompletableFuture<T> later(T value) {
      long n = calls.incrementAndGet();
      if (failEvery > 0 && n % failEvery == 0) {
        if (synchronousFailures) {
          return CompletableFuture.failedFuture(new IllegalStateException("planted failure"));
        }
      }
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      CompletableFuture<T> f = new CompletableFuture<>();
      boolean fail = failEvery > 0 && n % failEvery == 0;
      timer.schedule(() -> {
        inFlight.decrementAndGet();
        if (fail) {
          f.completeExceptionally(new IllegalStateException("planted failure"));
        } else {
          f.complete(value);
        }
      }, 200, TimeUnit.MICROSECONDS);
      return f;
    }

    @Override
    public CompletableFuture<?> put(byte[] key, byte[] value) {
      puts.increment();
      data.put(new String(key), value);
      return later(null);
    }

    @Override
    public CompletableFuture<Boolean> get(byte[] key, ReadConsistency consistency) {
      gets.increment();
      return later(data.containsKey(new String(key)));
    }
  }

  private static ClosedLoop.Limits limits(int clients, double seconds, long maxOps) {
    return new ClosedLoop.Limits(clients, (long) (seconds * 1e9), maxOps, 2000);
  }

  @Test
  void putsThenGetsWithAtMostOneRequestPerClient() throws Exception {
    FakeStore store = new FakeStore();
    ClosedLoop loop = new ClosedLoop(store, new Workload(100, 8), Runnable::run);
    AtomicInteger reports = new AtomicInteger();
    ClosedLoop.Result put = loop.run(ClosedLoop.Phase.parse("put", 90), limits(8, 1.2, 1_000_000),
        (elapsed, ok, errors, interval) -> reports.incrementAndGet());
    assertTrue(put.ok() > 100, "ops " + put.ok());
    assertEquals(0, put.errors());
    assertEquals(put.ok(), put.all().getTotalCount());
    assertEquals(put.ok(), put.puts().getTotalCount());
    assertEquals(0, put.gets().getTotalCount());
    assertTrue(put.all().getValueAtPercentile(50) >= 200_000, "latency includes the 200 us delay");
    assertTrue(store.maxInFlight.get() <= 8, "closed loop: at most one request per client, was " + store.maxInFlight);
    assertTrue(reports.get() >= 1, "progress reported");
    assertTrue(put.seconds() >= 1.0 && put.seconds() < 3, "seconds " + put.seconds());

    ClosedLoop.Result get = loop.run(ClosedLoop.Phase.parse("get", 90), limits(8, 0.5, 1_000_000), null);
    assertEquals(get.ok(), get.gets().getTotalCount());
    assertEquals(get.ok(), get.hits(), "every key was written by the put phase");
  }

  @Test
  void boundedByTheOperationBudget() throws Exception {
    FakeStore store = new FakeStore();
    ClosedLoop loop = new ClosedLoop(store, new Workload(100, 8), Runnable::run);
    ClosedLoop.Result r = loop.run(ClosedLoop.Phase.parse("put", 90), limits(4, 30, 500), null);
    assertEquals(500, r.ok());
    assertEquals(500, store.calls.get());
    assertTrue(r.seconds() < 10);
  }

  @Test
  void mixIssuesTheRequestedShareOfGets() throws Exception {
    FakeStore store = new FakeStore();
    ClosedLoop loop = new ClosedLoop(store, new Workload(100, 8), Runnable::run);
    ClosedLoop.Result r = loop.run(ClosedLoop.Phase.parse("mix", 90), limits(8, 30, 4000), null);
    double share = (double) r.gets().getTotalCount() / r.ok();
    assertTrue(share > 0.85 && share < 0.95, "get share " + share);
    assertEquals(r.ok(), r.gets().getTotalCount() + r.puts().getTotalCount());
  }

  @Test
  void failuresAreCountedNotRecorded() throws Exception {
    FakeStore store = new FakeStore();
    store.failEvery = 10;
    ClosedLoop loop = new ClosedLoop(store, new Workload(100, 8), Runnable::run);
    ClosedLoop.Result r = loop.run(ClosedLoop.Phase.parse("put", 90), limits(4, 30, 1000), null);
    assertEquals(100, r.errors());
    assertEquals(900, r.ok());
    assertEquals(900, r.all().getTotalCount());
    assertNotNull(r.firstError());
    assertEquals("planted failure", r.firstError().getMessage());
  }

  @Test
  void synchronousFailuresDoNotGrowTheStack() throws Exception {
    FakeStore store = new FakeStore();
    store.failEvery = 1;
    store.synchronousFailures = true;
    var pool = Executors.newFixedThreadPool(2);
    try {
      ClosedLoop loop = new ClosedLoop(store, new Workload(100, 8), pool);
      ClosedLoop.Result r = loop.run(ClosedLoop.Phase.parse("put", 90), limits(4, 30, 200_000), null);
      assertEquals(200_000, r.errors());
      assertEquals(0, r.ok());
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void parsesPhases() {
    assertEquals(ReadConsistency.STALE, ClosedLoop.Phase.parse("get-stale", 90).consistency());
    assertEquals(ReadConsistency.FOLLOWER, ClosedLoop.Phase.parse("get-follower", 90).consistency());
    assertEquals(ReadConsistency.LINEARIZABLE, ClosedLoop.Phase.parse("get", 90).consistency());
    assertEquals(0.75, ClosedLoop.Phase.parse("mix", 75).readFraction());
    assertEquals("90% linearizable get / 10% put", ClosedLoop.Phase.parse("mix", 90).describe());
    assertEquals("100% lease get", ClosedLoop.Phase.parse("get-lease", 90).describe());
    assertEquals("100% put", ClosedLoop.Phase.parse("put", 90).describe());
    assertThrows(IllegalArgumentException.class, () -> ClosedLoop.Phase.parse("scan", 90));
    assertThrows(IllegalArgumentException.class, () -> ClosedLoop.Phase.parse("get-fast", 90));
  }
}
