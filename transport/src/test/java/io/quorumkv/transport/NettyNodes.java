package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.UnaryOperator;

/**
 * A test fixture: Netty transports of nodes 1..n on loopback, each recording what it receives.
 */
final class NettyNodes implements AutoCloseable {

  static final long CLUSTER = 7;

  final Map<Long, InetSocketAddress> addresses = new HashMap<>();
  final Map<Long, NettyTransport> nodes = new ConcurrentHashMap<>();
  final Map<Long, BlockingQueue<Received>> inbox = new ConcurrentHashMap<>();
  private final UnaryOperator<NettyTransportConfig.Builder> tweak;

  NettyNodes(int n) {
    this(n, b -> b);
  }

  NettyNodes(int n, UnaryOperator<NettyTransportConfig.Builder> tweak) {
    this.tweak = tweak;
    for (long id = 1; id <= n; id++) {
      addresses.put(id, new InetSocketAddress("127.0.0.1", freePort()));
      inbox.put(id, new LinkedBlockingQueue<>());
    }
  }

  static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  NettyTransportConfig.Builder config(long id) {
    return tweak.apply(NettyTransportConfig.builder(id, CLUSTER)
        .bindAddress(addresses.get(id)).peers(addresses)
        .reconnectBackoff(java.time.Duration.ofMillis(20), java.time.Duration.ofMillis(200)));
  }

  /** Creates and starts node {@code id} with the fixture's configuration. */
  NettyTransport start(long id) {
    return start(new NettyTransport(config(id).build()));
  }

  NettyTransport start(NettyTransport t) {
    long id = t.nodeId();
    BlockingQueue<Received> q = inbox.get(id);
    t.setMessageHandler((from, group, m) -> q.add(new Received(from, group, m, System.nanoTime())));
    t.start();
    nodes.put(id, t);
    return t;
  }

  NettyTransport node(long id) {
    return nodes.get(id);
  }

  /** Starts every node and waits until each pair is connected. */
  NettyNodes startAll() {
    addresses.keySet().forEach(this::start);
    for (long a : addresses.keySet()) {
      for (long b : addresses.keySet()) {
        if (a != b) {
          awaitConnected(a, b);
        }
      }
    }
    return this;
  }

  void awaitConnected(long a, long b) {
    await(() -> nodes.get(a).isConnected(b), "node " + a + " connected to node " + b);
  }

  static void await(BooleanSupplier condition, String what) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "timed out waiting for: " + what);
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
  }

  Received take(long id) throws InterruptedException {
    Received r = inbox.get(id).poll(10, TimeUnit.SECONDS);
    assertTrue(r != null, "node " + id + " received nothing within 10 s");
    return r;
  }

  @Override
  public void close() {
    nodes.values().forEach(NettyTransport::close);
  }
}
