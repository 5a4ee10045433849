package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** {@link ReadBatcher}: one batch outstanding, and no read ever joins a batch already started. */
class ReadBatcherTest {

  /** A read: its id and how many batches had been started when it was added. */
  private record Read(int id, int startedBefore) {}

  @Test
  void everyReadGoesIntoOneBatchStartedAfterItArrivedWithOneBatchOutstandingAtATime() throws Exception {
    ReadBatcher<Read> batcher = new ReadBatcher<>();
    AtomicInteger started = new AtomicInteger();
    AtomicInteger outstanding = new AtomicInteger();
    AtomicInteger maxOutstanding = new AtomicInteger();
    Map<Integer, Integer> batchOf = new ConcurrentHashMap<>();
    List<String> violations = java.util.Collections.synchronizedList(new ArrayList<>());
    ExecutorService answering = Executors.newSingleThreadExecutor();
    ExecutorService adders = Executors.newFixedThreadPool(4);
    try {
      java.util.concurrent.atomic.AtomicReference<Consumer<List<Read>>> start = new java.util.concurrent.atomic.AtomicReference<>();
      start.set(batch -> {
        int n = started.incrementAndGet();
        maxOutstanding.accumulateAndGet(outstanding.incrementAndGet(), Math::max);
        // The read index is answered later, on another thread (as the loop or the transport does),
        // and the batch's reads are served then: whatever is in the batch by then gets its index.
        answering.execute(() -> {
          Thread.onSpinWait();
          for (Read r : List.copyOf(batch)) {
            if (batchOf.put(r.id(), n) != null) {
              violations.add("read " + r.id() + " in two batches");
            }
            if (n <= r.startedBefore()) {
              violations.add("read " + r.id() + " joined batch " + n + ", started before it arrived");
            }
          }
          outstanding.decrementAndGet();
          batcher.done(start.get());
        });
      });
      int perThread = 5_000;
      List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        int base = t * perThread;
        fs.add(adders.submit(() -> {
          for (int i = 0; i < perThread; i++) {
            batcher.add(new Read(base + i, started.get()), start.get());
          }
        }));
      }
      for (java.util.concurrent.Future<?> f : fs) {
        f.get(30, TimeUnit.SECONDS);
      }
      MemoryCluster.await(java.time.Duration.ofSeconds(30), "every batch answered",
          () -> !violations.isEmpty() || batchOf.size() == 4 * perThread && outstanding.get() == 0);
      assertEquals(List.of(), violations);
      assertEquals(4 * perThread, batchOf.size(), "every read was started");
      assertEquals(1, maxOutstanding.get(), "batches outstanding at once");
      assertTrue(started.get() < 4 * perThread, "reads shared batches: " + started.get() + " batches");
    } finally {
      answering.shutdownNow();
      adders.shutdownNow();
    }
  }
}
