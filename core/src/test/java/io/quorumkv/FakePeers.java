package io.quorumkv;

import io.quorumkv.raft.Message;
import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.transport.MemoryNetwork;
import io.quorumkv.transport.MemoryTransport;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * One real node (id 1) on the in-memory network whose peers (2 and 3) are played by the test: it
 * sends the node whatever Raft messages it likes, as a leader or a candidate of any partition,
 * and sees every message the node sends them. So a test can stage exactly the messages a rule
 * is about (a stale candidate, a leader of a partition the node destroyed) and observe the
 * node's answer, or its silence, directly. The node's disk outlives {@link #restart()}.
 */
final class FakePeers implements AutoCloseable {

  static final long NODE = 1;
  private static final long[] PEERS = {2, 3};

  /** A message the node sent to a fake peer. */
  record Sent(long to, long group, Message m) {}

  private final Partitioner partitioner;
  private final MemoryNetwork network = new MemoryNetwork(7);
  private final MemoryDisk disk = new MemoryDisk();
  private final Map<Long, MemoryTransport> peers = new LinkedHashMap<>();
  private final BlockingQueue<Sent> sent = new LinkedBlockingQueue<>();
  private volatile Function<Sent, Message> replies = s -> null;
  private KvNode node;

  FakePeers(Partitioner partitioner) {
    this.partitioner = partitioner;
    for (long id : PEERS) {
      MemoryTransport t = network.transport(id);
      t.setMessageHandler((from, group, m) -> {
        Sent s = new Sent(id, group, m);
        sent.add(s);
        Message reply = replies.apply(s);
        if (reply != null) {
          t.send(NODE, group, reply);
        }
      });
      t.start();
      peers.put(id, t);
    }
  }

  /** Starts the node on its disk (bootstrapping its partitions, with voters 1, 2 and 3, the first time). */
  KvNode start() {
    KvNode.Builder b = KvNode.builder()
        .nodeId(NODE)
        .advertisedAddress(address(NODE))
        .partitioner(partitioner)
        .tickInterval(Duration.ofMillis(10))
        .electionTicks(10)
        .requestTimeout(Duration.ofSeconds(5))
        .balanceLeaders(false);
    for (long id : PEERS) {
      b.peer(id, address(id));
    }
    node = TestKitHooks.inMemory(b, disk, network).build().start();
    return node;
  }

  /** Closes the node and starts it again on the same disk. */
  KvNode restart() {
    node.close();
    sent.clear();
    return start();
  }

  /** Closes the node (gracefully: it tries to hand its leaderships away first). */
  void closeNode() {
    node.close();
  }

  /**
   * From now on each fake peer answers every message the node sends it with {@code reply}'s
   * message, if any (sent on the network's thread, after the message is recorded).
   */
  void reply(Function<Sent, Message> reply) {
    replies = reply;
  }

  NodeRuntime runtime() {
    return node.runtime();
  }

  /** Delivers {@code m} to the node as fake peer {@code from} sends it. */
  void send(long from, long group, Message m) {
    peers.get(from).send(NODE, group, m);
  }

  /**
   * The next message of {@code type} for {@code group} the node sends within {@code timeout}
   * (others are skipped), if any.
   */
  <T extends Message> Optional<T> next(Class<T> type, long group, Duration timeout) {
    return next(type, group, 0, timeout);
  }

  /** {@link #next(Class, long, Duration)} of the messages sent to fake peer {@code to} only (0: to either). */
  <T extends Message> Optional<T> next(Class<T> type, long group, long to, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (long left = timeout.toNanos(); left > 0; left = deadline - System.nanoTime()) {
      Sent s = poll(left);
      if (s != null && s.group() == group && (to == 0 || s.to() == to) && type.isInstance(s.m())) {
        return Optional.of(type.cast(s.m()));
      }
    }
    return Optional.empty();
  }

  /** Forgets what the node sent so far. */
  void clearSent() {
    sent.clear();
  }

  private Sent poll(long nanos) {
    try {
      return sent.poll(nanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }

  private static String address(long id) {
    return "127.0.0.1:" + (17000 + id); // never bound: the in-memory network routes by node id
  }

  @Override
  public void close() {
    if (node != null) {
      node.close();
    }
    peers.values().forEach(MemoryTransport::close);
    network.close();
  }
}
