package io.quorumkv;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One member of a QuorumKV cluster, embedded in the caller's process: it hosts a replica of every
 * partition (or of some, placed by the cluster, with a {@link Builder#replicationFactor}), takes
 * part in each hosted partition's Raft group, and serves the {@link KvStore} and {@link KvAdmin}
 * operations for every key (forwarding to the nodes that host it).
 *
 * <pre>{@code
 * try (KvNode node = KvNode.builder()
 *     .nodeId(1)
 *     .advertisedAddress("127.0.0.1:7001")
 *     .peer(2, "127.0.0.1:7002")
 *     .peer(3, "127.0.0.1:7003")
 *     .dataDir(Path.of("/var/lib/myservice/kv"))
 *     .clusterId("orders")
 *     .build()
 *     .start()) {
 *   node.put("greeting", "hello");
 *   Optional<String> v = node.get("greeting");
 * }
 * }</pre>
 *
 * <p>Thread-safe: any number of threads may call it concurrently. Calls made before
 * {@link #start()} or after {@link #close()} fail with {@link NodeClosedException}.
 */
public final class KvNode extends FrontendStore implements KvAdmin, AutoCloseable {

  private final KvNodeConfig config;
  private final NodeRuntime runtime;
  private final KvFrontend frontend;

  private KvNode(KvNodeConfig config, NodeRuntime.Overrides overrides) {
    this.config = config;
    this.runtime = new NodeRuntime(config, overrides);
    this.frontend = new KvFrontend(config.maxKeySize(), config.maxValueSize(), runtime);
  }

  /** A builder with the defaults listed on each method. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Opens storage, starts the transport and the node's threads, and joins (or bootstraps) the
   * cluster. Returns once the node is serving; leaders are elected in the background, and calls
   * made meanwhile wait (within their deadline) for one.
   *
   * @return this node
   * @throws IllegalStateException if already started or closed
   */
  public KvNode start() {
    runtime.start();
    return this;
  }

  /**
   * Leaves gracefully: hands every leadership this node holds to another up-to-date voter (waiting
   * up to one election timeout for that), fails pending calls with {@link NodeClosedException},
   * then stops every thread and closes every socket and native handle. Idempotent.
   */
  @Override
  public void close() {
    runtime.close();
    frontend.closeAll("node " + config.nodeId() + " was closed");
  }

  /** Stops at once, without handing leaderships away: a crash, for tests. */
  void crash() {
    runtime.crash();
    frontend.closeAll("node " + config.nodeId() + " crashed");
  }

  @Override
  KvFrontend frontend() {
    return frontend;
  }

  @Override
  Duration timeout() {
    return config.requestTimeout();
  }

  /** The node's internals, for tests. */
  NodeRuntime runtime() {
    return runtime;
  }

  /** The configuration this node was built with. */
  public KvNodeConfig config() {
    return config;
  }

  /**
   * Whether this node is serving: it is running, and for every partition it hosts it is a member
   * and knows a leader (so a call it receives can be served or forwarded without first waiting
   * for an election).
   * A snapshot of a moment, cheap enough for a readiness probe; false before {@link #start()},
   * after {@link #close()}, and on a node removed from the cluster.
   */
  public boolean isReady() {
    return runtime.isReady();
  }

  /** This node's id. */
  public long nodeId() {
    return config.nodeId();
  }

  /** The meter registry the node reports to (the configured one, or its own). */
  public MeterRegistry meterRegistry() {
    return config.meterRegistry();
  }

  @Override
  public String toString() {
    return "KvNode[" + config.nodeId() + " " + config.advertisedAddress() + "]";
  }

  /** Builds a {@link KvNode}; {@link #build()} validates every field and names the wrong one. */
  public static final class Builder {
    private static final Pattern CLUSTER_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private long nodeId;
    private String advertisedAddress;
    private String bindAddress;
    private final Map<Long, String> peers = new LinkedHashMap<>();
    private boolean join;
    private Path dataDir;
    private String clusterId = "quorumkv";
    private Partitioner partitioner = HashPartitioner.of(3);
    private Duration tickInterval = Duration.ofMillis(100);
    private int electionTicks = 10;
    private int heartbeatTicks = 1;
    private Duration requestTimeout = Duration.ofSeconds(5);
    private int maxKeySize = 4 << 10;
    private int maxValueSize = 1 << 20;
    private StorageEngineType storageEngine = StorageEngineType.ROCKSDB;
    private NotLeaderPolicy notLeaderPolicy = NotLeaderPolicy.FORWARD;
    private double leaseClockDriftFactor = 0.2;
    private Duration syncStallTimeout;
    private Duration sessionTimeout = Duration.ofMinutes(10);
    private long logCompactionEntries = 1_000_000;
    private long logCompactionBytes = 16L << 20;
    private boolean balanceLeaders = true;
    private Duration leaderPinDuration = Duration.ofMinutes(10);
    private Set<Long> preferredLeaders = Set.of();
    private int replicationFactor;
    private int mergeBelowKeys;
    private boolean quiesceIdleGroups = true;
    private boolean repairDivergedReplicas = true;
    private MeterRegistry meterRegistry;
    private final NodeRuntime.Overrides overrides = new NodeRuntime.Overrides();

    private Builder() {}

    /** This node's id: positive, unique in the cluster, never reused. Required. */
    public Builder nodeId(long v) { nodeId = v; return this; }

    /** The node id set so far (tests that configure each node of a cluster differently). */
    long nodeId() { return nodeId; }

    /** The {@code host:port} peers and clients use to reach this node. Required. */
    public Builder advertisedAddress(String v) { advertisedAddress = v; return this; }

    /** The {@code host:port} to listen on; defaults to the advertised address. */
    public Builder bindAddress(String v) { bindAddress = v; return this; }

    /** Adds an initial member of the cluster other than this node. */
    public Builder peer(long id, String hostPort) { peers.put(id, hostPort); return this; }

    /** Adds initial members of the cluster other than this node (id to {@code host:port}). */
    public Builder peers(Map<Long, String> v) { peers.putAll(v); return this; }

    /**
     * Whether this node joins a running cluster (it is then added with {@link KvAdmin#addNode})
     * instead of bootstrapping one with its peers. Default false. A joining node lists the current
     * members as its peers, so that it can accept their connections; they learn its address from
     * the membership change. A node that restarts from an existing data dir ignores this and
     * resumes.
     */
    public Builder join(boolean v) { join = v; return this; }

    /** Where the node keeps its data; required with {@link StorageEngineType#ROCKSDB}. */
    public Builder dataDir(Path v) { dataDir = v; return this; }

    /** The cluster's name (letters, digits, {@code . _ -}); default {@code quorumkv}. */
    public Builder clusterId(String v) { clusterId = v; return this; }

    /** How keys map to partitions; default {@code HashPartitioner.of(3)}. Same on every node. */
    public Builder partitioner(Partitioner v) { partitioner = v; return this; }

    /** The length of one Raft tick; default 100 ms. */
    public Builder tickInterval(Duration v) { tickInterval = v; return this; }

    /** Ticks without hearing from a leader before a follower campaigns; default 10. */
    public Builder electionTicks(int v) { electionTicks = v; return this; }

    /** Ticks between a leader's heartbeats; default 1; less than {@code electionTicks}. */
    public Builder heartbeatTicks(int v) { heartbeatTicks = v; return this; }

    /** The default deadline of every call; default 5 s. */
    public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }

    /** The largest key accepted, in bytes; default 4 KiB, at most 64 KiB. */
    public Builder maxKeySize(int v) { maxKeySize = v; return this; }

    /** The largest value accepted, in bytes; default 1 MiB, at most 64 MiB. */
    public Builder maxValueSize(int v) { maxValueSize = v; return this; }

    /** Where the log and state are kept; default {@link StorageEngineType#ROCKSDB}. */
    public Builder storageEngine(StorageEngineType v) { storageEngine = v; return this; }

    /** Forward requests for partitions led elsewhere, or reject them; default forward. */
    public Builder notLeaderPolicy(NotLeaderPolicy v) { notLeaderPolicy = v; return this; }

    /**
     * The part of the election timeout that {@link ReadConsistency#LEASE} reads give away to clock
     * drift and pauses, in [0, 1); default 0.2.
     */
    public Builder leaseClockDriftFactor(double v) { leaseClockDriftFactor = v; return this; }

    /**
     * A leader whose log sync has not finished after this long hands its leaderships away and
     * stops serving lease reads; default one election timeout.
     */
    public Builder syncStallTimeout(Duration v) { syncStallTimeout = v; return this; }

    /**
     * A client session with no write for this long, measured in log time (the leaders' stamps on
     * entries), expires; default 10 min. Must exceed {@code requestTimeout} by far: a call's
     * retries must all fall inside its session's life.
     */
    public Builder sessionTimeout(Duration v) { sessionTimeout = v; return this; }

    /**
     * The most applied entries between two compactions of a partition's log; default 1,000,000.
     * A compaction is usually due earlier, by {@link #logCompactionBytes}; this bounds the log of
     * a partition whose entries are tiny.
     */
    public Builder logCompactionEntries(long v) { logCompactionEntries = v; return this; }

    /**
     * The node's log budget: a partition's log is compacted through the applied index once the
     * entries applied since its last compaction reach this many bytes, or once those of all the
     * node's partitions together do and this one's are at least 256 KiB (so that many partitions'
     * logs together stay within it, and within the log's memtable, four times this and at most
     * 256 MiB); default 16 MiB. No snapshot is taken for it (the
     * state store holds everything applied): a partition is snapshotted only when a follower
     * needs entries the log no longer has, so this bounds the log's disk use and a restart's
     * recovery scan, at no export cost.
     */
    public Builder logCompactionBytes(long v) { logCompactionBytes = v; return this; }

    /** Whether the node hands leaderships to other nodes to even them out; default true. */
    public Builder balanceLeaders(boolean v) { balanceLeaders = v; return this; }

    /**
     * How long leader balancing leaves alone a leadership that an operator placed with
     * {@link KvAdmin#transferLeader}; default 10 min. The pin also ends at the partition's next
     * membership change, when the node loses that leadership, and when it restarts.
     */
    public Builder leaderPinDuration(Duration v) { leaderPinDuration = v; return this; }

    /**
     * The nodes leader balancing places leaderships on; default empty: leaderships are balanced
     * over all the voters. Give every node of the cluster the same set, as with the peers. Keeping
     * the leaders on few nodes costs less CPU per write (a client's writes reach one node, and one
     * log sync and one frame per follower serve every partition's replication round), and places
     * them beside the application's main instance. It is a preference, not a constraint: any voter
     * may still win an election, so the cluster stays available without the preferred nodes. A
     * node outside the set hands each of its leaderships to a preferred voter of the partition
     * that has the whole log, if there is one; leaderships are balanced among the preferred nodes.
     * A leadership placed with {@link KvAdmin#transferLeader} stays while pinned
     * ({@link #leaderPinDuration}). Nodes compare their sets: while a peer reports another set, a
     * node logs it, lists the peer in {@link ClusterStatus#preferredLeadersMismatch} and balances
     * over every voter, so that nodes preferring each other never hand leaderships back and forth.
     */
    public Builder preferredLeaders(Set<Long> v) {
      preferredLeaders = v == null ? null : new LinkedHashSet<>(v);
      return this;
    }

    /**
     * How many voting replicas each partition keeps; default 0: every member hosts every
     * partition, and membership changes are the operator's ({@link KvAdmin#addNode} adds the node
     * to every partition). With a positive factor the cluster places replicas itself: a node added
     * with {@link KvAdmin#addNode} receives replicas moved from the other nodes, a node being
     * {@link KvAdmin#decommission decommissioned} is emptied, and replica counts are kept even;
     * each move adds a learner, promotes it once caught up, then removes the source, so a partition
     * never has fewer than this many voters because of a move. Same on every node.
     */
    public Builder replicationFactor(int v) { replicationFactor = v; return this; }

    /**
     * Adjacent range partitions that both hold fewer keys than this are merged back into one by
     * the cluster ({@link KvAdmin#merge}, one merge at a time); default 0: never automatically.
     * The merged partition's state travels in one log entry, so keep this small (at most 10000).
     * Do not combine with manual splits of ranges smaller than this: they would be merged back.
     */
    public Builder mergeBelowKeys(int v) { mergeBelowKeys = v; return this; }

    /**
     * Whether a partition with nothing to replicate stops ticking and heartbeating until it is used
     * again (quiescence); default true. Its leader quiesces it once every member has every entry
     * and tells the followers, which then stop their election timers for as long as the leader's
     * node keeps sending its node-level heartbeat (one per peer per heartbeat interval, whatever
     * the number of partitions). Any message or request for the partition wakes it; a quiesced
     * leader serves no lease read until it has heartbeated for an election timeout again.
     */
    public Builder quiesceIdleGroups(boolean v) { quiesceIdleGroups = v; return this; }

    /**
     * Whether a partition's leader replaces a replica that its hash checks found diverged from a
     * quorum (its state differs, so it is fenced: it serves no reads and leads nothing); default
     * true. The replacement is ordinary membership changes: with a replication factor and another
     * eligible node, a learner there, promoted as the diverged replica is removed; otherwise the
     * diverged replica is removed and its node added back, which rebuilds it from the leader. It
     * starts only when every other voter is up and caught up, at most one per partition and one
     * per node at a time, and one per hash check period per node. Turn it off to keep a diverged
     * replica's state for forensics: it then stays fenced, also across restarts of its node, until
     * an operator replaces it (or a snapshot from its leader replaces its state, or a later check
     * finds it agreeing again). Same on every node.
     */
    public Builder repairDivergedReplicas(boolean v) { repairDivergedReplicas = v; return this; }

    /** Where metrics go; default a private {@code SimpleMeterRegistry}. */
    public Builder meterRegistry(MeterRegistry v) { meterRegistry = v; return this; }

    /** Test hook: how the node builds its transport and storage. */
    Builder overrides(java.util.function.Consumer<NodeRuntime.Overrides> f) {
      f.accept(overrides);
      return this;
    }

    /**
     * Validates the configuration and creates the node (not started).
     *
     * @throws InvalidConfigException naming the first wrong field
     */
    public KvNode build() {
      return new KvNode(config(), overrides);
    }

    /**
     * Validates the configuration without creating a node.
     *
     * @throws InvalidConfigException naming the first wrong field
     */
    public KvNodeConfig config() {
      if (nodeId <= 0) {
        throw new InvalidConfigException("nodeId", "must be positive, was " + nodeId);
      }
      HostPort.parse("advertisedAddress", advertisedAddress);
      String bind = bindAddress != null ? bindAddress : advertisedAddress;
      HostPort.parse("bindAddress", bind);
      for (Map.Entry<Long, String> p : peers.entrySet()) {
        if (p.getKey() == null || p.getKey() <= 0) {
          throw new InvalidConfigException("peers", "peer ids must be positive, was " + p.getKey());
        }
        if (p.getKey() == nodeId) {
          throw new InvalidConfigException("peers", "must not contain this node's own id " + nodeId);
        }
        HostPort.parse("peers[" + p.getKey() + "]", p.getValue());
        if (p.getValue().equals(advertisedAddress)) {
          throw new InvalidConfigException("peers[" + p.getKey() + "]",
              "has this node's own advertised address " + advertisedAddress);
        }
      }
      if (peers.values().stream().distinct().count() != peers.size()) {
        throw new InvalidConfigException("peers", "two peers share an address: " + peers);
      }
      if (storageEngine == null) {
        throw new InvalidConfigException("storageEngine", "must be set");
      }
      if (storageEngine == StorageEngineType.ROCKSDB && dataDir == null) {
        throw new InvalidConfigException("dataDir", "is required with storageEngine ROCKSDB");
      }
      if (clusterId == null || !CLUSTER_ID.matcher(clusterId).matches()) {
        throw new InvalidConfigException("clusterId",
            "must be 1-64 letters, digits, '.', '_' or '-', was " + clusterId);
      }
      if (partitioner == null) {
        throw new InvalidConfigException("partitioner", "must be set");
      }
      positive("tickInterval", tickInterval);
      if (heartbeatTicks <= 0) {
        throw new InvalidConfigException("heartbeatTicks", "must be positive, was " + heartbeatTicks);
      }
      if (electionTicks <= heartbeatTicks) {
        throw new InvalidConfigException("electionTicks",
            "must be greater than heartbeatTicks (" + heartbeatTicks + "), was " + electionTicks);
      }
      positive("requestTimeout", requestTimeout);
      if (maxKeySize < 1 || maxKeySize > 64 << 10) {
        throw new InvalidConfigException("maxKeySize", "must be in [1, 65536], was " + maxKeySize);
      }
      if (maxValueSize < 0 || maxValueSize > 64 << 20) {
        throw new InvalidConfigException("maxValueSize", "must be in [0, 64 MiB], was " + maxValueSize);
      }
      if (notLeaderPolicy == null) {
        throw new InvalidConfigException("notLeaderPolicy", "must be set");
      }
      if (!(leaseClockDriftFactor >= 0 && leaseClockDriftFactor < 1)) {
        throw new InvalidConfigException("leaseClockDriftFactor",
            "must be in [0, 1), was " + leaseClockDriftFactor);
      }
      Duration election = tickInterval.multipliedBy(electionTicks);
      Duration stall = syncStallTimeout != null ? syncStallTimeout : election;
      positive("syncStallTimeout", stall);
      positive("sessionTimeout", sessionTimeout);
      if (sessionTimeout.compareTo(requestTimeout.multipliedBy(10)) < 0) {
        throw new InvalidConfigException("sessionTimeout",
            "must be at least 10 x requestTimeout (" + requestTimeout + "), was " + sessionTimeout);
      }
      positive("leaderPinDuration", leaderPinDuration);
      if (preferredLeaders == null) {
        throw new InvalidConfigException("preferredLeaders", "must be set (empty for no preference)");
      }
      for (Long id : preferredLeaders) {
        if (id == null || id <= 0) {
          throw new InvalidConfigException("preferredLeaders", "node ids must be positive, was " + id
              + " in " + preferredLeaders);
        }
      }
      if (logCompactionEntries < 1) {
        throw new InvalidConfigException("logCompactionEntries", "must be positive, was " + logCompactionEntries);
      }
      if (logCompactionBytes < 1) {
        throw new InvalidConfigException("logCompactionBytes", "must be positive, was " + logCompactionBytes);
      }
      if (replicationFactor < 0) {
        throw new InvalidConfigException("replicationFactor", "must be 0 (every node) or positive, was " + replicationFactor);
      }
      if (mergeBelowKeys < 0 || mergeBelowKeys > 10_000) {
        throw new InvalidConfigException("mergeBelowKeys", "must be in [0, 10000], was " + mergeBelowKeys);
      }
      MeterRegistry registry = meterRegistry != null ? meterRegistry : new SimpleMeterRegistry();
      return new KvNodeConfig(nodeId, advertisedAddress, bind, peers, join, dataDir, clusterId,
          partitioner, tickInterval, electionTicks, heartbeatTicks, requestTimeout, maxKeySize,
          maxValueSize, storageEngine, notLeaderPolicy, leaseClockDriftFactor, stall,
          sessionTimeout, logCompactionEntries, logCompactionBytes, balanceLeaders, leaderPinDuration,
          preferredLeaders, replicationFactor,
          mergeBelowKeys, quiesceIdleGroups, repairDivergedReplicas, registry);
    }

    private static void positive(String field, Duration d) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new InvalidConfigException(field, "must be a positive duration, was " + d);
      }
    }
  }
}
