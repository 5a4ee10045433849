package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import io.quorumkv.raft.ConfState;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class MemoryTransportTest {

  private final MemoryNetwork network = new MemoryNetwork(42);
  private final List<String> received = new CopyOnWriteArrayList<>();

  @AfterEach
  void close() {
    network.close();
  }

  private MemoryTransport node(long id) {
    MemoryTransport t = network.transport(id);
    t.setMessageHandler((from, group, m) -> received.add(id + "<-" + from + "/" + group + ":" + m.term()));
    t.setRequestHandler((from, payload) -> CompletableFuture.completedFuture(
        (id + " answers " + from + ": " + new String(payload)).getBytes()));
    t.start();
    return t;
  }

  private static Message hb(long from, long to, long term) {
    return new Message.Heartbeat(from, to, term, 0, 0);
  }

  private void awaitReceived(int n) throws InterruptedException {
    for (int i = 0; i < 500 && received.size() < n; i++) {
      Thread.sleep(5);
    }
  }

  @Test
  void deliversInOrderPerLink() throws Exception {
    MemoryTransport a = node(1);
    node(2);
    for (int term = 1; term <= 100; term++) {
      a.send(2, 7, hb(1, 2, term));
    }
    awaitReceived(100);
    for (int term = 1; term <= 100; term++) {
      assertEquals("2<-1/7:" + term, received.get(term - 1));
    }
    assertEquals(100, a.metrics().messagesSent());
  }

  @Test
  @SuppressWarnings("unchecked") // Set<Long>... of the fault API
  void partitionDropsBothWaysAndHealRestores() throws Exception {
    MemoryTransport a = node(1);
    MemoryTransport b = node(2);
    node(3);
    network.faults().partition(Set.of(1L), Set.of(2L, 3L));
    a.send(2, 1, hb(1, 2, 1));
    b.send(1, 1, hb(2, 1, 1));
    b.send(3, 1, hb(2, 3, 1));
    awaitReceived(1);
    Thread.sleep(20);
    assertEquals(List.of("3<-2/1:1"), received);
    assertEquals(1, a.metrics().droppedByFault());
    network.faults().heal();
    a.send(2, 1, hb(1, 2, 2));
    awaitReceived(2);
    assertEquals("2<-1/1:2", received.get(1));
  }

  @Test
  void oneWayBlockAndTextCommands() throws Exception {
    MemoryTransport a = node(1);
    MemoryTransport b = node(2);
    a.faults().execute("block 1 2");
    a.send(2, 1, hb(1, 2, 1));
    b.send(1, 1, hb(2, 1, 1));
    awaitReceived(1);
    Thread.sleep(20);
    assertEquals(List.of("1<-2/1:1"), received);
    assertThrows(IllegalArgumentException.class, () -> a.faults().execute("block 1"));
    assertThrows(IllegalArgumentException.class, () -> a.faults().execute("drop 1 2 1.5"));
    assertThrows(IllegalArgumentException.class, () -> a.faults().execute("explode"));
  }

  @Test
  void dropRateIsSeededAndRoughlyRight() throws Exception {
    MemoryTransport a = node(1);
    node(2);
    a.faults().execute("drop 1 2 0.3");
    for (int i = 0; i < 2000; i++) {
      a.send(2, 1, hb(1, 2, i));
    }
    long dropped = a.metrics().droppedByFault();
    assertTrue(dropped > 450 && dropped < 750, "dropped " + dropped + " of 2000 at p=0.3");
    awaitReceived((int) (2000 - dropped));
    assertEquals(2000 - dropped, received.size());
  }

  @Test
  void duplicatesAndReorderingAreInjected() throws Exception {
    MemoryTransport a = node(1);
    node(2);
    a.faults().execute("duplicate 1 2 1");
    a.send(2, 1, hb(1, 2, 1));
    awaitReceived(2);
    assertEquals(List.of("2<-1/1:1", "2<-1/1:1"), received);
    a.faults().heal();
    received.clear();
    a.faults().execute("reorder 1 2 30");
    for (int term = 1; term <= 200; term++) {
      a.send(2, 1, hb(1, 2, term));
    }
    awaitReceived(200);
    assertEquals(200, received.size());
    List<String> inOrder = new java.util.ArrayList<>();
    for (int term = 1; term <= 200; term++) {
      inOrder.add("2<-1/1:" + term);
    }
    assertTrue(!received.equals(inOrder), "200 messages with 0-30 ms of jitter kept their order");
    assertEquals(new java.util.HashSet<>(inOrder), new java.util.HashSet<>(received));
  }

  @Test
  void delayHoldsMessagesBack() throws Exception {
    MemoryTransport a = node(1);
    node(2);
    a.faults().delay(1, 2, Duration.ofMillis(100));
    long start = System.nanoTime();
    a.send(2, 1, hb(1, 2, 1));
    awaitReceived(1);
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertEquals(1, received.size());
    assertTrue(ms >= 95, "delivered after " + ms + " ms");
  }

  @Test
  void requestsAnswerAndTimeOut() throws Exception {
    MemoryTransport a = node(1);
    node(2);
    byte[] answer = a.request(2, "ping".getBytes(), Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
    assertEquals("2 answers 1: ping", new String(answer));

    a.faults().blockOneWay(2, 1);
    ExecutionException timedOut = assertThrows(ExecutionException.class,
        () -> a.request(2, "ping".getBytes(), Duration.ofMillis(50)).get(5, TimeUnit.SECONDS));
    assertInstanceOf(TimeoutException.class, timedOut.getCause());

    ExecutionException unreachable = assertThrows(ExecutionException.class,
        () -> a.request(9, "ping".getBytes(), Duration.ofMillis(50)).get(5, TimeUnit.SECONDS));
    assertEquals(TransportException.Reason.UNREACHABLE,
        ((TransportException) unreachable.getCause()).reason());
  }

  @Test
  void remoteHandlerFailureIsReported() throws Exception {
    MemoryTransport a = node(1);
    MemoryTransport b = node(2);
    b.setRequestHandler((from, p) -> { throw new IllegalStateException("not the leader"); });
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> a.request(2, new byte[0], Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS));
    TransportException te = (TransportException) e.getCause();
    assertEquals(TransportException.Reason.REMOTE_ERROR, te.reason());
    assertEquals("not the leader", te.getMessage());
  }

  @Test
  void snapshotIsStreamedThenAnnounced() throws Exception {
    MemoryTransport a = node(1);
    MemoryTransport b = node(2);
    ByteArrayOutputStream written = new ByteArrayOutputStream();
    b.setSnapshotReceiver((from, group, m) -> new SnapshotChunkSink() {
      @Override
      public void write(long offset, ByteBuffer data) {
        assertEquals(written.size(), offset);
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        written.write(bytes, 0, bytes.length);
      }

      @Override
      public void complete() {
        received.add("complete " + written.size());
      }

      @Override
      public void abort(Throwable cause) {
        received.add("abort");
      }
    });
    byte[] data = new byte[200_000];
    new java.util.Random(1).nextBytes(data);
    Message.InstallSnapshot install = new Message.InstallSnapshot(1, 2, 3,
        new Snapshot(new SnapshotMetadata(10, 3, ConfState.ofVoters(Set.of(1L, 2L))), new byte[0]));
    a.sendSnapshot(2, 5, install, new ByteArraySnapshotSource(data)).get(5, TimeUnit.SECONDS);
    assertEquals(List.of("complete 200000", "2<-1/5:3"), received);
    assertArrayEquals(data, written.toByteArray());
  }
}
