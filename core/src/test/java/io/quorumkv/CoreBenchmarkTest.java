package io.quorumkv;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Throughput and latency of three in-process nodes over Netty and RocksDB on loopback (fsync on).
 * Off by default; run with
 * {@code mvn -pl core -am verify -Dtest=CoreBenchmarkTest -Dquorumkv.bench=true
 * -Dsurefire.failIfNoSpecifiedTests=false}. Prints its figures to the test output file.
 */
class CoreBenchmarkTest {

  @TempDir
  Path dir;

  @Test
  void putThroughputAndReadLatencies() throws Exception {
    assumeTrue(Boolean.getBoolean("quorumkv.bench"), "benchmark: -Dquorumkv.bench=true");
    Map<Long, String> addresses = new TreeMap<>();
    for (long id = 1; id <= 3; id++) {
      try (ServerSocket s = new ServerSocket(0)) {
        addresses.put(id, "127.0.0.1:" + s.getLocalPort());
      }
    }
    List<KvNode> nodes = new ArrayList<>();
    try {
      for (long id = 1; id <= 3; id++) {
        KvNode.Builder b = KvNode.builder().nodeId(id).advertisedAddress(addresses.get(id))
            .dataDir(dir.resolve("n" + id)).partitioner(HashPartitioner.of(3));
        long self = id;
        addresses.forEach((p, a) -> {
          if (p != self) {
            b.peer(p, a);
          }
        });
        nodes.add(b.build().start());
      }
      MemoryCluster.await(Duration.ofSeconds(20), "leaders", () -> nodes.stream()
          .allMatch(n -> n.status().partitions().stream().allMatch(p -> p.leader() != 0)));
      KvNode n = nodes.get(0);
      byte[] value = new byte[100];
      for (int concurrency : new int[] {1, 64}) {
        Semaphore window = new Semaphore(concurrency);
        AtomicLong done = new AtomicLong();
        long[] lat = new long[2_000_000];
        AtomicLong li = new AtomicLong();
        long start = System.nanoTime();
        long end = start + Duration.ofSeconds(5).toNanos();
        int i = 0;
        while (System.nanoTime() < end) {
          window.acquire();
          long t0 = System.nanoTime();
          CompletableFuture<Void> f = n.putAsync(("key-" + (i++ % 10_000)).getBytes(), value);
          f.whenComplete((v, e) -> {
            long idx = li.getAndIncrement();
            if (idx < lat.length) {
              lat[(int) idx] = System.nanoTime() - t0;
            }
            done.incrementAndGet();
            window.release();
          });
        }
        window.acquire(concurrency);
        double secs = (System.nanoTime() - start) / 1e9;
        long[] sorted = Arrays.copyOf(lat, (int) Math.min(li.get(), lat.length));
        Arrays.sort(sorted);
        System.out.printf("put, %d in flight: %.0f ops/s, p50 %.2f ms, p99 %.2f ms%n", concurrency,
            done.get() / secs, sorted[sorted.length / 2] / 1e6, sorted[(int) (sorted.length * 0.99)] / 1e6);
      }
      for (ReadConsistency level : ReadConsistency.values()) {
        KvNode reader = nodes.get(1);
        int count = 2000;
        long[] lat = new long[count];
        for (int k = 0; k < count; k++) {
          long t0 = System.nanoTime();
          reader.get(("key-" + k).getBytes(), level);
          lat[k] = System.nanoTime() - t0;
        }
        Arrays.sort(lat);
        System.out.printf("get %s (sequential, via node 2): p50 %.3f ms, p99 %.3f ms%n", level,
            lat[count / 2] / 1e6, lat[(int) (count * 0.99)] / 1e6);
      }
    } finally {
      nodes.forEach(KvNode::close);
    }
  }
}
