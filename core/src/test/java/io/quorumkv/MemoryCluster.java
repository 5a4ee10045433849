package io.quorumkv;

import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The in-memory {@link TestCluster} (simulated disks, in-memory network, 10 ms ticks) with the
 * 5 s request timeout and the small API core's own tests were written against.
 */
final class MemoryCluster implements AutoCloseable {

  private final TestCluster cluster;

  MemoryCluster(int size, Partitioner partitioner, long seed) {
    this(size, partitioner, seed, b -> {});
  }

  MemoryCluster(int size, Partitioner partitioner, long seed, Consumer<KvNode.Builder> customize) {
    this.cluster = TestCluster.builder()
        .nodes(size)
        .storage(StorageEngineType.MEMORY)
        .partitioner(partitioner)
        .seed(seed)
        .requestTimeout(Duration.ofSeconds(5))
        .configure(customize)
        .build();
  }

  /** Builds and starts every initial member. */
  MemoryCluster start() {
    cluster.start();
    return this;
  }

  /** Starts node {@code id}: a new node in join mode, or an initial one again. */
  KvNode startNode(long id, boolean join) {
    return join ? cluster.launch(id) : cluster.restart(id);
  }

  String address(long id) {
    return cluster.address(id);
  }

  KvNode node(long id) {
    return cluster.node(id);
  }

  /** The simulated disk of running node {@code id} (to stall its syncs). */
  MemoryDisk disk(long id) {
    return node(id).runtime().overrides().disk;
  }

  /** Sleeps; an interrupt fails the test. */
  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted");
    }
  }

  List<KvNode> nodes() {
    return cluster.nodes();
  }

  /** Stops a node abruptly: unsynced writes on its disk are lost. */
  void crash(long id) {
    cluster.crash(id);
  }

  /** Closes a node gracefully (leadership handed away). */
  void stop(long id) {
    cluster.stop(id);
  }

  KvNode restart(long id) {
    return cluster.restart(id);
  }

  /** Drops every message {@code from} sends to {@code to}, not the reverse (kept across restarts). */
  void blockOneWay(long from, long to) {
    cluster.blockOneWay(from, to);
  }

  /** Removes every network fault. */
  void heal() {
    cluster.heal();
  }

  /** A client talking to the given nodes directly, as if over the transport's client connection. */
  KvClient client(long... ids) {
    return cluster.client(ids);
  }

  /** Waits until every partition has a leader that every running node agrees on. */
  void awaitLeaders(Duration timeout) {
    cluster.awaitLeaders(timeout);
  }

  static void await(Duration timeout, String what, BooleanSupplier condition) {
    TestCluster.await(timeout, what, condition);
  }

  /** Waits for {@code latch}, at most 30 s (a stuck hook must not hang the build). */
  static void await(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Partition {@code id} as node {@code n} sees it. */
  static PartitionStatus partition(KvNode n, long id) {
    return n.status().partitions().stream().filter(p -> p.partitionId() == id).findFirst().orElseThrow();
  }

  /**
   * Cuts node {@code isolated} off from the other two nodes of a 3-node cluster, waits (15 s at
   * most) for a leader of partition 1 among them, and has it write {@code key}.
   */
  static void isolateAndWrite(MemoryCluster c, long isolated, String key, String value) {
    Set<Long> rest = new TreeSet<>(List.of(1L, 2L, 3L));
    rest.remove(isolated);
    Fault cut = new Fault.Partition(List.of(Set.of(isolated), rest));
    for (long id = 1; id <= 3; id++) {
      c.node(id).injectFault(id, cut);
    }
    long other = rest.iterator().next();
    await(Duration.ofSeconds(15), "a new leader on the majority side",
        () -> rest.contains(partition(c.node(other), 1).leader()));
    c.node(partition(c.node(other), 1).leader()).put(key, value);
  }

  /** The leader of {@code partition} as the first node sees it. */
  static long leaderOf(MemoryCluster c, long partition) {
    return partition(c.nodes().get(0), partition).leader();
  }

  @Override
  public void close() {
    cluster.close();
  }
}
