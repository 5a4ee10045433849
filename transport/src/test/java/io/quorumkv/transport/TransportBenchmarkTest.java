package io.quorumkv.transport;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.Message;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongFunction;
import org.junit.jupiter.api.Test;

/**
 * Raft messages per second and round-trip latency between two nodes on loopback, for
 * heartbeats and 4 KiB appends. Runs only with {@code -Dquorumkv.bench=true}; prints one JSON
 * line per run and appends it to {@code target/transport-bench.jsonl}. Runs 3 times: on a shared
 * machine, take the best.
 *
 * <p>Throughput: node 1 sends as fast as it can while keeping at most {@value #WINDOW} messages
 * unreceived (so the bounded queue never drops), across 100 groups; node 2 counts. Latency:
 * one message at a time; node 2 answers from its handler (heartbeat -> heartbeat response,
 * append -> append response), node 1 times the round trip.
 */
class TransportBenchmarkTest {
  static {
    LeakWatch.install();
  }

  private static final int WINDOW = 4096;
  private static final long THROUGHPUT_NANOS = TimeUnit.SECONDS.toNanos(3);
  private static final int PINGS = 20_000;

  @Test
  void benchmark() throws Exception {
    assumeTrue(Boolean.getBoolean("quorumkv.bench"), "run with -Dquorumkv.bench=true");
    byte[] data = new byte[4096];
    LongFunction<Message> heartbeat = i -> new Message.Heartbeat(1, 2, 5, i, 0);
    LongFunction<Message> append = i -> new Message.AppendEntries(1, 2, 5, i, 5,
        List.of(Entry.normal(i + 1, 5, data)), i);
    for (int run = 1; run <= 3; run++) {
      try (NettyNodes c = new NettyNodes(2).startAll()) {
        String line = String.format("{\"bench\":\"transport\",\"run\":%d,\"io\":\"%s\","
            + "\"cores\":%d,\"heartbeat\":%s,\"append4KiB\":%s}",
            run, Wire.ioKind(), Runtime.getRuntime().availableProcessors(),
            measure(c, heartbeat), measure(c, append));
        System.out.println(line);
        Files.writeString(Path.of("target", "transport-bench.jsonl"), line + "\n",
            StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      }
    }
  }

  private static String measure(NettyNodes c, LongFunction<Message> make) throws Exception {
    NettyTransport a = c.node(1);
    NettyTransport b = c.node(2);
    AtomicLong received = new AtomicLong();
    b.setMessageHandler((from, group, m) -> received.incrementAndGet());
    long droppedBefore = a.metrics().dropped();
    // Warm up, then measure.
    long sent = pump(a, make, received, 0, TimeUnit.SECONDS.toNanos(1));
    drain(received, sent);
    received.set(0);
    long start = System.nanoTime();
    sent = pump(a, make, received, 0, THROUGHPUT_NANOS);
    drain(received, sent);
    double seconds = (System.nanoTime() - start) / 1e9;
    long dropped = a.metrics().dropped() - droppedBefore;

    // Round trips, one at a time.
    b.setMessageHandler((from, group, m) -> b.send(1, group, m instanceof Message.Heartbeat h
        ? new Message.HeartbeatResponse(2, 1, h.term(), h.readContext())
        : new Message.AppendEntriesResponse(2, 1, m.term(), false, m.term(), 0, 0)));
    long[] rtt = new long[PINGS];
    AtomicLong answer = new AtomicLong();
    a.setMessageHandler((from, group, m) -> answer.set(System.nanoTime()));
    for (int i = 0; i < PINGS; i++) {
      answer.set(0);
      long t0 = System.nanoTime();
      a.send(2, i % 100, make.apply(i));
      long deadline = t0 + TimeUnit.SECONDS.toNanos(5);
      long t1;
      while ((t1 = answer.get()) == 0) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("no answer to ping " + i);
        }
        Thread.onSpinWait();
      }
      rtt[i] = t1 - t0;
    }
    Arrays.sort(rtt);
    return String.format("{\"messages\":%d,\"seconds\":%.2f,\"msgsPerSec\":%.0f,\"dropped\":%d,"
        + "\"rttP50Us\":%.1f,\"rttP99Us\":%.1f,\"rttMaxUs\":%.1f}", sent, seconds,
        sent / seconds, dropped, rtt[PINGS / 2] / 1e3, rtt[PINGS * 99 / 100] / 1e3,
        rtt[PINGS - 1] / 1e3);
  }

  /** Sends for {@code nanos}, keeping at most {@link #WINDOW} messages unreceived. */
  private static long pump(NettyTransport a, LongFunction<Message> make, AtomicLong received,
      long first, long nanos) {
    long end = System.nanoTime() + nanos;
    long i = first;
    while (System.nanoTime() < end) {
      for (int k = 0; k < 256; k++) {
        long stuck = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (i - received.get() >= WINDOW) {
          if (System.nanoTime() > stuck) {
            throw new AssertionError("window not freed: sent " + (i - first) + ", received "
                + received.get() + ", " + a.metrics());
          }
          LockSupport.parkNanos(10_000);
        }
        a.send(2, i % 100, make.apply(i));
        i++;
      }
    }
    return i - first;
  }

  private static void drain(AtomicLong received, long sent) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (received.get() < sent && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
  }
}
