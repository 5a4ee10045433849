package io.quorumkv;

import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.transport.MemoryNetwork;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * An in-process cluster of {@link KvNode}s over a {@link MemoryNetwork} with simulated disks, for
 * tests: fast ticks, crash and restart with what was synced, network faults, and a
 * {@link KvClient} whose "connections" call the nodes directly.
 */
final class MemoryCluster implements AutoCloseable {

  final MemoryNetwork network;
  private final Partitioner partitioner;
  private final Map<Long, MemoryDisk> disks = new TreeMap<>();
  private final Map<Long, KvNode> nodes = new TreeMap<>();
  private final Map<Long, String> addresses = new TreeMap<>();
  private final Consumer<KvNode.Builder> customize;

  MemoryCluster(int size, Partitioner partitioner, long seed) {
    this(size, partitioner, seed, b -> {});
  }

  MemoryCluster(int size, Partitioner partitioner, long seed, Consumer<KvNode.Builder> customize) {
    this.network = new MemoryNetwork(seed);
    this.partitioner = partitioner;
    this.customize = customize;
    for (long id = 1; id <= size; id++) {
      addresses.put(id, "127.0.0.1:" + (17000 + id));
    }
  }

  /** Builds and starts every initial member. */
  MemoryCluster start() {
    for (long id : addresses.keySet()) {
      startNode(id, false);
    }
    return this;
  }

  KvNode startNode(long id, boolean join) {
    addresses.putIfAbsent(id, "127.0.0.1:" + (17000 + id));
    MemoryDisk disk = disks.computeIfAbsent(id, x -> new MemoryDisk());
    KvNode.Builder b = KvNode.builder()
        .nodeId(id)
        .advertisedAddress(addresses.get(id))
        .join(join)
        .storageEngine(StorageEngineType.MEMORY)
        .partitioner(partitioner)
        .tickInterval(Duration.ofMillis(10))
        .electionTicks(10)
        .requestTimeout(Duration.ofSeconds(5))
        .sessionTimeout(Duration.ofMinutes(5))
        .syncStallTimeout(Duration.ofSeconds(1))
        .overrides(o -> {
          o.disk = disk;
          o.transport = c -> network.transport(c.nodeId());
        });
    if (!join) {
      addresses.forEach((peer, address) -> {
        if (peer != id && peer <= initialSize()) {
          b.peer(peer, address);
        }
      });
    }
    customize.accept(b);
    KvNode node = b.build().start();
    nodes.put(id, node);
    return node;
  }

  private long initialSize;

  private long initialSize() {
    if (initialSize == 0) {
      initialSize = addresses.size();
    }
    return initialSize;
  }

  String address(long id) {
    return addresses.get(id);
  }

  KvNode node(long id) {
    return nodes.get(id);
  }

  /** The simulated disk of node {@code id} (to stall its syncs). */
  MemoryDisk disk(long id) {
    return disks.get(id);
  }

  List<KvNode> nodes() {
    return new ArrayList<>(nodes.values());
  }

  /** Stops a node abruptly: unsynced writes on its disk are lost. */
  void crash(long id) {
    KvNode n = nodes.remove(id);
    if (n != null) {
      n.crash();
    }
  }

  /** Closes a node gracefully (leadership handed away). */
  void stop(long id) {
    KvNode n = nodes.remove(id);
    if (n != null) {
      n.close();
    }
  }

  KvNode restart(long id) {
    return startNode(id, false);
  }

  /** A client talking to the given nodes directly, as if over the transport's client connection. */
  KvClient client(long... ids) {
    List<String> addrs = new ArrayList<>();
    for (long id : ids) {
      addrs.add(addresses.get(id));
    }
    return KvClient.builder().addresses(addrs).requestTimeout(Duration.ofSeconds(5))
        .connector(new RemoteExecutor.Connector() {
          @Override
          public CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout) {
            for (Map.Entry<Long, String> e : addresses.entrySet()) {
              if (e.getValue().equals(address)) {
                KvNode n = nodes.get(e.getKey());
                if (n == null) {
                  return CompletableFuture.failedFuture(new java.io.IOException(address + " is down"));
                }
                return n.runtime().serveClient(request);
              }
            }
            return CompletableFuture.failedFuture(new java.io.IOException("unknown address " + address));
          }

          @Override
          public void close() {}
        }).build();
  }

  /** Waits until every partition has a leader that every running node agrees on. */
  void awaitLeaders(Duration timeout) {
    await(timeout, "every partition to have one agreed leader", () -> {
      Map<Long, Long> leaders = new TreeMap<>();
      for (KvNode n : nodes.values()) {
        for (PartitionStatus p : n.status().partitions()) {
          if (p.leader() == 0) {
            return false;
          }
          Long prev = leaders.putIfAbsent(p.partitionId(), p.leader());
          if (prev != null && prev != p.leader()) {
            return false;
          }
        }
      }
      return !leaders.isEmpty();
    });
  }

  static void await(Duration timeout, String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out waiting for " + what);
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }
  }

  @Override
  public void close() {
    for (KvNode n : nodes.values()) {
      n.close();
    }
    nodes.clear();
    network.close();
  }
}
