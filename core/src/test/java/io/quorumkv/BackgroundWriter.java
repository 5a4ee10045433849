package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/** Writes distinct keys from a thread until closed, remembering which were acknowledged. */
final class BackgroundWriter implements AutoCloseable {

  private static final Duration WAIT = Duration.ofSeconds(30);

  final Map<String, String> acked = new ConcurrentHashMap<>();
  final AtomicInteger unknown = new AtomicInteger();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final Thread thread;

  BackgroundWriter(KvStore store, String prefix) {
    thread = new Thread(() -> {
      for (int i = 0; !stop.get() && i < 100_000; i++) {
        String k = prefix + String.format("%05d", i);
        try {
          store.put(k, "v" + i);
          acked.put(k, "v" + i);
        } catch (KvException e) {
          unknown.incrementAndGet();
        }
      }
    }, "test-writer-" + prefix);
    thread.start();
  }

  void awaitAcked(int n) {
    MemoryCluster.await(WAIT, n + " acknowledged writes", () -> acked.size() >= n);
  }

  @Override
  public void close() throws InterruptedException {
    stop.set(true);
    thread.join(20_000);
  }

  static void assertAllPresent(KvStore store, Map<String, String> acked) {
    for (Map.Entry<String, String> e : acked.entrySet()) {
      assertEquals(Optional.of(e.getValue()), store.get(e.getKey()), e.getKey());
    }
  }
}
