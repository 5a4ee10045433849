package io.quorumkv.transport;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * An in-process network of {@link MemoryTransport}s, for tests and simulations of core.
 *
 * <p>One network thread delivers every message, request and response (the "I/O thread" of the
 * {@link RaftTransport} contract), so handlers of all nodes run one at a time. Fault rules are
 * shared by the whole network: {@link #faults()} is the same object as every transport's
 * {@link RaftTransport#faults()}. Drop, duplicate and jitter decisions come from a generator
 * seeded by the constructor, so a run with the same seed and the same sends, made in the same
 * order, meets the same faults.
 */
public final class MemoryNetwork implements AutoCloseable {

  /** Default bound on messages in flight on one directed link. */
  public static final int DEFAULT_LINK_QUEUE_LIMIT = 10_000;

  private final Map<Long, MemoryTransport> nodes = new ConcurrentHashMap<>();
  private final LinkFaults faults;
  private final int linkQueueLimit;
  private final ScheduledExecutorService network;
  private final ExecutorService snapshots;

  /** A network whose drop decisions are seeded by {@code seed}. */
  public MemoryNetwork(long seed) {
    this(seed, DEFAULT_LINK_QUEUE_LIMIT);
  }

  /**
   * A network whose drop decisions are seeded by {@code seed}, holding at most
   * {@code linkQueueLimit} undelivered messages per directed link (more are dropped and counted).
   */
  public MemoryNetwork(long seed, int linkQueueLimit) {
    if (linkQueueLimit <= 0) {
      throw new IllegalArgumentException("linkQueueLimit must be positive: " + linkQueueLimit);
    }
    SplittableRandom random = new SplittableRandom(seed);
    // Synchronised because sends come from any thread; the sequence is still the seed's.
    this.faults = new LinkFaults(() -> {
      synchronized (random) {
        return random.nextDouble();
      }
    });
    this.linkQueueLimit = linkQueueLimit;
    this.network = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "memory-network"));
    this.snapshots = Executors.newSingleThreadExecutor(r -> daemon(r, "memory-snapshots"));
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  /** Creates the transport of node {@code nodeId} on this network. */
  public MemoryTransport transport(long nodeId) {
    if (nodeId <= 0) {
      throw new IllegalArgumentException("node id must be positive: " + nodeId);
    }
    MemoryTransport t = new MemoryTransport(nodeId, this);
    if (nodes.putIfAbsent(nodeId, t) != null) {
      throw new IllegalStateException("node " + nodeId + " already has a transport");
    }
    return t;
  }

  /** The fault rules of the whole network. */
  public FaultInjector faults() {
    return faults;
  }

  /** Stops the network threads; undelivered messages are lost. */
  @Override
  public void close() {
    nodes.values().forEach(MemoryTransport::close);
    network.shutdownNow();
    snapshots.shutdownNow();
    try {
      network.awaitTermination(5, TimeUnit.SECONDS);
      snapshots.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  LinkFaults linkFaults() {
    return faults;
  }

  int linkQueueLimit() {
    return linkQueueLimit;
  }

  ScheduledExecutorService networkThread() {
    return network;
  }

  ExecutorService snapshotThread() {
    return snapshots;
  }

  /** The started, open transport of {@code nodeId}, or null. */
  MemoryTransport live(long nodeId) {
    MemoryTransport t = nodes.get(nodeId);
    return t != null && t.isLive() ? t : null;
  }

  void remove(MemoryTransport t) {
    nodes.remove(t.nodeId(), t);
  }
}
