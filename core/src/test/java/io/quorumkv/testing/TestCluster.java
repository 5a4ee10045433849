package io.quorumkv.testing;

import io.quorumkv.Fault;
import io.quorumkv.HashPartitioner;
import io.quorumkv.KvClient;
import io.quorumkv.KvNode;
import io.quorumkv.Partitioner;
import io.quorumkv.PartitionStatus;
import io.quorumkv.StorageEngineType;
import io.quorumkv.TestKitHooks;
import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.transport.MemoryNetwork;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * N {@link KvNode}s in this JVM, for tests: either {@link StorageEngineType#MEMORY} nodes on an
 * in-memory network (simulated disks that lose unsynced writes on a crash; fast ticks), or
 * {@link StorageEngineType#ROCKSDB} nodes over real Netty on 127.0.0.1, each in its own temporary
 * directory. Both kinds take the same faults: partitions, one-way blocks, crashes and restarts,
 * membership changes. Use it with try-with-resources:
 *
 * <pre>{@code
 * try (TestCluster cluster = TestCluster.builder().nodes(3).build().start()) {
 *   cluster.awaitLeaders(Duration.ofSeconds(10));
 *   cluster.client().put("k", "v");
 *   cluster.partition(Set.of(1L), Set.of(2L, 3L));
 *   ...
 * }
 * }</pre>
 *
 * <p>Node ids are 1..N; nodes added later get the next ids. Thread-safe: client threads may call
 * {@link #node(long)} and {@link #client()} while another thread injects faults.
 */
public final class TestCluster implements AutoCloseable {

  private final Builder config;
  private final MemoryNetwork network;
  private final Path dataDir;
  private final boolean ownsDataDir;
  private final Set<Long> initialMembers;
  private final Map<Long, String> addresses = new ConcurrentHashMap<>();
  private final Map<Long, MemoryDisk> disks = new ConcurrentHashMap<>();
  /** The latest instance of every node ever started, running or not. */
  private final Map<Long, KvNode> instances = new ConcurrentHashMap<>();
  private final Set<Long> running = ConcurrentHashMap.newKeySet();
  /** Who this cluster believes are members: the initial nodes, plus added, minus removed ones. */
  private final Set<Long> members = ConcurrentHashMap.newKeySet();
  /** Faults in force, re-applied to a (re)started node. */
  private final List<Fault> faults = new ArrayList<>();
  private final List<KvClient> clients = new ArrayList<>();
  private boolean closed;

  private TestCluster(Builder config) {
    this.config = config;
    this.network = config.storage == StorageEngineType.MEMORY ? new MemoryNetwork(config.seed) : null;
    try {
      this.ownsDataDir = config.storage == StorageEngineType.ROCKSDB && config.dataDir == null;
      this.dataDir = ownsDataDir ? Files.createTempDirectory("quorumkv-test-") : config.dataDir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Set<Long> ids = new TreeSet<>();
    for (long id = 1; id <= config.nodes; id++) {
      ids.add(id);
      addresses.put(id, newAddress(id));
    }
    this.initialMembers = Set.copyOf(ids);
  }

  /** A builder: 3 in-memory nodes, one partition, 10 ms ticks, 2 s request timeout. */
  public static Builder builder() {
    return new Builder();
  }

  /** Starts every initial node; returns at once (leaders are elected in the background). */
  public synchronized TestCluster start() {
    for (long id : new TreeSet<>(initialMembers)) {
      startNode(id, false);
      members.add(id);
    }
    return this;
  }

  /** The storage (and with it the transport) of every node. */
  public StorageEngineType storage() {
    return config.storage;
  }

  /** The node's latest instance: running, or crashed/stopped (its calls then fail). */
  public KvNode node(long id) {
    KvNode n = instances.get(id);
    if (n == null) {
      throw new IllegalArgumentException("no node " + id + " (nodes: " + new TreeSet<>(instances.keySet()) + ")");
    }
    return n;
  }

  /** The running nodes, by id. */
  public List<KvNode> nodes() {
    return running().stream().map(instances::get).toList();
  }

  /** The ids of the running nodes. */
  public Set<Long> running() {
    return new TreeSet<>(running);
  }

  /** The ids of the nodes this cluster believes are members (initial, added, not removed). */
  public Set<Long> members() {
    return new TreeSet<>(members);
  }

  /** The ids of the nodes the cluster started with: 1..N. */
  public Set<Long> initialMembers() {
    return new TreeSet<>(initialMembers);
  }

  /** The ids of members that are not running (crashed or stopped). */
  public Set<Long> down() {
    Set<Long> down = members();
    down.removeAll(running);
    return down;
  }

  /** The {@code host:port} node {@code id} advertises. */
  public String address(long id) {
    String a = addresses.get(id);
    if (a == null) {
      throw new IllegalArgumentException("no node " + id);
    }
    return a;
  }

  /**
   * A client of every current member, closed with the cluster. In memory it calls the nodes
   * directly (client connections are never faulted, as over Netty); otherwise over Netty.
   */
  public KvClient client() {
    return client(members().stream().mapToLong(Long::longValue).toArray());
  }

  /** A client that tries the given nodes, in this order; closed with the cluster. */
  public synchronized KvClient client(long... ids) {
    List<String> targets = Arrays.stream(ids).mapToObj(this::address).toList();
    KvClient.Builder b = KvClient.builder().addresses(targets).clusterId(config.clusterId)
        .requestTimeout(config.requestTimeout);
    if (network != null) {
      TestKitHooks.inProcess(b, address -> addresses.entrySet().stream()
          .filter(e -> e.getValue().equals(address) && running.contains(e.getKey()))
          .map(e -> instances.get(e.getKey())).findFirst());
    }
    KvClient client = b.build();
    clients.add(client);
    return client;
  }

  /** Crashes node {@code id}: it stops at once; an in-memory node loses what it had not synced. */
  public synchronized void crash(long id) {
    if (running.remove(id)) {
      TestKitHooks.crash(node(id));
    }
  }

  /** Closes node {@code id} gracefully (it hands its leaderships away first). */
  public synchronized void stop(long id) {
    if (running.remove(id)) {
      node(id).close();
    }
  }

  /** Restarts a crashed or stopped node from its disk; a running node is left alone. */
  public synchronized KvNode restart(long id) {
    if (!running.contains(id)) {
      startNode(id, !initialMembers.contains(id));
    }
    return node(id);
  }

  /** Restarts every member that is down. */
  public synchronized void restartAll() {
    down().forEach(this::restart);
  }

  /**
   * Starts a new, empty node in join mode, not yet a member: {@link #addNode()} does this and adds
   * it; use this to drive {@link KvNode#addNode}/{@code addLearner} yourself.
   */
  public synchronized KvNode launch(long id) {
    if (instances.containsKey(id)) {
      throw new IllegalArgumentException("node " + id + " exists already");
    }
    addresses.put(id, newAddress(id));
    return startNode(id, true);
  }

  /**
   * Starts a new node and adds it to every partition through a running member
   * ({@link KvNode#addNode}: learner, caught up, then voter). If the call fails the new node keeps
   * running (it may have become a member anyway) and the exception propagates.
   *
   * @return the new node's id
   */
  public synchronized long addNode() {
    long id = instances.keySet().stream().max(Comparator.naturalOrder()).orElse(0L) + 1;
    launch(id);
    members.add(id);
    anyRunningExcept(id).addNode(id, address(id));
    return id;
  }

  /**
   * Removes node {@code id} from every partition through another running member, then stops it.
   * If the call fails, the node keeps running (the removal may still take effect) and the
   * exception propagates.
   */
  public synchronized void removeNode(long id) {
    anyRunningExcept(id).removeNode(id);
    members.remove(id);
    stop(id);
  }

  /**
   * Decommissions node {@code id} through another running member ({@link KvNode#decommission}: on
   * a cluster with a replication factor, its replicas move to other nodes first), then stops it.
   * If the call fails, the node keeps running (the moves go on in the background) and the
   * exception propagates.
   */
  public synchronized void decommission(long id) {
    anyRunningExcept(id).decommission(id);
    members.remove(id);
    stop(id);
  }

  /**
   * Splits the network: nodes on different sides cannot talk to each other (client connections are
   * not affected). A node on no side is cut off from everyone. Replaces any earlier partition.
   */
  @SafeVarargs
  @SuppressWarnings("varargs") // the array is only read, never stored or handed out
  public final synchronized void partition(Set<Long>... sides) {
    List<Set<Long>> list = java.util.Arrays.stream(sides).toList();
    inject(new Fault.Partition(list));
  }

  /** Cuts node {@code id} off from every other node. */
  public synchronized void isolate(long id) {
    Set<Long> rest = new TreeSet<>(instances.keySet());
    rest.remove(id);
    partition(Set.of(id), rest);
  }

  /** Drops every message {@code from} sends to {@code to}, not the reverse. */
  public synchronized void blockOneWay(long from, long to) {
    inject(new Fault.BlockOneWay(from, to));
  }

  /** Delays every message on {@code from -> to}. */
  public synchronized void delay(long from, long to, Duration delay) {
    inject(new Fault.Delay(from, to, delay));
  }

  /** Drops each message on {@code from -> to} with {@code probability}. */
  public synchronized void dropRate(long from, long to, double probability) {
    inject(new Fault.DropRate(from, to, probability));
  }

  /** Removes every network fault. */
  public synchronized void heal() {
    faults.clear();
    inject(new Fault.Heal());
  }

  private void inject(Fault fault) {
    if (!(fault instanceof Fault.Heal)) {
      faults.add(fault);
    }
    // Each node applies the rule in its own transport (never forwarded). The in-memory network has
    // one rule set for every node, so there the repetition is harmless.
    for (long id : running) {
      instances.get(id).injectFault(id, fault);
    }
    if (network != null && running.isEmpty() && fault instanceof Fault.Heal) {
      network.faults().heal(); // nobody to tell, and the network keeps its rules across restarts
    }
  }

  /**
   * The leader of partition {@code partitionId} as the running nodes see it: present only when
   * some running node reports that leader and the leader itself is running.
   */
  public Optional<Long> leaderOf(long partitionId) {
    for (KvNode n : nodes()) {
      try {
        for (PartitionStatus p : n.status().partitions()) {
          if (p.partitionId() == partitionId && p.leader() != 0 && running.contains(p.leader())) {
            return Optional.of(p.leader());
          }
        }
      } catch (RuntimeException e) {
        // a node closing under us: ask the next one
      }
    }
    return Optional.empty();
  }

  /** The ids of the partitions, as the running nodes know them. */
  public Set<Long> partitions() {
    Set<Long> ids = new TreeSet<>();
    for (KvNode n : nodes()) {
      try {
        n.status().partitions().forEach(p -> ids.add(p.partitionId()));
      } catch (RuntimeException e) {
        // closing under us
      }
    }
    return ids;
  }

  /**
   * Waits until every partition has a leader that every running node agrees on.
   *
   * @throws AssertionError on timeout, naming each node's view
   */
  public void awaitLeaders(Duration timeout) {
    await(timeout, () -> "every partition to have one agreed leader; views: " + leaderViews(), () -> {
      Map<Long, Long> leaders = new TreeMap<>();
      for (KvNode n : nodes()) {
        for (PartitionStatus p : n.status().partitions()) {
          if (p.leader() == 0 || !running.contains(p.leader())) {
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

  private String leaderViews() {
    Map<Long, Map<Long, Long>> views = new TreeMap<>();
    for (KvNode n : nodes()) {
      Map<Long, Long> view = new TreeMap<>();
      try {
        n.status().partitions().forEach(p -> view.put(p.partitionId(), p.leader()));
      } catch (RuntimeException e) {
        view.put(-1L, -1L);
      }
      views.put(n.nodeId(), view);
    }
    return "node -> {partition=leader} " + views;
  }

  /**
   * Polls {@code condition} every 10 ms until it holds.
   *
   * @throws AssertionError naming {@code what} after {@code timeout}
   */
  public static void await(Duration timeout, String what, BooleanSupplier condition) {
    await(timeout, () -> what, condition);
  }

  /**
   * Polls {@code condition} every 10 ms until it holds.
   *
   * @throws AssertionError with {@code what}'s text, taken when the wait fails (so it can describe
   *     the state the cluster was left in), after {@code timeout}
   */
  public static void await(Duration timeout, java.util.function.Supplier<String> what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!safely(condition)) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what.get());
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what.get(), e);
      }
    }
  }

  private static boolean safely(BooleanSupplier condition) {
    try {
      return condition.getAsBoolean();
    } catch (RuntimeException e) {
      return false; // e.g. a node closed under the check: try again
    }
  }

  /** Closes every client and node, then deletes the temporary data directory. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    clients.forEach(KvClient::close);
    clients.clear();
    for (long id : running()) {
      stop(id);
    }
    if (network != null) {
      network.close();
    }
    if (ownsDataDir) {
      deleteRecursively(dataDir);
    }
  }

  @Override
  public String toString() {
    return "TestCluster[" + config.storage + " members=" + members() + " running=" + running() + "]";
  }

  private KvNode anyRunningExcept(long id) {
    return running().stream().filter(n -> n != id).findFirst().map(instances::get)
        .orElseThrow(() -> new IllegalStateException("no running node besides " + id));
  }

  private KvNode startNode(long id, boolean join) {
    KvNode.Builder b = KvNode.builder()
        .nodeId(id)
        .advertisedAddress(addresses.get(id))
        .join(join)
        .clusterId(config.clusterId)
        .partitioner(config.partitioner)
        .tickInterval(config.tickInterval)
        .electionTicks(config.electionTicks)
        .requestTimeout(config.requestTimeout)
        .sessionTimeout(config.requestTimeout.multipliedBy(30))
        // Generous: a loaded test machine can stall a sync briefly without it being the point.
        .syncStallTimeout(max(Duration.ofSeconds(1), config.tickInterval.multipliedBy(config.electionTicks * 2L)));
    // A joining node lists the current members as its peers, so that its transport accepts them.
    (join ? members : initialMembers).stream().filter(peer -> peer != id)
        .forEach(peer -> b.peer(peer, addresses.get(peer)));
    if (network != null) {
      TestKitHooks.inMemory(b, disks.computeIfAbsent(id, x -> new MemoryDisk()), network);
    } else {
      b.storageEngine(StorageEngineType.ROCKSDB).dataDir(dataDir.resolve("node-" + id));
    }
    config.configure.accept(b);
    KvNode node = b.build().start();
    instances.put(id, node);
    running.add(id);
    // A fresh Netty transport has no rules; the in-memory network keeps them, and re-applying one
    // there changes nothing (it may have been injected while every node was down).
    for (Fault f : faults) {
      node.injectFault(id, f);
    }
    return node;
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  private String newAddress(long id) {
    if (network != null) {
      return "127.0.0.1:" + (17000 + id); // never bound: the in-memory network routes by node id
    }
    try (ServerSocket s = new ServerSocket(0)) {
      return "127.0.0.1:" + s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + dir, e);
    }
  }

  /** Configures a {@link TestCluster}; every setter returns this builder. */
  public static final class Builder {
    private int nodes = 3;
    private StorageEngineType storage = StorageEngineType.MEMORY;
    private Partitioner partitioner = HashPartitioner.of(1);
    private long seed = 1;
    private Duration tickInterval;
    private int electionTicks = 10;
    private Duration requestTimeout = Duration.ofSeconds(2);
    private String clusterId = "test";
    private Path dataDir;
    private Consumer<KvNode.Builder> configure = b -> {};

    private Builder() {}

    /** How many initial members (default 3). */
    public Builder nodes(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("nodes must be positive, was " + n);
      }
      nodes = n;
      return this;
    }

    /**
     * {@link StorageEngineType#MEMORY} (default): simulated disks and the in-memory network, with
     * 10 ms ticks. {@link StorageEngineType#ROCKSDB}: RocksDB in temporary directories and Netty on
     * 127.0.0.1, with 20 ms ticks.
     */
    public Builder storage(StorageEngineType s) {
      storage = s;
      return this;
    }

    /** The partitioner of every node (default {@code HashPartitioner.of(1)}: one Raft group). */
    public Builder partitioner(Partitioner p) {
      partitioner = p;
      return this;
    }

    /** Seeds the in-memory network's randomness (drops and delays). */
    public Builder seed(long s) {
      seed = s;
      return this;
    }

    /** The Raft tick (default 10 ms in memory, 20 ms over Netty). */
    public Builder tickInterval(Duration d) {
      tickInterval = d;
      return this;
    }

    /** The election timeout in ticks (default 10). */
    public Builder electionTicks(int t) {
      electionTicks = t;
      return this;
    }

    /** Every node's and client's default deadline (default 2 s). */
    public Builder requestTimeout(Duration d) {
      requestTimeout = d;
      return this;
    }

    /** The cluster id (default {@code test}). */
    public Builder clusterId(String id) {
      clusterId = id;
      return this;
    }

    /** Where RocksDB nodes keep their directories (kept after close); default a temporary one, deleted. */
    public Builder dataDir(Path dir) {
      dataDir = dir;
      return this;
    }

    /** Applied last to every node's builder, e.g. {@code b -> b.logCompactionEntries(20)}. */
    public Builder configure(Consumer<KvNode.Builder> c) {
      configure = c;
      return this;
    }

    /** The cluster, not started yet. */
    public TestCluster build() {
      if (tickInterval == null) {
        tickInterval = Duration.ofMillis(storage == StorageEngineType.MEMORY ? 10 : 20);
      }
      return new TestCluster(this);
    }
  }
}
