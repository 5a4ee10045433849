package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.PooledByteBufAllocator;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class SnapshotTransferTest {
  static {
    LeakWatch.install();
  }

  /** 256 MiB by default; 1 GiB with -Dquorumkv.long=true. */
  private static final long LARGE = Boolean.getBoolean("quorumkv.long") ? 1L << 30 : 256L << 20;

  private static final Message.InstallSnapshot INSTALL = new Message.InstallSnapshot(1, 2, 3,
      new Snapshot(new SnapshotMetadata(1000, 3, ConfState.ofVoters(Set.of(1L, 2L))),
          "checkpoint-1000".getBytes()));

  @AfterAll
  static void noLeaks() throws InterruptedException {
    LeakWatch.assertNoLeaks();
  }

  /** A sink checking every byte against the pattern and that offsets are contiguous. */
  static final class CheckingSink implements SnapshotChunkSink {
    final AtomicLong written = new AtomicLong();
    final AtomicReference<String> problem = new AtomicReference<>();
    final CountDownLatch completed = new CountDownLatch(1);
    final AtomicReference<Throwable> aborted = new AtomicReference<>();
    volatile Runnable beforeWrite = () -> {};

    @Override
    public void write(long offset, ByteBuffer data) {
      beforeWrite.run();
      if (offset != written.get()) {
        problem.compareAndSet(null, "offset " + offset + " after " + written.get());
      } else if (!PatternSnapshot.matches(offset, data)) {
        problem.compareAndSet(null, "wrong bytes at " + offset);
      }
      written.addAndGet(data.remaining());
    }

    @Override
    public void complete() {
      completed.countDown();
    }

    @Override
    public void abort(Throwable cause) {
      aborted.set(cause);
    }
  }

  @Test
  void aLargeSnapshotStreamsInBoundedMemoryWhileHeartbeatsKeepFlowing() throws Exception {
    try (NettyNodes c = new NettyNodes(2).startAll()) {
      CheckingSink sink = new CheckingSink();
      c.node(2).setSnapshotReceiver((from, group, m) -> sink);
      // Record heartbeat arrival times of group 1 (100 groups beat every 10 ms).
      List<Long> arrivals = new java.util.concurrent.CopyOnWriteArrayList<>();
      c.node(2).setMessageHandler((from, group, m) -> {
        if (m instanceof Message.Heartbeat && group == 1) {
          arrivals.add(System.nanoTime());
        } else if (m instanceof Message.InstallSnapshot) {
          c.inbox.get(2L).add(new Received(from, group, m, System.nanoTime()));
        }
      });
      HeapWatch heap = new HeapWatch();
      Thread beats = new Thread(() -> {
        while (!Thread.currentThread().isInterrupted()) {
          for (long g = 1; g <= 100; g++) {
            c.node(1).send(2, g, new Message.Heartbeat(1, 2, 3, 0, 0));
          }
          try {
            Thread.sleep(10);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "heartbeats");
      beats.start();
      Thread.sleep(200); // a baseline of heartbeats before the transfer
      long start = System.nanoTime();
      try {
        c.node(1).sendSnapshot(2, 7, INSTALL, PatternSnapshot.source(LARGE))
            .get(5, TimeUnit.MINUTES);
      } finally {
        beats.interrupt();
        beats.join();
        heap.stop();
      }
      long elapsed = System.nanoTime() - start;
      assertEquals(null, sink.problem.get());
      assertEquals(LARGE, sink.written.get());
      assertEquals(0, sink.completed.getCount());
      Received installed = c.take(2);
      assertEquals(7, installed.group());
      Messages.assertSameMessage(INSTALL, installed.message());

      long maxGapMs = 0;
      for (int i = 1; i < arrivals.size(); i++) {
        if (arrivals.get(i) > start) {
          maxGapMs = Math.max(maxGapMs, (arrivals.get(i) - arrivals.get(i - 1)) / 1_000_000);
        }
      }
      String figures = String.format("{\"snapshotBytes\":%d,\"seconds\":%.2f,\"MiBps\":%.0f,"
          + "\"maxHeartbeatGapMs\":%d,\"heartbeats\":%d,\"maxHeapAfterGcMiB\":%d,"
          + "\"maxHeapUsedMiB\":%d,\"maxNettyDirectMiB\":%d,\"xmxMiB\":%d}",
          LARGE, elapsed / 1e9, LARGE / 1048576.0 / (elapsed / 1e9), maxGapMs, arrivals.size(),
          heap.maxAfterGc >> 20, heap.maxUsed >> 20, heap.maxDirect >> 20,
          Runtime.getRuntime().maxMemory() >> 20);
      System.out.println("snapshot-transfer " + figures);
      java.nio.file.Files.writeString(java.nio.file.Path.of("target", "snapshot-transfer.json"),
          figures + "\n");
      // The data never sits on the heap: what survives a collection stays far below its size.
      assertTrue(heap.maxAfterGc < 96L << 20, figures);
      // Heartbeats every 10 ms; an election timeout is typically 10+ times that.
      assertTrue(maxGapMs < 500, figures);
    }
  }

  /**
   * Measures the heap left after every garbage collection (live data plus what young
   * collections have not yet reclaimed: retention of snapshot bytes would show here), the raw
   * heap use, and Netty's pooled direct memory.
   */
  static final class HeapWatch {
    volatile long maxAfterGc;
    volatile long maxUsed;
    volatile long maxDirect;
    private final Thread thread;
    private final List<Runnable> unregister = new java.util.ArrayList<>();

    HeapWatch() {
      Set<String> heapPools = ManagementFactory.getMemoryPoolMXBeans().stream()
          .filter(p -> p.getType() == MemoryType.HEAP).map(MemoryPoolMXBean::getName)
          .collect(java.util.stream.Collectors.toSet());
      javax.management.NotificationListener listener = (n, hb) -> {
        if (n.getType().equals(
            com.sun.management.GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION)) {
          var info = com.sun.management.GarbageCollectionNotificationInfo
              .from((javax.management.openmbean.CompositeData) n.getUserData()).getGcInfo();
          long live = info.getMemoryUsageAfterGc().entrySet().stream()
              .filter(e -> heapPools.contains(e.getKey()))
              .mapToLong(e -> e.getValue().getUsed()).sum();
          maxAfterGc = Math.max(maxAfterGc, live);
        }
      };
      for (var gc : ManagementFactory.getGarbageCollectorMXBeans()) {
        var emitter = (javax.management.NotificationEmitter) gc;
        emitter.addNotificationListener(listener, null, null);
        unregister.add(() -> {
          try {
            emitter.removeNotificationListener(listener);
          } catch (javax.management.ListenerNotFoundException e) {
            throw new AssertionError(e);
          }
        });
      }
      thread = new Thread(() -> {
        while (!Thread.currentThread().isInterrupted()) {
          maxUsed = Math.max(maxUsed,
              ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
          maxDirect = Math.max(maxDirect,
              PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory());
          try {
            Thread.sleep(20);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "heap-watch");
      thread.setDaemon(true);
      thread.start();
    }

    void stop() throws InterruptedException {
      thread.interrupt();
      thread.join();
      unregister.forEach(Runnable::run);
    }
  }

  /** Starts node 1 reaching node 2 through {@code proxy}. */
  private static NettyTransport startBehind(NettyNodes c, TcpProxy proxy) {
    Map<Long, java.net.InetSocketAddress> viaProxy = new HashMap<>(c.addresses);
    viaProxy.put(2L, proxy.address());
    NettyTransport a = c.start(new NettyTransport(c.config(1).peers(viaProxy).build()));
    c.awaitConnected(1, 2);
    return a;
  }

  @Test
  void aDroppedConnectionResumesFromTheLastAcknowledgedChunk() throws Exception {
    try (LogCapture log = new LogCapture(); NettyNodes c = new NettyNodes(2,
        b -> b.snapshotFlow(64 * 1024, 4, Duration.ofSeconds(10)))) {
      c.start(2);
      try (TcpProxy proxy = new TcpProxy(c.addresses.get(2L))) {
        NettyTransport a = startBehind(c, proxy);
        CheckingSink sink = new CheckingSink();
        AtomicInteger opened = new AtomicInteger();
        c.node(2).setSnapshotReceiver((from, group, m) -> {
          opened.incrementAndGet();
          return sink;
        });
        CountDownLatch atChunk10 = new CountDownLatch(1);
        CountDownLatch cut = new CountDownLatch(1);
        sink.beforeWrite = () -> {
          if (sink.written.get() == 10 * 64 * 1024) {
            atChunk10.countDown();
            try {
              cut.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
        };
        long size = 4L << 20;
        CompletableFuture<Void> done = a.sendSnapshot(2, 7, INSTALL, PatternSnapshot.source(size));
        assertTrue(atChunk10.await(10, TimeUnit.SECONDS));
        int before = proxy.connections();
        proxy.cutAll();
        cut.countDown();
        done.get(30, TimeUnit.SECONDS);
        assertEquals(null, sink.problem.get());
        assertEquals(size, sink.written.get());
        assertEquals(1, opened.get(), "a resumed transfer reuses its sink");
        assertTrue(proxy.connections() > before, "the sender redialled");
        assertTrue(log.awaitLine("node 2: node 1 resumes snapshot for group 7 at offset"));
        long resentAtMost = a.metrics().snapshotChunksSent() - size / (64 * 1024);
        assertTrue(resentAtMost <= 4, resentAtMost + " chunks resent; the window is 4");
      }
    }
  }

  @Test
  void aCorruptedChunkIsCaughtByItsChecksumAndResent() throws Exception {
    try (LogCapture log = new LogCapture(); NettyNodes c = new NettyNodes(2,
        b -> b.snapshotFlow(64 * 1024, 4, Duration.ofSeconds(10)))) {
      c.start(2);
      try (TcpProxy proxy = new TcpProxy(c.addresses.get(2L))) {
        NettyTransport a = startBehind(c, proxy);
        CheckingSink sink = new CheckingSink();
        c.node(2).setSnapshotReceiver((from, group, m) -> sink);
        proxy.corruptOnce(1_000_000); // inside the 16th chunk's data
        long size = 2L << 20;
        a.sendSnapshot(2, 7, INSTALL, PatternSnapshot.source(size)).get(30, TimeUnit.SECONDS);
        assertEquals(null, sink.problem.get());
        assertEquals(size, sink.written.get());
        assertTrue(log.awaitLine("node 2: closing snapshot connection from node 1",
            "fails its CRC32C"));
        assertTrue(c.node(2).metrics().framesRejected() >= 1);
      }
    }
  }

  @Test
  void closingEitherSideMidTransferFailsItAndReleasesEverything() throws Exception {
    for (long closing : new long[] {2, 1}) {
      try (NettyNodes c = new NettyNodes(2,
          b -> b.snapshotFlow(64 * 1024, 4, Duration.ofMillis(500))).startAll()) {
        CheckingSink sink = new CheckingSink();
        c.node(2).setSnapshotReceiver((from, group, m) -> sink);
        CountDownLatch midway = new CountDownLatch(1);
        sink.beforeWrite = () -> {
          if (sink.written.get() == 5 * 64 * 1024) {
            midway.countDown();
          }
        };
        CompletableFuture<Void> done =
            c.node(1).sendSnapshot(2, 7, INSTALL, PatternSnapshot.source(64L << 20));
        assertTrue(midway.await(10, TimeUnit.SECONDS));
        c.node(closing).close();
        ExecutionException e = assertThrows(ExecutionException.class,
            () -> done.get(10, TimeUnit.SECONDS));
        TransportException te = assertInstanceOf(TransportException.class, e.getCause());
        assertEquals(closing == 1 ? TransportException.Reason.CLOSED
            : TransportException.Reason.UNREACHABLE, te.reason(), te.getMessage());
        NettyNodes.await(() -> sink.aborted.get() != null, "the receiver's sink is aborted");
        assertEquals(1, sink.completed.getCount());
      }
    }
  }

  @Test
  void aReceiverThatRefusesFailsTheSender() throws Exception {
    try (NettyNodes c = new NettyNodes(2).startAll()) {
      c.node(2).setSnapshotReceiver((from, group, m) -> {
        throw new IOException("disk full");
      });
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> c.node(1).sendSnapshot(2, 7, INSTALL, PatternSnapshot.source(1 << 20))
              .get(10, TimeUnit.SECONDS));
      TransportException te = assertInstanceOf(TransportException.class, e.getCause());
      assertEquals(TransportException.Reason.REMOTE_ERROR, te.reason());
      assertTrue(te.getMessage().contains("disk full"), te.getMessage());
    }
  }

  @Test
  void aTransferThatCannotProgressFailsAndTheReceiverDiscardsIt() throws Exception {
    try (NettyNodes c = new NettyNodes(2,
        b -> b.snapshotFlow(64 * 1024, 4, Duration.ofMillis(300))).startAll()) {
      CheckingSink sink = new CheckingSink();
      c.node(2).setSnapshotReceiver((from, group, m) -> sink);
      c.node(1).faults().blockOneWay(1, 2);
      ExecutionException e = assertThrows(ExecutionException.class,
          () -> c.node(1).sendSnapshot(2, 7, INSTALL, PatternSnapshot.source(1 << 20))
              .get(10, TimeUnit.SECONDS));
      TransportException te = assertInstanceOf(TransportException.class, e.getCause());
      assertEquals(TransportException.Reason.UNREACHABLE, te.reason());
      assertTrue(te.getMessage().contains("no progress"), te.getMessage());
      NettyNodes.await(() -> sink.aborted.get() != null, "the receiver aborts its sink");
      assertEquals(1, sink.completed.getCount());
    }
  }
}
