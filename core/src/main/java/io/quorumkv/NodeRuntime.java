package io.quorumkv;

import io.micrometer.core.instrument.Tags;
import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.ProposalDroppedException;
import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.RawNode;
import io.quorumkv.raft.ReadOnlyOption;
import io.quorumkv.raft.Ready;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SoftState;
import io.quorumkv.raft.StateRole;
import io.quorumkv.raft.Status;
import io.quorumkv.storage.ApplyBatch;
import io.quorumkv.storage.GroupCommitLogWriter;
import io.quorumkv.storage.KvMutation;
import io.quorumkv.storage.LogBatch;
import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.storage.StateMachineStore;
import io.quorumkv.storage.StorageEngine;
import io.quorumkv.storage.StorageOptions;
import io.quorumkv.transport.Envelope;
import io.quorumkv.transport.FaultInjector;
import io.quorumkv.transport.MessageHandler;
import io.quorumkv.transport.NettyTransport;
import io.quorumkv.transport.NettyTransportConfig;
import io.quorumkv.transport.RaftTransport;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.LongConsumer;
import java.util.function.ToDoubleFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The threads, Raft groups, storage and transport of one {@link KvNode}.
 *
 * <p>Threads, and what each may do:
 * <ul>
 *   <li>the <b>Raft loop</b> owns every {@link RawNode} of the node: ticks, steps, proposals, Ready
 *       handling. It never blocks on the disk, the applier or the network: log writes go to the
 *       storage's group-commit writer, committed entries to the applier, messages to the transport,
 *       and their completions come back as tasks in its inbox. So heartbeats and votes are
 *       answered whatever the disk or the applier is doing.</li>
 *   <li>the <b>log writer</b> ({@link GroupCommitLogWriter}): one fsync for every batch queued.</li>
 *   <li>the <b>applier</b>: applies committed entries to the state machines, with one storage write
 *       for the batches of every group queued together, then completes proposals and releases
 *       reads; installs snapshots, creates split children.</li>
 *   <li>a small <b>read pool</b> serves reads from the state machines once their index is applied,
 *       and a <b>timer</b> drives deadlines and retries.</li>
 *   <li>the transport's I/O threads only decode and enqueue.</li>
 * </ul>
 */
final class NodeRuntime implements RequestExecutor {

  /** Test hooks: what the node is built from. */
  static final class Overrides {
    /** Builds the transport instead of Netty (e.g. a {@code MemoryNetwork} transport). */
    Function<KvNodeConfig, RaftTransport> transport;
    /** The simulated disk of a {@link StorageEngineType#MEMORY} node (kept across restarts). */
    MemoryDisk disk;
    /** Runs on the applier before each batch of a group is applied (a slow or stuck state machine). */
    volatile LongConsumer beforeApply;
    /**
     * Runs on the applier after an apply write, before the applied entries are completed (the
     * replica's applied index raised, proposals answered, reads released): a slow applier there.
     */
    volatile Runnable afterApplyWrite;
    /** Runs on the reading thread right before a read reads a group's state (a paused reader). */
    volatile LongConsumer beforeRead;
    /** Runs wherever a replica hash is computed, right before it is (a slow hash). */
    volatile LongConsumer beforeHash;
    /** Each group's apply budget ({@link RaftConfig#maxApplyingEntriesSize()}); 0 for the default. */
    long applyingBytesPerGroup;
    /** The Netty transport's byte bound per peer ({@code outboundQueueBytes}); 0 for the default. */
    long peerQueueBytes;
    /**
     * Replaces the data of each log entry this node applies ({@code (group, data) -> data}): a
     * state machine that is not deterministic, or memory that flips a bit (replica divergence).
     */
    volatile BiFunction<Long, byte[], byte[]> applyData;
    /**
     * Runs on the applier after each step of creating a split child ({@code (child, step)}), to
     * cut the power between two of its writes.
     */
    volatile BiConsumer<Long, ChildStep> afterChildStep;
    /**
     * Runs on the applier at each step of deleting a destroyed replica ({@code (group, step)}), to
     * cut the power between two of its writes.
     */
    volatile BiConsumer<Long, DestroyStep> afterDestroyStep;
    /**
     * Runs in {@link #start} after the node's first start created its replica of initial
     * partition {@code g}, once per initial partition (to cut the power between two of them).
     */
    volatile LongConsumer afterInitialBootstrap;
    /** Runs at each step of taking or installing a snapshot ({@code (group, step)}), to cut the power there. */
    volatile BiConsumer<Long, SnapshotStep> afterSnapshotStep;
  }

  /** The steps of a snapshot sent to a follower (test hooks). */
  enum SnapshotStep {
    /** The sender took it: its payload is written, its record (which compacts the log) not yet. */
    TAKEN,
    /** The follower received the whole payload (staged, not committed) and is about to install it. */
    RECEIVED,
    /** The follower installed it, durably; the entries and hard state of its Ready are not written yet. */
    INSTALLED
  }

  /** The steps of deleting a destroyed replica's storage, in the order {@link #destroyReplica} takes them (test hooks). */
  enum DestroyStep {
    /** Nothing written yet: every log write submitted before the destroy is durable. */
    BEGUN,
    /** Its tombstone recorded (the log entry synced, the record itself not). */
    RECORDED,
    /** Its log and state deleted, durably (the tombstone with them). */
    DELETED
  }

  /** The steps of creating a split child, in the order {@link #createChild} takes them (test hooks). */
  enum ChildStep {
    /** Its creation recorded as begun (see {@link Tombstones#beginChild}). */
    BEGUN,
    /** Its group created with the parent's membership, durably. */
    BOOTSTRAPPED,
    /** Its log of empty entries through {@link #SPLIT_INITIAL_INDEX} and its hard state written, durably. */
    LOGGED,
    /** The moved keys and sessions written to its state machine (not synced). */
    SEEDED,
    /** Its log compacted to a snapshot of that state, durably: it is complete. */
    COMPACTED,
    /** Its creation's record forgotten: the parent's batch comes next. */
    CREATED
  }

  /** A partition created by a split starts at this index and term (as in TiKV): see createChild. */
  static final long SPLIT_INITIAL_INDEX = 5;
  private static final int INBOX_LIMIT = 200_000;
  /** Applier backlog (tasks) above which leaders refuse new proposals: backpressure at the source. */
  private static final int APPLY_BACKLOG_LIMIT = 10_000;
  private static final int LOG_BACKLOG_LIMIT = 10_000;
  /**
   * The least a partition's log grows by before the node's log compaction budget compacts it (see
   * {@link #maybeCompact}): each compaction is a range delete and, later, a file compaction.
   */
  static final long MIN_LOG_COMPACTION_SHARE = 256L << 10;
  /** The largest memtable of the log's column family, whatever the log compaction budget. */
  private static final long MAX_LOG_WRITE_BUFFER_BYTES = 256L << 20;
  /**
   * Client writes of one partition taken in one drain of the loop's inbox go into one log entry
   * (a {@link Command.Writes}) of at most this many writes and, unless one write alone is larger,
   * this many encoded bytes: the per-entry costs (log record, CRC, decode, bookkeeping) are paid
   * once for them, and the entry stays well under a message's size.
   */
  static final int MAX_PACKED_WRITES = 128;
  static final int MAX_PACKED_BYTES = 64 << 10;
  /**
   * Bytes of committed entries the Raft core hands to the applier per group before the applier
   * reports them applied: bounds the applier's queue on every replica, followers included.
   */
  static final long APPLYING_BYTES_PER_GROUP = 8L << 20;
  /**
   * The group id of the node-level heartbeat (no partition has id 0): one {@link Message.Heartbeat}
   * per peer per heartbeat interval from the Raft loop, whatever the number of groups. It tells the
   * followers of quiesced groups that their leader's node, and its loop, are alive.
   */
  static final long NODE_HEARTBEAT_GROUP = 0;
  /**
   * The read context that marks a {@link Message.Heartbeat} as a quiesce notice: the leader stopped
   * ticking the group (its real heartbeats carry a round number from 1 up). Handled by the node,
   * never stepped into the Raft core.
   */
  static final long QUIESCE_CONTEXT = -1;

  private enum State { NEW, RUNNING, CLOSING, CLOSED }

  private final KvNodeConfig config;
  private final Overrides overrides;
  private final long nodeId;
  private final String who;
  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final NodeMetrics metrics;
  private final Map<Long, KeySpan> initialSpans;
  private final Map<Long, Replica> replicas = new ConcurrentHashMap<>();
  private final RoutingTable routing = new RoutingTable();
  private final Map<Long, String> members = new ConcurrentHashMap<>();
  /**
   * The Raft loop's tasks. Work from outside (peer messages, client requests) is refused past
   * {@link #INBOX_LIMIT}; completions of the node's own threads (persisted, applied) always get in,
   * since losing one would stall a group.
   */
  private final LinkedBlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
  /**
   * Loop work that need not wake the loop: run at the start of its next turn, whatever wakes it (a
   * message, a task, the tick). A follower's "your entries are durable" notice goes here (the
   * acknowledgement already left from the log writer's thread, and the follower's core needs the
   * notice only before it steps its next message), and so does an applied index (benchmarks.md,
   * finding 28).
   */
  private final ConcurrentLinkedQueue<Runnable> nextTurn = new ConcurrentLinkedQueue<>();
  private final LinkedBlockingQueue<Runnable> applyQueue = new LinkedBlockingQueue<>();
  /** Bytes of committed entries queued for the applier and not yet applied (all groups). */
  private final AtomicLong applyBacklogBytes = new AtomicLong();
  private final Map<Long, SnapshotStreams.Staged> staged = new ConcurrentHashMap<>();
  /** loop: the replicas that took client writes since the last flush (see {@link #flushWrites()}). */
  private final List<Replica> packing = new ArrayList<>();
  /** loop: groups whose empty replica the applier is creating (see maybeCreateUnknown). */
  private final Set<Long> creating = new HashSet<>();
  /** loop: conditions re-checked every tick (leadership transfers, catch-up waits). */
  private final List<BooleanSupplier> tickWatchers = new ArrayList<>();
  /** loop: the tick at which an unknown group's leader or candidate first contacted this node. */
  private final Map<Long, Long> unknownGroupSeen = new HashMap<>();
  /**
   * loop: when ({@link System#nanoTime}) the loop's next tick is due. A lease the loop finds valid
   * now cannot lapse before then (leases lapse on ticks), unless the process was paused: then the
   * clock has passed this time by the time anyone looks again. See {@link ReadPath#serveLease}.
   */
  private volatile long nextTickNanos;
  private final PlacementDriver placement;
  /** loop: groups whose replica is being destroyed (not to be created again meanwhile). */
  private final Set<Long> destroying = new HashSet<>();
  private Tombstones tombstones;

  private volatile State state = State.NEW;
  private volatile boolean syncStalled;
  private volatile boolean storageFailed;
  private StorageEngine engine;
  private GroupCommitLogWriter writer;
  private RaftTransport transport;
  /** loop: the node-wide entry budget per peer that every group's Raft core reads and spends. */
  private final PeerSendBudget sendBudget = new PeerSendBudget(peer -> transport.entryBytesAccepted(peer));
  /** Guards {@link #clientLane}, made by the Raft loop and closed by {@link #shutdown}. */
  private final Object clientLaneLock = new Object();
  private TransportConnector clientLane;
  private Thread loopThread;
  private Thread applierThread;
  private ScheduledExecutorService scheduler;
  private ExecutorService readPool;
  /** Every get and scan of a partition hosted here, from its read index or lease to its answer. */
  private final ReadPath reads;
  private final ReplicaHashChecks hashChecks;
  /** Where this node's leaderships go: balancing, pins, hand-offs. */
  private final LeaderPlacement leaders;
  /** Which idle groups stop ticking, and when they wake. */
  private final Quiescence quiescence;
  /** Partition commands at their leader, and the operator's calls made of them. */
  private final GroupCommands commands;
  /** Replaces replicas the hash checks found diverged. */
  private final ReplicaRepair repairs;
  /** Every request's way in: routed, served here or forwarded, answered. */
  private final RequestRouter router;
  /**
   * Takes snapshots off the applier: a snapshot reads and writes the whole partition, which would
   * stall every partition's apply (and so every write's answer) for as long.
   */
  private ExecutorService snapshotter;
  /** Computes replica hashes away from the applier (see {@link ReplicaHasher}). */
  private ReplicaHasher hasher;
  /** loop: the last log write submitted; messages claiming durability wait for it. */
  private CompletableFuture<Void> lastWrite = CompletableFuture.completedFuture(null);
  /**
   * loop: completes when {@link #lastWrite} is written, not yet durable: in the one write-ahead
   * log ahead of any state write the applier makes afterwards (see {@link RawNode#written}).
   */
  private CompletableFuture<Void> lastWritten = CompletableFuture.completedFuture(null);
  /**
   * loop: what this turn of the loop sends, per peer, from every group: sent with one transport
   * call per peer at the end of the turn (one frame, one wake-up of the connection), see endTurn.
   */
  private final Map<Long, List<Envelope>> outbox = new HashMap<>();
  /** loop: the log writes of this turn, from every group: one submit to the log writer. */
  private LogBatch turnLog;
  /** loop: what waits for {@link #turnLog} to be durable: messages claiming it, per peer. */
  private Map<Long, List<Envelope>> turnAfterPersist = new HashMap<>();
  /** loop: the Raft cores to tell, once {@link #turnLog} is durable, how far their log is. */
  private List<Runnable> turnPersisted = new ArrayList<>();
  /** loop: the Raft cores to tell, once {@link #turnLog} is written, how far it is written. */
  private List<Runnable> turnWritten = new ArrayList<>();
  /** loop: whether these notices must wake the loop (a leader's or candidate's log). */
  private boolean turnPersistedWakes;
  /** loop */
  private long ticks;
  /**
   * loop: no lease read before this tick. After the loop paused, its tick count lags real time,
   * so a heartbeat round sent before the pause looks more recent than it is (the lease rule in
   * {@link RawNode#hasValidLease} assumes the leader's ticks keep up): the lease waits until
   * every such round is an election timeout old by the tick count too.
   */
  private long leaseResumesAtTick;

  NodeRuntime(KvNodeConfig config, Overrides overrides) {
    this.config = config;
    this.overrides = overrides;
    this.nodeId = config.nodeId();
    this.who = "node " + nodeId;
    this.metrics = new NodeMetrics(config.meterRegistry(), nodeId);
    this.initialSpans = RoutingTable.initialSpans(config.partitioner());
    this.placement = new PlacementDriver(this, config, metrics);
    NodeView view = new NodeView();
    this.reads = new ReadPath(nodeId, metrics, overrides, replicas, task -> readPool.execute(task), view);
    this.hashChecks = new ReplicaHashChecks(who, metrics, view);
    this.leaders = new LeaderPlacement(who, config, metrics, view);
    this.quiescence = new Quiescence(config, view);
    this.repairs = new ReplicaRepair(who, config, metrics, placement, quiescence, hashChecks, view);
    this.commands = new GroupCommands(who, config, placement, reads, hashChecks, leaders, repairs, view);
    this.router = new RequestRouter(who, config, metrics, replicas, members, routing, placement, reads, commands,
        hashChecks, task -> readPool.execute(task), view);
  }

  // ------------------------------------------------------------------ lifecycle

  synchronized void start() {
    if (state != State.NEW) {
      throw new IllegalStateException(who + " was already started");
    }
    try {
      StorageOptions defaults = StorageOptions.defaults(nodeId);
      // Four log compaction budgets per log memtable: entries are compacted away before a flush
      // would write them to a file (finding 64). Bounded: a huge budget does not buy a huge memtable.
      StorageOptions options = defaults.withLogWriteBufferBytes(
          Math.max(defaults.writeBufferBytes(), Math.min(MAX_LOG_WRITE_BUFFER_BYTES, 4 * config.logCompactionBytes())));
      if (config.storageEngine() == StorageEngineType.ROCKSDB) {
        engine = StorageEngine.openRocksDb(config.dataDir(), config.clusterId(), options);
      } else {
        MemoryDisk disk = overrides.disk != null ? overrides.disk : new MemoryDisk();
        engine = StorageEngine.openInMemory(disk, config.clusterId(), options);
      }
      engine.syncMonitor().addListener(metrics::fsync);
      metrics.sstWrites(engine);
      writer = new GroupCommitLogWriter(engine);
      members.put(nodeId, config.advertisedAddress());
      members.putAll(config.peers());
      if (engine.groups().isEmpty() && !config.join()) {
        ConfState voters = ConfState.ofVoters(config.initialMembers());
        // One write: a node that finds any group at start creates none, so a crash between two
        // creations would leave the others missing here for good (on every node, if all were cut).
        engine.bootstrap(initialSpans.keySet(), voters);
        LongConsumer hook = overrides.afterInitialBootstrap;
        for (long g : initialSpans.keySet()) {
          if (hook != null) {
            hook.accept(g);
          }
        }
        log.info("{}: bootstrapped {} partitions ({}) with voters {}", who, initialSpans.size(),
            config.partitioner(), voters.voters());
      }
      tombstones = new Tombstones(engine);
      for (long g : tombstones.childrenBegun()) {
        // A crash cut its creation short: never opened, it never voted. Gone, as if the crash came
        // before; its parent applies the split again (its apply was to be written after this).
        log.warn("{} group {}: split child left incomplete by a crash; deleting it, its parent creates it again",
            who, g);
        engine.deleteGroup(g);
        tombstones.childDone(g, 0);
      }
      for (long g : engine.groups()) {
        if (g == Tombstones.GROUP) {
          continue;
        }
        Replica r = openReplica(g);
        r.sm.memberAddresses().forEach(members::putIfAbsent);
        ReplicaRepair.Rebuild b = r.rebuilding;
        if (b != null) {
          members.putIfAbsent(b.node(), b.address()); // removed to come back: its leader polls it
        }
      }
      if (config.replicationFactor() == 0 && replicas.values().stream().anyMatch(r -> !r.confState.voters().isEmpty())) {
        // The initial peers are only where the cluster began: a member removed since is gone,
        // unless it was removed to rebuild its replica and is still to come back.
        members.keySet().removeIf(id -> !isMemberAnywhere(id) && !isRebuildingAnywhere(id));
      }
      transport = overrides.transport != null ? overrides.transport.apply(config) : nettyTransport();
      transport.setMessageHandler(new MessageHandler() {
        @Override
        public void onMessage(long fromNode, long groupId, Message m) {
          onMessages(fromNode, List.of(new Envelope(groupId, m)));
        }

        @Override
        public void onMessages(long fromNode, List<Envelope> messages) {
          NodeRuntime.this.onMessages(fromNode, messages);
        }
      });
      transport.setRequestHandler(router::onRequest);
      transport.setSnapshotReceiver((from, g, m) -> {
        SnapshotStreams.Receiving sink = new SnapshotStreams.Receiving(g, m.snapshot(),
            engine.stateMachine(g).newSnapshotSink(m.snapshot()), staged, metrics.snapshotBytesReceived::increment);
        log.info("{} group {}: receiving snapshot at {} from node {}", who, g, m.snapshot().metadata().index(), from);
        return sink;
      });
      scheduler = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "quorumkv-timer-" + nodeId));
      readPool = Executors.newFixedThreadPool(2, r -> daemon(r, "quorumkv-read-" + nodeId));
      snapshotter = Executors.newSingleThreadExecutor(r -> daemon(r, "quorumkv-snapshot-" + nodeId));
      hasher = new ReplicaHasher("node " + nodeId, ReplicaHasher.BYTES_PER_SECOND, metrics.hashDuration, g -> {
        LongConsumer hook = overrides.beforeHash;
        if (hook != null) {
          hook.accept(g);
        }
      });
      registerGauges();
      state = State.RUNNING;
      applierThread = daemon(this::runApplier, "quorumkv-applier-" + nodeId);
      loopThread = daemon(this::runLoop, "quorumkv-raft-" + nodeId);
      applierThread.start();
      loopThread.start();
      transport.start();
      log.info("{}: started, advertising {}, {} partitions, storage {}", who, config.advertisedAddress(),
          replicas.size(), config.storageEngine());
    } catch (RuntimeException e) {
      log.error("{}: failed to start: {}", who, e.toString());
      shutdown();
      throw e;
    }
  }

  private RaftTransport nettyTransport() {
    HostPort bind = HostPort.parse("bindAddress", config.bindAddress());
    NettyTransportConfig.Builder b = NettyTransportConfig.builder(nodeId, clusterIdNumber(config.clusterId()))
        .bindAddress(new InetSocketAddress(bind.host(), bind.port()));
    members.forEach((id, address) -> {
      if (id != nodeId) {
        HostPort hp = HostPort.parse("peers[" + id + "]", address);
        b.peer(id, new InetSocketAddress(hp.host(), hp.port()));
      }
    });
    if (overrides.peerQueueBytes > 0) {
      b.outboundQueueBytes(overrides.peerQueueBytes);
    }
    return new NettyTransport(b.build());
  }

  /** The transport's numeric cluster id: a stable 64-bit FNV-1a hash of the cluster's name. */
  static long clusterIdNumber(String clusterId) {
    long h = 0xcbf29ce484222325L;
    for (byte c : clusterId.getBytes(StandardCharsets.UTF_8)) {
      h ^= c & 0xFF;
      h *= 0x100000001b3L;
    }
    return h;
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  private void registerGauges() {
    metrics.gauge("quorumkv.queue.depth", "raft", inbox::size);
    metrics.gauge("quorumkv.queue.depth", "apply", applyQueue::size);
    metrics.gauge("quorumkv.queue.bytes", "apply", applyBacklogBytes::get);
    metrics.gauge("quorumkv.queue.depth", "log", () -> writer.pendingBatches());
    metrics.gauge("quorumkv.preferred.leaders.mismatch", null, () -> placement.preferredLeadersMismatch().size());
    metrics.gauge("quorumkv.groups.quiesced", null, () -> replicas.values().stream().filter(r -> r.quiesced).count());
    metrics.gauge("quorumkv.replicas.diverged", null, () -> replicas.values().stream().filter(r -> r.divergedAt != 0).count());
    metrics.gauge("quorumkv.entry.cache.bytes", null, () -> engine.entryCacheBytes());
    metrics.gauge("quorumkv.apply.lag", null, () -> replicas.values().stream()
        .mapToLong(r -> Math.max(0, r.commitIndex - r.appliedIndex)).sum());
    RaftTransport t = transport;
    metrics.functionCounter("quorumkv.transport.messages", "Raft messages sent or received, all groups",
        Tags.of("direction", "sent"), t, x -> x.metrics().messagesSent());
    metrics.functionCounter("quorumkv.transport.messages", "Raft messages sent or received, all groups",
        Tags.of("direction", "received"), t, x -> x.metrics().messagesReceived());
    metrics.functionCounter("quorumkv.transport.heartbeat.frames",
        "frames written that carried heartbeats (coalesced: one per peer per flush)",
        Tags.empty(), t, x -> x.metrics().heartbeatFrames());
    metrics.functionCounter("quorumkv.transport.raft.frames", "frames of Raft messages written (all groups share them)",
        Tags.empty(), t, x -> x.metrics().raftFrames());
    Map<String, ToDoubleFunction<RaftTransport>> dropped = Map.of(
        "queue-full", x -> x.metrics().droppedQueueFull(),
        "unreachable", x -> x.metrics().droppedUnreachable(),
        "fault", x -> x.metrics().droppedByFault(),
        "too-large", x -> x.metrics().droppedTooLarge());
    dropped.forEach((reason, count) -> metrics.functionCounter("quorumkv.transport.dropped",
        "Raft messages dropped by the transport", Tags.of("reason", reason), t, count));
  }

  /**
   * Gives leaderships away (bounded by one election timeout), then stops every thread and closes
   * the transport, the log writer and the storage.
   */
  void close() {
    synchronized (this) {
      if (state != State.RUNNING) {
        if (state == State.NEW) {
          state = State.CLOSED;
        }
        return;
      }
      state = State.CLOSING;
    }
    handOffLeaderships();
    shutdown();
  }

  /** Stops at once without handing leaderships away, as a crash would (tests). */
  void crash() {
    synchronized (this) {
      if (state != State.RUNNING) {
        return;
      }
      state = State.CLOSING;
    }
    shutdown();
    if (overrides.disk != null) {
      overrides.disk.crash();
    }
  }

  private void handOffLeaderships() {
    long deadline = System.nanoTime() + config.electionTimeout().toNanos();
    boolean posted = post(() -> {
      for (Replica r : replicas.values()) {
        if (r.isLeader()) {
          leaders.bestTransferee(r).ifPresent(to -> {
            log.info("{} group {}: closing, handing leadership to node {}", who, r.groupId, to);
            r.raw.transferLeadership(to);
          });
        }
      }
    });
    while (posted && System.nanoTime() - deadline < 0
        && replicas.values().stream().anyMatch(r -> r.isLeader() && r.confState.voters().size() > 1)) {
      try {
        Thread.sleep(Math.max(1, config.tickInterval().toMillis()));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
  }

  private void shutdown() {
    state = State.CLOSED;
    for (Thread t : new Thread[] {loopThread, applierThread}) {
      if (t != null) {
        t.interrupt();
        try {
          t.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
    if (snapshotter != null) {
      // before the engine closes: a snapshot reads from a database view
      snapshotter.shutdownNow();
      try {
        if (!snapshotter.awaitTermination(10, TimeUnit.SECONDS)) {
          log.warn("{}: a snapshot is still being written at close", who);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (hasher != null) {
      hasher.close(); // before the engine closes: a hash reads from a database view
    }
    failPending("node " + nodeId + " is closed");
    if (transport != null) {
      transport.close();
    }
    synchronized (clientLaneLock) {
      if (clientLane != null) {
        clientLane.close();
        clientLane = null;
      }
    }
    if (readPool != null) {
      readPool.shutdownNow();
    }
    if (scheduler != null) {
      scheduler.shutdownNow();
    }
    if (writer != null) {
      writer.close();
    }
    staged.values().forEach(SnapshotStreams.Staged::close);
    staged.clear();
    if (engine != null) {
      engine.close();
    }
    log.info("{}: closed", who);
  }

  /**
   * The outcome of a command this replica proposed and can no longer follow: it is in the log, and
   * another leader may still commit it, so its caller must treat it as possibly applied
   * ({@code TIMEOUT}, as when leadership is lost), never as refused.
   */
  private static PartitionStateMachine.Outcome proposedButUnanswered(String why) {
    return new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.TIMEOUT, why + "; the write was proposed and may still apply");
  }

  private void failPending(String why) {
    for (Replica r : replicas.values()) {
      PartitionStateMachine.Outcome closed = new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.CLOSED, why);
      failPendingWrites(r, closed); // never proposed: certainly not applied
      PartitionStateMachine.Outcome unknown = proposedButUnanswered(why);
      r.proposals.values().forEach(p -> p.complete(unknown));
      r.proposals.clear();
      ReadPath.failWaiting(r, () -> new NodeClosedException(why, false),
          KvResponse.Failure.of(KvResponse.Code.CLOSED, why));
    }
  }

  // ------------------------------------------------------------------ replicas

  /**
   * Opens this node's replica of {@code g} from storage, fenced ({@link Replica#divergedAt}) if
   * its fence is recorded ({@link Tombstones#fencedAt}). Before start, or on the applier (which
   * creates every replica made while running, so creations never race).
   */
  private Replica openReplica(long g) {
    Replica r = new Replica(g, engine.log(g), engine.stateMachine(g));
    r.divergedAt = tombstones.fencedAt(g); // before it is published: no read may see it unfenced
    if (r.divergedAt != 0) {
      log.warn("{} group {}: this replica was fenced at index {} (its state diverged): it serves no reads and does not lead "
          + "until a later hash check matches", who, g, r.divergedAt);
    }
    r.sm = PartitionStateMachine.open(g, new StoragePartitionStore(r.smStore), r.smStore.appliedTerm(),
        config.sessionTimeout().toMillis(), initialSpans.get(g));
    r.appliedIndex = r.smStore.appliedIndex();
    r.rebuilding = r.sm.rebuild();
    Tombstones.Tombstone t = tombstones.get(g);
    if (t != null && r.appliedIndex < t.lastIndex()) {
      // Created again after a replica here was destroyed, and not yet past its predecessor's log
      // (or reopened so after a restart): no vote yet (see Tombstones).
      r.quarantinedBelow = t.lastIndex();
    }
    r.commitIndex = r.log.hardState().commit();
    r.term = r.log.hardState().term();
    r.submittedTerm = r.term;
    r.submittedVote = r.log.hardState().vote();
    r.compactedIndex = r.log.firstIndex() - 1;
    RaftConfig rc = RaftConfig.builder(nodeId)
        .electionTick(config.electionTicks())
        .heartbeatTick(config.heartbeatTicks())
        .applied(r.smStore.appliedIndex())
        .readOnlyOption(ReadOnlyOption.LEASE_BASED)
        .clockDriftFactor(config.leaseClockDriftFactor())
        .maxApplyingEntriesSize(overrides.applyingBytesPerGroup > 0 ? overrides.applyingBytesPerGroup
            : APPLYING_BYTES_PER_GROUP)
        .sendBudget(sendBudget)
        .random(new SplittableRandom(nodeId * 1_000_003L + g ^ System.nanoTime()))
        .build();
    r.raw = new RawNode(rc, new RaftLogStorage(r.log, () -> requestSnapshot(r)));
    r.promotable = r.divergedAt == 0;
    r.raw.setPromotable(r.promotable); // not yet on the loop: no one else touches the core
    replicas.put(g, r);
    publishSpan(r);
    return r;
  }

  /**
   * Election timeouts a fenced replica's partition must have been leaderless, as the replica sees
   * it, before the replica campaigns ({@link #updatePromotable}). Every clean voter's randomized
   * timeout is below two, so a clean voter that can win has campaigned by then.
   */
  static final int FENCED_CAMPAIGN_AFTER_TIMEOUTS = 3;

  /**
   * Any thread, after {@code r}'s fence ({@link Replica#divergedAt}) was set or lifted: tells its
   * Raft core, on the loop (which alone touches the core), whether it may campaign
   * ({@link #updatePromotable}), from the fence as it is then: changes posted from several threads
   * end with the last one's. A campaign that started before the fence was known may still win
   * meanwhile; such a leader is a fenced leader like any other (it hands the leadership away and
   * answers no client write from its state).
   */
  void syncPromotable(Replica r) {
    post(() -> updatePromotable(r));
  }

  /**
   * loop: a fenced replica should not lead, so its Raft core does not campaign
   * ({@link RawNode#setPromotable}), unless it has known no leader for
   * {@link #FENCED_CAMPAIGN_AFTER_TIMEOUTS} election timeouts. Kept unpromotable for good, it could
   * stall its partition for good: if it alone holds the whole committed log, it refuses its vote
   * to every other voter (the log rule) and no one is elected, so no write, no check to lift the
   * fence, no repair. Leading is safe for it: a fenced leader only replicates (it takes no client
   * write, answers none from its state, serves no read) and hands off once a clean voter is caught
   * up (ReplicaHashChecks#handDivergedLeadershipsAway). Leader or following one, it is
   * unpromotable again (a leader keeps leading until that hand-off).
   */
  void updatePromotable(Replica r) {
    boolean promotable = r.divergedAt == 0
        || r.ticksWithoutLeader >= FENCED_CAMPAIGN_AFTER_TIMEOUTS * config.electionTicks();
    if (promotable != r.promotable) {
      r.promotable = promotable;
      r.raw.setPromotable(promotable);
    }
  }

  /**
   * loop: drops this node's replica of a partition it no longer belongs to. The replica leaves the
   * loop at once (no more steps, Readies or routing); its calls fail retryably; once every log write
   * submitted so far is durable, the applier records a tombstone (see {@link Tombstones}) and
   * deletes the replica's log and state. Until then no replica of the partition is created here.
   */
  void destroyReplica(Replica r, String why) {
    long g = r.groupId;
    if (!replicas.remove(g, r)) {
      return;
    }
    routing.remove(g);
    destroying.add(g);
    Status st = r.raw.status();
    Tombstones.Tombstone t = new Tombstones.Tombstone(Math.max(st.hardState().term(), r.term), st.hardState().vote(),
        st.lastIndex());
    log.info("{} group {}: destroying this replica: {}", who, g, why);
    String gone = "the replica on " + who + " was removed from partition " + g;
    failPendingWrites(r, new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.NO_LEADER, gone)); // never proposed
    PartitionStateMachine.Outcome unknown = proposedButUnanswered(gone);
    r.proposals.values().forEach(p -> p.complete(unknown));
    r.proposals.clear();
    ReadPath.failWaiting(r, LeadershipLost::new, KvResponse.Failure.of(KvResponse.Code.NO_LEADER,
        "the replica of partition " + g + " on " + who + " was removed"));
    submitTurnLog(); // this turn's writes of the group too
    lastWrite.whenComplete((v, e) -> applyQueue.add(() -> {
      try {
        if (e == null && state == State.RUNNING) {
          afterDestroyStep(g, DestroyStep.BEGUN);
          awaitSnapshot(r); // no background snapshot may write the group's state after it is deleted
          tombstones.record(g, t);
          afterDestroyStep(g, DestroyStep.RECORDED);
          engine.deleteGroup(g);
          afterDestroyStep(g, DestroyStep.DELETED);
          log.info("{} group {}: replica destroyed (tombstone: term {}, log to {})", who, g, t.term(), t.lastIndex());
        }
      } finally {
        post(() -> destroying.remove(g));
      }
    }));
  }

  /** The tombstone of {@code g}'s last replica destroyed here, if any (tests). */
  Tombstones.Tombstone tombstone(long g) {
    return tombstones.get(g);
  }

  /** loop: runs {@code watcher} at every tick until it returns true (placement's waits). */
  void everyTick(BooleanSupplier watcher) {
    tickWatchers.add(watcher);
  }

  /** Partition commands at their leader, and the operator's calls (placement's calls go through it). */
  GroupCommands commands() {
    return commands;
  }

  /** Replica repairs (tests). */
  ReplicaRepair repairs() {
    return repairs;
  }

  /** Placement and the directory of peers' replicas (tests). */
  PlacementDriver placement() {
    return placement;
  }

  /** The replicas this node hosts (live view; placement). */
  Map<Long, Replica> replicas() {
    return replicas;
  }

  RoutingTable routing() {
    return routing;
  }

  /** Where this node's leaderships go (tests: balancing rounds, pins). */
  LeaderPlacement leaders() {
    return leaders;
  }

  /** The ids of every member this node knows an address of, itself included. */
  Set<Long> memberIds() {
    return members.keySet();
  }

  /** A member's advertised address, or empty. */
  String memberAddress(long id) {
    return members.getOrDefault(id, "");
  }

  /**
   * Sends an encoded request to a peer (placement's directory polls). Over Netty, a member that
   * applied a removal of this node from every partition has forgotten it ({@link
   * #onMembershipChange}): it neither dials it nor accepts its connections, so a poll on the peer
   * connection would never be answered, while a removed replica is destroyed only when the
   * members' answers show the removal ({@link PlacementDriver#votersAppliedRemoval}, or a
   * membership without it past its log). So without placement (which forgets no one), a node that
   * hosts a replica with a membership and has no peer connection to {@code to} polls it on the
   * client lane, the way any non-member reaches a node: the answer is the same report, and that
   * lane carries requests only, so no Raft message of this node gets in. (Like every client request
   * it ignores injected faults, which never close a peer connection.)
   */
  CompletableFuture<byte[]> request(long to, byte[] payload, Duration timeout) {
    String address = members.get(to);
    if (address != null && transport instanceof NettyTransport nt && config.replicationFactor() == 0
        && !nt.isConnected(to) && replicas.values().stream().anyMatch(r -> !r.confState.voters().isEmpty())) {
      TransportConnector lane = clientLane();
      if (lane != null) {
        return lane.send(address, payload, timeout);
      }
    }
    return transport.request(to, payload, timeout);
  }

  /** The client lane to the members (see {@link #request}), opened on first use; null once closed. */
  private TransportConnector clientLane() {
    synchronized (clientLaneLock) {
      if (clientLane == null && state == State.RUNNING) {
        log.info("{}: directory polls to peers it has no connection to go on the client lane", who);
        clientLane = new TransportConnector(clusterIdNumber(config.clusterId()));
      }
      return clientLane;
    }
  }

  /** Routes the replica's keys here, unless it is frozen for a merge (its keys are the left one's). */
  private void publishSpan(Replica r) {
    KeySpan span = r.sm.span();
    r.appliedSpan = new AnswerAtCommit.AppliedSpan(r.sm.appliedIndex(), span, r.sm.frozenInto());
    if (r.sm.frozenInto() != 0) {
      routing.freeze(r.groupId);
    } else if (span != null && replicas.get(r.groupId) == r) {
      routing.update(r.groupId, span);
    }
  }

  // ------------------------------------------------------------------ the Raft loop

  /** Queues an internal completion for the Raft loop; false only when the node is stopped. */
  boolean post(Runnable task) {
    if (state != State.RUNNING && state != State.CLOSING) {
      return false;
    }
    return inbox.offer(task);
  }

  /** Queues loop work that need not wake the loop: it runs first in the loop's next turn. */
  private void postNextTurn(Runnable task) {
    if (state == State.RUNNING || state == State.CLOSING) {
      nextTurn.add(task);
    }
  }

  /**
   * Queues outside work for the Raft loop; false when stopped or the inbox is over its bound. While
   * this thread dispatches the items of a multi ({@link RequestRouter#serveMulti}), the task is collected instead
   * and posted with the others of that multi as one loop task.
   */
  private boolean postExternal(Runnable task) {
    List<Runnable> collecting = RequestRouter.collectingLoopTasks();
    if (collecting != null) {
      collecting.add(task);
      return true;
    }
    return inbox.size() < INBOX_LIMIT && post(task);
  }

  private void runLoop() {
    MDC.put("node", Long.toString(nodeId));
    long tickNanos = config.tickInterval().toNanos();
    long nextTick = System.nanoTime() + tickNanos;
    nextTickNanos = nextTick;
    while (state == State.RUNNING || state == State.CLOSING) {
      try {
        long wait = nextTick - System.nanoTime();
        Runnable t = wait > 0 ? inbox.poll(wait, TimeUnit.NANOSECONDS) : inbox.poll();
        RuntimeEvents.LoopTurn turn = new RuntimeEvents.LoopTurn();
        turn.begin();
        for (Runnable earlier = nextTurn.poll(); earlier != null; earlier = nextTurn.poll()) {
          runSafely(earlier); // queued before whatever woke the loop
        }
        for (int n = 0; t != null && n < 10_000; n++) {
          runSafely(t);
          t = inbox.poll();
        }
        if (t != null) {
          runSafely(t);
        }
        flushWrites(); // before any Ready: what this drain took goes out in it
        long now = System.nanoTime();
        if (now - nextTick >= 0) {
          onTick(now);
          nextTick += tickNanos;
          if (now - nextTick >= 0) {
            // After a pause, do not replay missed ticks in a burst: lease safety counts on it.
            nextTick = now + tickNanos;
            leaseResumesAtTick = ticks + config.electionTicks();
          }
          nextTickNanos = nextTick;
          turn.tick = true;
        }
        for (Replica r : replicas.values()) {
          if (r.quiesced && r.raw.hasReady()) {
            quiescence.wake(r); // a quiesced group makes no Ready by itself: something asked it to work
          }
          // Before the Ready goes out: a TimeoutNow in it ends the lease before it is sent.
          publishLease(r, nextTick);
          if (!storageFailed && !r.installing && r.raw.hasReady()) {
            handleReady(r, r.raw.ready());
          }
        }
        endTurn();
        turn.commit();
      } catch (InterruptedException e) {
        if (state == State.CLOSED) {
          break;
        }
      } catch (RuntimeException | Error e) {
        // A Ready half-handled (say, a log batch refused) would leave a group stuck or worse.
        onStorageFailure(e);
      }
    }
  }

  /**
   * loop: ends a turn of the loop: sends what every group has for each peer with one transport
   * call per peer, then hands the turn's log writes to the log writer as one batch (a leader's
   * AppendEntries leave before its own write is queued: the write runs while they travel).
   */
  private void endTurn() {
    for (Map.Entry<Long, List<Envelope>> e : outbox.entrySet()) {
      if (!e.getValue().isEmpty()) {
        transport.send(e.getKey(), e.getValue());
      }
    }
    outbox.clear();
    sendBudget.endTurn();
    submitTurnLog();
  }

  /**
   * loop: submits this turn's log writes; once they (and every write before them) are durable, the
   * log writer's thread sends the messages that claim them and the loop tells each Raft core how
   * far its log is durable. Also called mid-turn by whatever must wait for every write so far.
   */
  private void submitTurnLog() {
    CompletableFuture<Void> durable = lastWrite;
    CompletableFuture<Void> written = lastWritten;
    if (turnLog != null && !turnLog.isEmpty()) {
      CompletableFuture<Void> w = new CompletableFuture<>();
      durable = writer.submit(turnLog, () -> w.complete(null));
      durable.whenComplete((v, e) -> {
        if (e != null) {
          w.completeExceptionally(e); // refused or failed: never written
        } else {
          w.complete(null); // durable implies written (a no-op once the writer said so)
        }
      });
      lastWrite = durable;
      lastWritten = w;
      written = w;
    }
    turnLog = null;
    if (turnPersisted.isEmpty() && turnAfterPersist.isEmpty()) {
      return;
    }
    List<Runnable> persisted = turnPersisted;
    List<Runnable> writtenNotices = turnWritten;
    Map<Long, List<Envelope>> after = turnAfterPersist;
    boolean wakeLoop = turnPersistedWakes;
    turnPersisted = new ArrayList<>();
    turnWritten = new ArrayList<>();
    turnAfterPersist = new HashMap<>();
    turnPersistedWakes = false;
    if (!writtenNotices.isEmpty()) {
      // Committed entries may be applied once written: the round then waits for the fsyncs of a
      // majority, whichever they are, instead of always the leader's own (finding 47).
      written.thenRun(() -> {
        Runnable notice = () -> writtenNotices.forEach(Runnable::run);
        if (wakeLoop) {
          post(notice);
        } else {
          postNextTurn(notice);
        }
      });
    }
    durable.whenComplete((v, e) -> {
      if (e != null) {
        onStorageFailure(e);
        return;
      }
      after.forEach(transport::send);
      if (!persisted.isEmpty()) {
        Runnable notice = () -> persisted.forEach(Runnable::run);
        if (wakeLoop) {
          post(notice);
        } else {
          postNextTurn(notice);
        }
      }
    });
  }

  /** loop: queues {@code m} of group {@code g} for the end of this turn (see {@link #endTurn}). */
  private void queueSend(long g, Message m) {
    metrics.sent(m);
    outbox.computeIfAbsent(m.to(), k -> new ArrayList<>()).add(new Envelope(g, m));
  }

  /**
   * Lets other threads serve lease reads of {@code r} until the next tick is due: the lease can
   * only lapse on a tick, and everything else that ends it (a higher term, a leadership transfer,
   * a stalled sync) happens on this loop, which republishes before sending anything. A loop late
   * for its tick stops the fast path; reads then come through the loop.
   */
  private void publishLease(Replica r, long nextTickNanos) {
    boolean valid = leaseUsable(r) && !storageFailed && r.raw.hasValidLease();
    if (valid) {
      leaseReadIndex(r); // before the lease: a reader that sees the lease sees this commit index
    }
    long until = valid ? nextTickNanos : Long.MIN_VALUE;
    if (r.leaseUntilNanos != until) {
      r.leaseUntilNanos = until;
    }
  }

  /**
   * loop: the index a lease read of {@code r} must find applied: the Raft core's commit index now,
   * published to {@link Replica#commitIndex} at once rather than with the next Ready. The step that
   * makes a new leader's lease valid (its first entry commits) is also the one that tells it how
   * far its predecessor committed; until that Ready is handled, the published index can lag behind
   * writes the predecessor acknowledged, and a lease read served at it would miss them (a stale
   * {@code LEASE} get in a coalesced-workload run: docs/guarantees.md).
   */
  private long leaseReadIndex(Replica r) {
    long commit = r.raw.commitIndex();
    if (commit > r.commitIndex) {
      r.commitIndex = commit;
    }
    return commit;
  }

  /**
   * loop: whether lease reads of {@code r} may be served at all now (see {@link #leaseResumesAtTick}
   * and {@link Replica#leaseResumesAtTick}).
   */
  private boolean leaseUsable(Replica r) {
    return !syncStalled && ticks >= leaseResumesAtTick && !r.quiesced && ticks >= r.leaseResumesAtTick;
  }

  private void runSafely(Runnable t) {
    try {
      t.run();
    } catch (RuntimeException e) {
      log.error("{}: task failed on the raft loop", who, e);
    }
  }

  private void onTick(long now) {
    ticks++;
    boolean quiesce = config.quiesceIdleGroups();
    for (Replica r : replicas.values()) {
      if (r.quiesced) {
        if (quiescence.staysQuiesced(r, now)) {
          continue;
        }
      } else if (quiesce && r.isLeader() && quiescence.maybeQuiesce(r, now)) {
        continue;
      }
      // A node whose log sync hangs can make neither its vote nor its log durable, so campaigning
      // could only bump terms: its non-leaders stop ticking until the sync returns (a follower
      // missing ticks keeps its lease promise longer, which is safe). Leaders tick on: they
      // heartbeat while handing leadership away.
      // A quarantined replica (see Tombstones) neither votes nor campaigns: it is not ticked.
      if ((!syncStalled || r.isLeader()) && r.appliedIndex >= r.quarantinedBelow) {
        r.raw.tick();
        r.ticksWithoutLeader = r.isLeader() ? 0 : r.ticksWithoutLeader + 1;
        updatePromotable(r);
      }
    }
    quiescence.sendNodeHeartbeats();
    if (!tickWatchers.isEmpty()) {
      tickWatchers.removeIf(BooleanSupplier::getAsBoolean);
    }
    checkSyncStall(now);
    hashChecks.handDivergedLeadershipsAway();
    repairs.onTick();
    placement.onTick(ticks);
    leaders.onTick(ticks);
    hashChecks.proposeChecks(ticks);
  }

  /** I/O thread: one inbound frame's messages become one loop task. */
  private void onMessages(long from, List<Envelope> messages) {
    List<Envelope> steps = new ArrayList<>(messages.size());
    for (Envelope e : messages) {
      if (e.groupId() == NODE_HEARTBEAT_GROUP) {
        quiescence.heardFrom(from);
      } else {
        steps.add(e);
      }
    }
    if (!steps.isEmpty() && !postExternal(() -> stepAll(from, steps))) {
      metrics.droppedMessages.increment(steps.size());
    }
  }

  /** loop: steps each message; one that fails is logged and lost (as if dropped), not the rest. */
  private void stepAll(long from, List<Envelope> messages) {
    for (Envelope e : messages) {
      try {
        step(from, e.groupId(), e.message());
      } catch (RuntimeException ex) {
        log.error("{}: stepping {} of group {} from node {} failed", who, e.message().getClass().getSimpleName(),
            e.groupId(), from, ex);
      }
    }
  }

  private void step(long from, long g, Message m) {
    Replica r = replicas.get(g);
    if (r == null) {
      maybeCreateUnknown(from, g, m);
      return;
    }
    if (from == r.leader) {
      r.lastLeaderContactNanos = System.nanoTime();
      r.ticksWithoutLeader = 0;
    }
    if ((m instanceof Message.RequestVote || m instanceof Message.TimeoutNow) && r.appliedIndex < r.quarantinedBelow) {
      return; // see Tombstones: no vote until the replica holds what its destroyed predecessor did
    }
    if (m instanceof Message.Heartbeat h && h.readContext() == QUIESCE_CONTEXT) {
      quiescence.onQuiesceNotice(r, from, h);
      return;
    }
    if (r.quiesced && !(m instanceof Message.HeartbeatResponse)) {
      // A late answer to the last heartbeat before quiescing is no work; anything else is. (A
      // response that does make the core act shows as a Ready, which wakes the group too.)
      quiescence.wake(r);
    }
    r.raw.step(m);
  }

  /** Whether {@code members} hold a majority of {@code voters} (an empty voter set, as a joint configuration's unused half, needs none). */
  static boolean holdsQuorum(Set<Long> members, Set<Long> voters) {
    int in = 0;
    for (long v : voters) {
      if (members.contains(v)) {
        in++;
      }
    }
    return voters.isEmpty() || in > voters.size() / 2;
  }

  /** The first index this node's log of group {@code g} holds: what compactions left (tests). */
  long logFirstIndex(long g) {
    return engine.log(g).firstIndex();
  }

  /** The hard state this node's storage holds for group {@code g} (tests). */
  HardState durableHardState(long g) {
    return engine.log(g).hardState();
  }

  /** Whether this node's replica of group {@code g} is quiesced (tests, status). */
  boolean isQuiesced(long g) {
    Replica r = replicas.get(g);
    return r != null && r.quiesced;
  }

  /**
   * A leader or a candidate of a group this node does not host contacts it: this node was added
   * to the group (joining), or it has not applied the split that created the group yet, or never
   * will (it installed a snapshot of the parent taken after the split). Wait a little for the
   * split to apply here; after that, have the applier create an empty replica. A leader fills it
   * with a snapshot. A candidate gets its vote: without it, a split child that only one node of
   * three created from the split could never elect a leader (see docs/architecture.md, "Splits").
   * The empty replica has no log and no membership, so it never campaigns, and its vote is that
   * of a member that never took part, which Raft counts safely; a node that held a replica of the
   * group before (a tombstone with a log) is not re-created for a vote, since its quarantined
   * replica could not vote anyway (see {@link Tombstones}). The loop never waits for the
   * creation: the applier may be busy creating the same partition from a split (an fsync), so the
   * message that asked for it is stepped once the replica exists, and the sender's other messages
   * meanwhile are dropped (it retries).
   */
  private void maybeCreateUnknown(long from, long g, Message m) {
    boolean fromLeader = m instanceof Message.AppendEntries || m instanceof Message.Heartbeat
        || m instanceof Message.InstallSnapshot;
    boolean voteRequest = m instanceof Message.RequestVote;
    if (!(fromLeader || voteRequest) || state != State.RUNNING || creating.contains(g) || destroying.contains(g)) {
      return;
    }
    long first = unknownGroupSeen.computeIfAbsent(g, x -> ticks);
    boolean initialGroup = initialSpans.containsKey(g);
    boolean waited = ticks - first >= config.electionTicks() * 2L;
    if (voteRequest) {
      Tombstones.Tombstone t = tombstones.get(g);
      if (!waited || (t != null && t.lastIndex() > 0)) {
        return;
      }
    } else if (!initialGroup && !waited && !(m instanceof Message.InstallSnapshot)) {
      return;
    }
    creating.add(g);
    applyQueue.add(() -> {
      if (!replicas.containsKey(g) && state == State.RUNNING) {
        log.info("{} group {}: contacted by {} node {}, creating an empty replica", who, g,
            voteRequest ? "candidate" : "leader", m.from());
        Tombstones.Tombstone t = tombstones.get(g);
        if (t != null) {
          // A replica of this partition lived here before. Start one term past it, with no vote:
          // no vote of it is forgotten (it never reached that term), and a leader that still
          // counts what the old replica acknowledged (its record of this member outlived the
          // replica, and would send a commit index past the new, empty log) leads an older term,
          // so this replica's first answer deposes it and the next leader starts a fresh record.
          engine.write(engine.newLogBatch().hardState(g, new HardState(t.term() + 1, RaftConfig.NONE, 0)));
        }
        openReplica(g); // quarantined if t says its predecessor held a log
        if (t != null) {
          log.info("{} group {}: a replica here was destroyed before (term {}, log to {}): no vote until applied to {}",
              who, g, t.term(), t.lastIndex(), t.lastIndex());
        }
      }
      post(() -> {
        creating.remove(g);
        unknownGroupSeen.remove(g);
        if (replicas.containsKey(g)) {
          step(from, g, m);
        }
      });
    });
  }

  private void handleReady(Replica r, Ready rd) {
    SoftState ss = rd.softState();
    if (ss.leader() != r.leader || ss.role() != r.role) {
      onSoftState(r, ss);
    }
    rd.hardState().ifPresent(hs -> {
      r.term = hs.term();
      r.commitIndex = hs.commit();
    });
    send(r, rd.messages());
    if (rd.snapshot().isPresent()) {
      r.installing = true;
      // The snapshot compacts the log: install it only once every append handed to the log writer
      // before it is written. An earlier Ready's entries still queued there (the writer runs up to
      // three rounds ahead of its syncs) would otherwise land below the compacted index, which
      // the engine refuses as a storage failure (a node stopped so in PlacementTest).
      submitTurnLog();
      lastWrite.whenComplete((v, e) -> applyQueue.add(() -> installSnapshot(r, rd)));
      return;
    }
    persist(r, rd);
    handCommitted(r, rd.committedEntries());
    reads.releaseReadStates(r, rd.readStates());
  }

  private void onSoftState(Replica r, SoftState ss) {
    boolean wasLeader = r.isLeader();
    if (ss.leader() != r.leader) {
      metrics.leaderChanges.increment();
      log.info("{} group {}: leader {} -> {} (term {})", who, r.groupId, r.leader, ss.leader(), r.term);
      if (ss.leader() != RaftConfig.NONE) {
        r.lastLeaderContactNanos = System.nanoTime();
        r.ticksWithoutLeader = 0;
      }
    }
    r.leader = ss.leader();
    if (ss.leader() != RaftConfig.NONE) {
      r.lastKnownLeader = ss.leader();
    }
    r.role = ss.role();
    if (wasLeader && ss.role() != StateRole.LEADER) {
      leaders.unpin(r.groupId); // a pin holds only while the operator's placement does
      // Entries proposed here may still commit under the next leader: the outcome is unknown.
      PartitionStateMachine.Outcome lost = proposedButUnanswered("leadership lost before the entry applied");
      r.proposals.values().forEach(p -> p.complete(lost));
      r.proposals.clear();
      r.readIndexWaiting.values().forEach(w -> w.ready.completeExceptionally(new LeadershipLost()));
      r.readIndexWaiting.clear();
    }
    if (!wasLeader && ss.role() == StateRole.LEADER) {
      r.stallTransferStarted = false;
      // Any inherited entry may change the span: no write is answered at commit until it applied.
      r.spanChangeBound = r.raw.status().lastIndex();
    }
  }

  /** A ReadIndex request was dropped because this node stopped leading. */
  static final class LeadershipLost extends RuntimeException {
    private static final long serialVersionUID = 1L;

    LeadershipLost() {
      super("leadership lost before the read index was confirmed", null, false, false);
    }
  }

  private void send(Replica r, List<Message> messages) {
    for (Message m : messages) {
      if (m instanceof Message.InstallSnapshot s) {
        sendSnapshot(r, s);
      } else {
        queueSend(r.groupId, m);
      }
    }
  }

  private void sendSnapshot(Replica r, Message.InstallSnapshot m) {
    long g = r.groupId;
    long to = m.to();
    // Counted from here: no compaction may drop the payload before the transfer ends.
    r.snapshotsSending.incrementAndGet();
    try {
      readPool.execute(() -> {
        boolean started = false;
        try {
          io.quorumkv.storage.SnapshotSource source = r.smStore.openSnapshot(m.snapshot());
          log.info("{} group {}: sending snapshot at {} to node {}", who, g, m.snapshot().metadata().index(), to);
          started = true;
          transport.sendSnapshot(to, g, m, new SnapshotStreams.Sending(source))
              .whenComplete((v, e) -> {
                r.snapshotsSending.decrementAndGet();
                if (e != null) {
                  log.warn("{} group {}: snapshot to node {} failed: {}", who, g, to, e.toString());
                }
                post(() -> r.raw.reportSnapshot(to, e == null));
              });
        } catch (RuntimeException e) {
          log.warn("{} group {}: cannot send snapshot to node {}: {}", who, g, to, e.toString());
          if (!started) {
            r.snapshotsSending.decrementAndGet();
            post(() -> r.raw.reportSnapshot(to, false));
          }
        }
      });
    } catch (RejectedExecutionException e) {
      r.snapshotsSending.decrementAndGet(); // closing
    }
  }

  /**
   * Adds a Ready's log writes to this turn's batch (see {@link #submitTurnLog}); messages claiming
   * their durability, and the core's notice, follow that batch's write.
   */
  private void persist(Replica r, Ready rd) {
    boolean appends = !rd.entries().isEmpty();
    if (appends) {
      turnLog().append(r.groupId, rd.entries());
    }
    // A new term or vote must be durable before anything claims it; a hard state that moved only
    // the commit index is not written at all. The commit index is volatile state in the Raft paper:
    // after a restart the node relearns it from the leader, and its applied index bounds it from
    // below (the Raft core commits through the applied index on restart). Writing it with every
    // append, as etcd does, cost one more record per group and turn in the log writer's batch and
    // memtable: a third of its records with many partitions, each carrying one entry.
    rd.hardState().ifPresent(hs -> {
      if (hs.term() != r.submittedTerm || hs.vote() != r.submittedVote) {
        turnLog().hardState(r.groupId, hs);
        r.submittedTerm = hs.term();
        r.submittedVote = hs.vote();
      }
    });
    for (Message m : rd.messagesAfterPersist()) {
      metrics.sent(m);
      turnAfterPersist.computeIfAbsent(m.to(), k -> new ArrayList<>()).add(new Envelope(r.groupId, m));
    }
    Entry last = rd.lastEntry();
    if (last != null) {
      turnWritten.add(() -> r.raw.written(last.index(), last.term()));
      turnPersisted.add(() -> r.raw.persisted(last.index(), last.term()));
      // A leader's own durable index counts toward its commit index: it wakes the loop (so does a
      // candidate's, which may lead by the time the write is durable). A follower's waits for the
      // loop's next turn.
      turnPersistedWakes |= r.role != StateRole.FOLLOWER;
    }
  }

  private LogBatch turnLog() {
    if (turnLog == null) {
      turnLog = engine.newLogBatch();
    }
    return turnLog;
  }

  private void onStorageFailure(Throwable e) {
    if (!storageFailed) {
      storageFailed = true;
      log.error("{}: storage or state machine failure; this node stops taking part in its groups until restarted",
          who, e);
    }
  }

  /** Applies membership changes to the cores in log order, then queues the batch for the applier. */
  private void handCommitted(Replica r, List<Entry> entries) {
    if (entries.isEmpty()) {
      return;
    }
    List<ApplyItem> items = new ArrayList<>(entries.size());
    long bytes = 0;
    // Answers at commit only while the applier keeps up: a read waits for the applier to reach
    // the commit index, so a write answered far ahead of it would make the next reads wait.
    // Never while fenced: the span the answer relies on is this replica's (see Replica.Proposal#answer).
    boolean answerAtCommit = r.isLeader() && r.divergedAt == 0
        && applyBacklogBytes.get() <= ANSWER_AT_COMMIT_BACKLOG_BYTES;
    for (Entry e : entries) {
      bytes += e.sizeBytes();
      if (answerAtCommit) {
        Replica.Proposal p = r.proposals.get(e.index());
        if (p != null && p.knownAtCommit() != null && p.term() == e.term()) {
          metrics.answeredAtCommit.increment(p.answerAtCommit());
        }
      }
      if (e.type() == EntryType.CONF_CHANGE) {
        ConfChange cc = ConfChange.decode(e.data());
        ConfState cs = r.raw.applyConfChange(cc, e.index());
        r.confState = cs;
        onMembershipChange(r, cc, cs);
        items.add(new ApplyItem(e, cc, cs));
      } else {
        items.add(new ApplyItem(e, null, null));
      }
    }
    long batchBytes = bytes;
    applyBacklogBytes.addAndGet(batchBytes);
    applyQueue.add(new ApplyTask(r, items, batchBytes));
  }

  private void onMembershipChange(Replica r, ConfChange cc, ConfState cs) {
    // A pin holds for the configuration it was made in: the voters it was balanced against changed.
    leaders.unpin(r.groupId);
    repairs.onMembershipChange(r, cc, cs); // first: whether a removed node is to come back
    for (ConfChange.Single s : cc.changes()) {
      if (s.type() != ConfChangeType.REMOVE && cc.context().length > 0) {
        learnAddress(s.nodeId(), new String(cc.context(), StandardCharsets.UTF_8));
      } else if (s.type() == ConfChangeType.REMOVE && config.replicationFactor() == 0 && !isMemberAnywhere(s.nodeId())
          && !isRebuildingAnywhere(s.nodeId())) { // a node removed to rebuild its replica comes back
        // Gone from every partition: forget it, and the transport refuses it from now on. This
        // node itself, once removed, reports the members that remain. (With placement, a node
        // hosts some partitions only: a member of none of them may still be in the cluster.)
        members.remove(s.nodeId());
        if (s.nodeId() != nodeId && transport instanceof NettyTransport nt) {
          nt.removePeer(s.nodeId());
        }
      }
      log.info("{} group {}: membership {} {} -> voters {} learners {}", who, r.groupId, s.type(), s.nodeId(),
          cs.voters(), cs.learners());
    }
  }

  static boolean isMember(ConfState cs, long id) {
    return cs.voters().contains(id) || cs.learners().contains(id) || cs.votersOutgoing().contains(id)
        || cs.learnersNext().contains(id);
  }

  /** Whether a rebuild of {@code id}'s replica is pending in any partition, as far as this node has applied. */
  boolean isRebuildingAnywhere(long id) {
    return replicas.values().stream().anyMatch(x -> x.rebuilding != null && x.rebuilding.node() == id);
  }

  /** Whether {@code id} is a member of any partition, as far as this node has applied. */
  boolean isMemberAnywhere(long id) {
    return replicas.values().stream().anyMatch(x -> isMember(x.confState, id));
  }

  /** Records a member's address, and tells the transport when it is new or changed. */
  void learnAddress(long id, String address) {
    String old = members.put(id, address);
    if (id != nodeId && !address.equals(old) && transport instanceof NettyTransport nt) {
      try {
        HostPort hp = HostPort.parse("address of node " + id, address);
        nt.setPeer(id, new InetSocketAddress(hp.host(), hp.port()));
      } catch (IllegalArgumentException e) {
        log.warn("{}: cannot reach node {} at {}: {}", who, id, address, e.getMessage());
      }
    }
  }

  /** One committed entry for the applier; membership changes carry their result. */
  private record ApplyItem(Entry entry, ConfChange change, ConfState confState) {}

  // ------------------------------------------------------------------ duties on ticks

  private void checkSyncStall(long now) {
    long age = engine.syncMonitor().syncAgeNanos(now);
    boolean stalled = age > config.syncStallTimeout().toNanos();
    if (stalled && !syncStalled) {
      log.warn("{}: a log sync has been running for {} ms; handing leaderships away", who,
          TimeUnit.NANOSECONDS.toMillis(age));
    }
    syncStalled = stalled;
    if (!stalled && !storageFailed) {
      return;
    }
    leaders.handLeadershipsAwayFromStalledStorage();
  }

  // ------------------------------------------------------------------ the applier

  /**
   * Apply tasks queued together share one storage write up to this many tasks or bytes of
   * entries: enough to pay the write's fixed cost (JNI, RocksDB's write group, a WAL append) once
   * for many groups' small batches, few enough that answers do not wait long behind it.
   */
  private static final int MAX_APPLY_TASKS_PER_WRITE = 64;
  /** Writes are answered at commit ({@link AnswerAtCommit}) while no more than this is committed and not applied. */
  static final long ANSWER_AT_COMMIT_BACKLOG_BYTES = 1L << 20;
  private static final long MAX_APPLY_BYTES_PER_WRITE = 4L << 20;

  private void runApplier() {
    MDC.put("node", Long.toString(nodeId));
    while (state == State.RUNNING || state == State.CLOSING) {
      try {
        Runnable t = applyQueue.poll(100, TimeUnit.MILLISECONDS);
        if (t instanceof ApplyTask a && !storageFailed) {
          RuntimeEvents.Apply event = new RuntimeEvents.Apply();
          event.begin();
          List<ApplyTask> tasks = drainApplyTasks(a);
          applyTogether(tasks);
          event.batches = tasks.size();
          event.commit();
        } else if (t != null && !storageFailed) {
          t.run();
        }
      } catch (InterruptedException e) {
        if (state == State.CLOSED) {
          break;
        }
      } catch (RuntimeException | Error e) {
        // A state machine that failed half-way cannot be trusted: stop taking part until restarted.
        onStorageFailure(e);
      }
    }
  }

  /**
   * One group's committed entries for the applier (from {@link #handCommitted}). Run alone it is
   * applied in a write of its own; the applier takes it with the apply tasks queued right behind.
   */
  private final class ApplyTask implements Runnable {
    final Replica r;
    final List<ApplyItem> items;
    /** The entries' bytes, counted in {@link #applyBacklogBytes} until applied. */
    final long bytes;
    /** After applying: what the completions need. */
    Applied applied;

    ApplyTask(Replica r, List<ApplyItem> items, long bytes) {
      this.r = r;
      this.items = items;
      this.bytes = bytes;
    }

    @Override
    public void run() {
      applyTogether(List.of(this));
    }
  }

  /**
   * What applying one task left to complete once it is written.
   *
   * @param indexes        index and term of each entry applied (those skipped not included)
   * @param outcomes       each one's outcome
   * @param appliedThrough the state machine's applied index after the task
   * @param last           the task's last entry index (applied or skipped)
   * @param membershipChanged whether a membership change was among them
   */
  private record Applied(List<long[]> indexes, List<PartitionStateMachine.Outcome> outcomes,
      long appliedThrough, long last, boolean membershipChanged) {}

  /**
   * {@code first} and the apply tasks queued right behind it, within the bounds of one write. A
   * task of another kind ends the run: it must find every apply before it written.
   */
  private List<ApplyTask> drainApplyTasks(ApplyTask first) {
    List<ApplyTask> tasks = new ArrayList<>();
    tasks.add(first);
    long bytes = first.bytes;
    while (tasks.size() < MAX_APPLY_TASKS_PER_WRITE && bytes < MAX_APPLY_BYTES_PER_WRITE
        && applyQueue.peek() instanceof ApplyTask next) {
      applyQueue.poll(); // the applier is the queue's only taker: this is next
      tasks.add(next);
      bytes += next.bytes;
    }
    return tasks;
  }

  /**
   * Applies the tasks' entries in queue order, then writes every group's result with one storage
   * write ({@link ApplyBatch}: atomic, and published to readers only once written), and only then
   * completes each task in queue order: proposals answered, reads released, applied index posted
   * to the loop, snapshots considered. A group with several tasks here is staged once, with
   * everything applied. Entries that make the state machine read its own store (splits, hashes)
   * write what came before them on their own first (see PartitionStateMachine#commitPrefix).
   */
  private void applyTogether(List<ApplyTask> tasks) {
    try {
      Set<Replica> touched = new LinkedHashSet<>();
      for (ApplyTask t : tasks) {
        LongConsumer hook = overrides.beforeApply;
        if (hook != null) {
          hook.accept(t.r.groupId);
        }
        t.r.appliedBytesSinceCompaction += t.bytes;
        t.applied = applyEntries(t.r, t.items);
        touched.add(t.r);
      }
      try (ApplyBatch batch = engine.newApplyBatch()) {
        for (Replica r : touched) {
          PartitionStore.Commit c = r.sm.takeCommit();
          if (c != null) {
            StoragePartitionStore.stage(r.smStore, batch, c);
          }
        }
        if (!batch.isEmpty()) {
          batch.commit();
          metrics.applyWrites.increment();
        }
      }
      metrics.applyBatches.increment(tasks.size());
      Runnable hook = overrides.afterApplyWrite;
      if (hook != null) {
        hook.run();
      }
      for (ApplyTask t : tasks) {
        completeApplied(t.r, t.applied);
      }
    } finally {
      for (ApplyTask t : tasks) {
        applyBacklogBytes.addAndGet(-t.bytes);
      }
    }
  }

  /** Applies one task's entries to the replica's state machine (in memory until written). */
  private Applied applyEntries(Replica r, List<ApplyItem> items) {
    PartitionStateMachine sm = r.sm;
    List<long[]> applied = new ArrayList<>(items.size());
    List<PartitionStateMachine.Outcome> outcomes = new ArrayList<>(items.size());
    long last = 0;
    boolean membershipChanged = false;
    for (ApplyItem item : items) {
      Entry e = item.entry();
      last = e.index();
      if (e.index() <= sm.appliedIndex()) {
        continue; // applied before a restart or covered by an installed snapshot
      }
      PartitionStateMachine.Outcome o;
      membershipChanged |= item.change() != null;
      if (item.change() != null) {
        sm.applyConfChange(e.index(), e.term(), item.confState(), item.change());
        o = new PartitionStateMachine.Outcome.None();
      } else {
        BiFunction<Long, byte[], byte[]> hook = overrides.applyData;
        o = sm.apply(e.index(), e.term(), hook == null ? e.data() : hook.apply(r.groupId, e.data()));
      }
      if (o instanceof PartitionStateMachine.Outcome.Split s) {
        createChild(r, s);
      } else if (o instanceof PartitionStateMachine.Outcome.Hashed h) {
        hasher.submit(r.groupId, h.job(), hash -> hashChecks.onHash(r, hash));
      }
      applied.add(new long[] {e.index(), e.term()});
      outcomes.add(o);
    }
    if (applied.size() > 0 && ThreadLocalRandom.current().nextInt(64) == 0) {
      sm.collectExpiredSessions();
    }
    return new Applied(applied, outcomes, sm.appliedIndex(), last, membershipChanged);
  }

  /** After the write: answers what one task applied, releases reads, tells the core. */
  private void completeApplied(Replica r, Applied a) {
    r.appliedIndex = a.appliedThrough();
    metrics.commits.increment(a.indexes().size());
    for (int i = 0; i < a.indexes().size(); i++) {
      long[] applied = a.indexes().get(i);
      Replica.Proposal p = r.proposals.remove(applied[0]);
      if (p != null) {
        if (p.term() != applied[1]) {
          p.complete(new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.NO_LEADER,
              "the entry was replaced by another leader's; not applied"));
          continue;
        }
        PartitionStateMachine.Outcome o = a.outcomes().get(i);
        int contradicted = p.contradictions(o);
        if (contradicted > 0) {
          // A bug: clients were told their writes were written. Loud, and counted for tests.
          metrics.answersAtCommitContradicted.increment(contradicted);
          log.error("{} group {}: entry {} applied as {}, contradicting {} answer(s) given at commit", who,
              r.groupId, applied[0], o, contradicted);
        }
        p.complete(p.answer(o, r.divergedAt != 0));
      }
    }
    publishSpan(r);
    ReadPath.releaseApplied(r);
    long lastIndex = a.last();
    // The core needs the applied index for apply flow control (8 MiB per group: far off while the
    // loop turns) and to leave a joint configuration: only the latter wakes the loop.
    if (a.membershipChanged()) {
      post(() -> onApplied(r, lastIndex));
    } else {
      postNextTurn(() -> onApplied(r, lastIndex));
    }
    maybeCompact(r);
  }

  /**
   * loop: tells the core what the applier applied, and lets go of the cached log entries no one
   * needs in memory any more: through the applied index, and on a leader only through what every
   * follower in steady replication holds ({@link io.quorumkv.raft.RawNode#replicatedIndex()}). The
   * entry cache's byte bound alone kept each group's newest entries (at 64 partitions, 32 MiB a
   * node: several seconds of writes) whether or not anyone would read them again, and every young
   * collection copied the ones that were new since the last (benchmarks.md, finding 89).
   */
  private void onApplied(Replica r, long appliedIndex) {
    r.raw.applied(appliedIndex);
    long through = r.isLeader() ? Math.min(appliedIndex, r.raw.replicatedIndex()) : appliedIndex;
    if (through > 0) {
      r.log.dropCachedEntriesThrough(through);
    }
  }

  /**
   * applier: compacts the log through the applied index, without a snapshot (the state store holds
   * everything applied, and a snapshot is taken only when a follower needs one,
   * {@link #requestSnapshot}), once the entries applied since its last compaction reach
   * {@code logCompactionEntries} entries or {@code logCompactionBytes} bytes, or once those of all
   * the node's partitions together reach {@code logCompactionBytes} and this one's at least
   * {@link #MIN_LOG_COMPACTION_SHARE}. The budget is the node's, not each partition's: with many
   * partitions, each log keeps its share of it, so the logs together still fit in the log's
   * memtable and are compacted before a flush writes them to a file (finding 64: 16 partitions
   * flushed every log byte, ten times the bytes per put of one partition), while a partition that
   * takes most of the writes keeps most of the budget. Not while a snapshot is being taken (it
   * compacts the log itself once recorded) or sent (a compaction past it would drop its payload).
   */
  private void maybeCompact(Replica r) {
    long entries = r.appliedIndex - r.compactedIndex;
    if (snapshotInProgress(r) || r.snapshotsSending.get() > 0 || entries <= 0) {
      return;
    }
    boolean due = entries >= config.logCompactionEntries()
        || r.appliedBytesSinceCompaction >= config.logCompactionBytes()
        || (r.appliedBytesSinceCompaction >= MIN_LOG_COMPACTION_SHARE
        && uncompactedLogBytes() >= config.logCompactionBytes());
    if (!due) {
      return;
    }
    long through = r.appliedIndex;
    r.compactedIndex = through;
    r.appliedBytesSinceCompaction = 0;
    writer.submit(engine.newLogBatch().compactThrough(r.groupId, through)).whenComplete((v, e) -> {
      if (e != null) {
        log.warn("{} group {}: log compaction through {} failed: {}", who, r.groupId, through, e.toString());
      }
    });
  }

  /** applier: the bytes of entries every partition here applied since its log was last compacted. */
  private long uncompactedLogBytes() {
    long sum = 0;
    for (Replica r : replicas.values()) {
      sum += r.appliedBytesSinceCompaction;
    }
    return sum;
  }

  /**
   * loop: a follower needs entries the log no longer holds, and no recorded snapshot is recent
   * enough: has the applier take one, once until it is recorded.
   */
  private void requestSnapshot(Replica r) {
    if (!r.snapshotWanted) {
      r.snapshotWanted = true;
      applyQueue.add(() -> takeSnapshot(r));
    }
  }

  /**
   * applier: snapshots the partition on the snapshot thread (over a consistent database view,
   * while the applier goes on), then records it, which also compacts the log up to it. One at a
   * time per replica; a replica no longer here is skipped.
   */
  private void takeSnapshot(Replica r) {
    if (replicas.get(r.groupId) != r || snapshotInProgress(r)) {
      r.snapshotWanted = false; // the core asks again if it still needs one
      return;
    }
    CompletableFuture<Void> done = new CompletableFuture<>();
    r.snapshotting = done;
    try {
      snapshotter.execute(() -> {
        try {
          Snapshot snap = r.smStore.createSnapshot();
          afterSnapshotStep(r.groupId, SnapshotStep.TAKEN);
          metrics.snapshotsTaken.increment();
          log.info("{} group {}: took a snapshot at {} for a follower", who, r.groupId, snap.metadata().index());
          writer.submit(engine.newLogBatch().compact(r.groupId, snap)).whenComplete((v, e) -> {
            r.snapshotWanted = false;
            if (e != null) {
              log.warn("{} group {}: recording the snapshot at {} failed: {}", who, r.groupId,
                  snap.metadata().index(), e.toString());
            }
          });
        } catch (RuntimeException e) {
          r.snapshotWanted = false;
          onStorageFailure(e); // as when the applier took it: the engine is failed or the state unreadable
        } finally {
          done.complete(null);
        }
      });
    } catch (RejectedExecutionException closing) {
      r.snapshotting = null;
      r.snapshotWanted = false;
    }
  }

  /** applier: whether the replica's background snapshot is still being taken (forgets a finished one). */
  private static boolean snapshotInProgress(Replica r) {
    if (r.snapshotting != null && r.snapshotting.isDone()) {
      r.snapshotting = null;
    }
    return r.snapshotting != null;
  }

  /**
   * applier: waits for the replica's background snapshot, if any. Call it before replacing or
   * deleting the replica's stored state (a snapshot install, a replica moved away), so that no
   * snapshot of the old state is written or compacted against after it.
   */
  void awaitSnapshot(Replica r) {
    CompletableFuture<Void> s = r.snapshotting;
    if (s != null) {
      s.join();
      r.snapshotting = null;
    }
  }

  /**
   * Creates this node's replica of a partition born from a split, with the same initial state on
   * every replica: the moved keys and the sessions as of index {@link #SPLIT_INITIAL_INDEX}, and a
   * log compacted through that index, so a replica that missed the split is sent a snapshot.
   * Runs before the parent's state machine makes the split durable, so a crash after it redoes
   * it (the child is then found to exist). Its writes are several: it is recorded as begun first
   * and forgotten last ({@link Tombstones#beginChild}), so a crash between them leaves it recorded,
   * and {@link #start} deletes it before opening anything; the parent, which applies the split
   * again, creates it again. Runs on the applier, like every other replica creation while the node
   * runs, so two creations of one partition never race. The child's state includes the parent's
   * pending rebuild, if any ({@link PartitionStateMachine#rebuild}), in the same write as its seed.
   * A node that is no member of the parent at the split creates nothing.
   */
  private void createChild(Replica parent, PartitionStateMachine.Outcome.Split s) {
    long child = s.newPartitionId();
    if (replicas.containsKey(child) || engine.groups().contains(child)) {
      log.info("{} group {}: split child {} already exists here", who, parent.groupId, child);
      return;
    }
    if (tombstones.get(child) != null) {
      // A replica of the child lived here and was destroyed (removed, merged away, or abandoned
      // empty), and this parent replica applies the split again (created again itself, it replays
      // the parent's log). Creating the child from the split would forget the term, vote and
      // log of that replica; if this node is still a member, the child's leader or candidate
      // has it created again from the tombstone (maybeCreateUnknown).
      log.info("{} group {}: split child {} was destroyed here before; not created from the split", who,
          parent.groupId, child);
      return;
    }
    ConfState cs = parent.smStore.confState();
    if (!isMember(cs, nodeId)) {
      // This node left the parent before the split (it applied its own removal first: the leader
      // replicated the split to it before applying that removal itself; or, added back to the
      // parent since, its new replica replays the split), so it is no member of the child either,
      // which starts with this membership. Created, the replica would hold this node's copy of
      // the parent's state, possibly the diverged state a repair removed it for (ReplicaRepair);
      // and were the node added to the child meanwhile (a rebuild carried into the child), its
      // log would match the leader's at the split's initial index and keep that state. Added to
      // the child, it gets an empty replica and a snapshot instead.
      log.info("{} group {}: split child {} not created here: this node is no member of the parent at the split "
          + "(voters {}, learners {})", who, parent.groupId, child, cs.voters(), cs.learners());
      return;
    }
    // Several writes: a crash between two of them leaves the child recorded as begun, and the
    // next start deletes it before opening anything (see Tombstones).
    tombstones.beginChild(child);
    afterChildStep(child, ChildStep.BEGUN);
    engine.bootstrap(child, cs);
    afterChildStep(child, ChildStep.BOOTSTRAPPED);
    StateMachineStore store = engine.stateMachine(child);
    List<KvMutation> muts = new ArrayList<>();
    for (PartitionStore.Mutation m : PartitionStateMachine.seedMutations(s.seed())) {
      PartitionStore.Mutation.Put p = (PartitionStore.Mutation.Put) m;
      muts.add(KvMutation.put(p.key(), p.value()));
    }
    long i0 = SPLIT_INITIAL_INDEX;
    List<Entry> filler = new ArrayList<>();
    for (long i = 1; i <= i0; i++) {
      filler.add(Entry.normal(i, i0, Entry.EMPTY));
    }
    // The log first (the state machine may not run ahead of it), then the state, then compact.
    engine.write(engine.newLogBatch().append(child, filler).hardState(child, new HardState(i0, 0, i0)));
    afterChildStep(child, ChildStep.LOGGED);
    store.apply(i0, i0, muts, cs);
    afterChildStep(child, ChildStep.SEEDED);
    engine.write(engine.newLogBatch().compact(child, store.createSnapshot()));
    afterChildStep(child, ChildStep.COMPACTED);
    // A child made from a fenced replica holds (part of) the state a hash check found diverged: it
    // is fenced too, until a check of the child's own matches (at an index past its initial one).
    // Else it would serve that state's reads, could lead, and placement, finishing a repair's move
    // that the split carried into the child as a learner, would remove a sound voter instead of it.
    // Recorded with the child's completion, so that it is never complete without its fence.
    tombstones.childDone(child, parent.divergedAt != 0 ? SPLIT_INITIAL_INDEX : 0);
    afterChildStep(child, ChildStep.CREATED);
    Replica r = openReplica(child);
    log.info("{} group {}: split at {} created partition {} {}", who, parent.groupId,
        new String(s.seed().span().start(), StandardCharsets.UTF_8), child, s.seed().span().describe());
    if (parent.isLeader()) {
      post(() -> r.raw.campaign());
    }
  }

  private void afterSnapshotStep(long g, SnapshotStep step) {
    BiConsumer<Long, SnapshotStep> hook = overrides.afterSnapshotStep;
    if (hook != null) {
      hook.accept(g, step);
    }
  }

  private void afterDestroyStep(long g, DestroyStep step) {
    BiConsumer<Long, DestroyStep> hook = overrides.afterDestroyStep;
    if (hook != null) {
      hook.accept(g, step);
    }
  }

  private void afterChildStep(long child, ChildStep step) {
    BiConsumer<Long, ChildStep> hook = overrides.afterChildStep;
    if (hook != null) {
      hook.accept(child, step);
    }
  }

  private void installSnapshot(Replica r, Ready rd) {
    Snapshot snap = rd.snapshot().orElseThrow();
    long index = snap.metadata().index();
    SnapshotStreams.Staged st = staged.remove(r.groupId);
    if (st == null || st.index() != index) {
      log.error("{} group {}: no staged payload for snapshot at {}; cannot install", who, r.groupId, index);
      if (st != null) {
        st.close();
      }
      post(() -> r.installing = false);
      return;
    }
    awaitSnapshot(r);
    // Before the store changes: a read holding the old state machine looks at this after reading.
    r.sm.supersede();
    afterSnapshotStep(r.groupId, SnapshotStep.RECEIVED);
    try {
      st.sink().install();
    } finally {
      st.close();
    }
    afterSnapshotStep(r.groupId, SnapshotStep.INSTALLED);
    PartitionStateMachine sm = PartitionStateMachine.open(r.groupId, new StoragePartitionStore(r.smStore),
        r.smStore.appliedTerm(), config.sessionTimeout().toMillis(), initialSpans.get(r.groupId));
    if (r.divergedAt != 0) {
      // The diverged state is gone, replaced by the leader's as of an index past the fence (a
      // snapshot installs only past the applied index, and the fence is at most that). Lifted
      // before the new state is published; a read meanwhile finds the old one superseded.
      log.warn("{} group {}: this replica, fenced at index {}, installed its leader's snapshot at {}: it serves "
          + "reads again", who, r.groupId, r.divergedAt, index);
      r.divergedAt = 0;
      syncPromotable(r);
    }
    tombstones.fence(r.groupId, 0);
    r.sm = sm;
    r.appliedIndex = r.smStore.appliedIndex();
    r.compactedIndex = index;
    r.appliedBytesSinceCompaction = 0;
    r.confState = r.smStore.confState();
    ReplicaRepair.Rebuild rebuild = r.sm.rebuild();
    r.rebuilding = rebuild;
    r.sm.memberAddresses().forEach((id, address) -> post(() -> learnAddress(id, address)));
    if (rebuild != null) {
      post(() -> learnAddress(rebuild.node(), rebuild.address()));
    }
    KeySpan span = r.sm.span();
    publishSpan(r);
    log.info("{} group {}: installed snapshot at {} {}", who, r.groupId, index, span == null ? "" : span.describe());
    ReadPath.releaseApplied(r);
    post(() -> {
      r.raw.snapshotPersisted(index);
      r.installing = false;
      persist(r, rd);
      handCommitted(r, rd.committedEntries());
      reads.releaseReadStates(r, rd.readStates());
    });
  }

  // ------------------------------------------------------------------ requests

  @Override
  public boolean followsLeaderHints() {
    return false;
  }

  @Override
  public String targets() {
    return who + " (which forwards to the partition's leader)";
  }

  @Override
  public ScheduledExecutorService scheduler() {
    ScheduledExecutorService s = scheduler;
    if (s == null) {
      throw new RejectedExecutionException(who + " is not started");
    }
    return s;
  }

  @Override
  public CompletableFuture<KvResponse> attempt(KvRequest request, long deadlineNanos, KvResponse.Failure previous) {
    if (state != State.RUNNING) {
      return CompletableFuture.failedFuture(new NodeClosedException(
          state == State.NEW ? who + " is not started" : who + " is closed", false));
    }
    return router.execute(request, deadlineNanos);
  }

  /** Answers an external client's encoded request as the transport would (tests without Netty). */
  CompletableFuture<byte[]> serveClient(byte[] payload) {
    return router.onRequest(io.quorumkv.transport.RequestHandler.EXTERNAL_CLIENT, payload);
  }

  /** One attempt of a request received by this node: routed, served here or forwarded. */
  CompletableFuture<KvResponse> execute(KvRequest req, long deadline) {
    return router.execute(req, deadline);
  }


  /**
   * Proposes a client command on the loop thread; completes when its entry applies. A client write
   * waits in its replica until the loop's next flush (before the next Ready), and every write taken
   * for the partition meanwhile goes into the same entry ({@link #flushWrites(Replica)}).
   */
  CompletableFuture<PartitionStateMachine.Outcome> propose(Replica r, Command c) {
    CompletableFuture<PartitionStateMachine.Outcome> f = new CompletableFuture<>();
    boolean posted = postExternal(() -> {
      if (!r.isLeader()) {
        f.complete(new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.NOT_LEADER, "not the leader"));
        return;
      }
      if (c instanceof Command.Write && r.divergedAt != 0) {
        // A fenced leader is handing its leadership away and could answer the write only from its
        // diverged state (Replica.Proposal#answer): refused, certainly not applied; retried once a
        // clean replica leads. (Not NOT_LEADER: its hint would name this node.)
        f.complete(new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.NO_LEADER, "the replica of partition "
            + r.groupId + " on " + who + " leads with a diverged state and is handing leadership away; not proposed"));
        return;
      }
      if (applyQueue.size() > APPLY_BACKLOG_LIMIT || writer.pendingBatches() > LOG_BACKLOG_LIMIT || syncStalled) {
        f.complete(new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.NO_LEADER,
            who + " is overloaded (apply or log backlog, or a stalled sync); not proposed"));
        return;
      }
      if (c instanceof Command.Write w) {
        queueWrite(r, w, f);
        return;
      }
      flushWrites(r); // the writes taken before this command go before it
      proposeEntry(r, c, List.of(f), 0, null);
    });
    if (!posted) {
      f.complete(new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.CLOSED, who + " is not accepting work"));
    }
    return f;
  }

  /**
   * loop: takes a client write for the next entry of {@code r}. An entry holds at most
   * {@link #MAX_PACKED_WRITES} writes and, unless a single write is larger, {@link #MAX_PACKED_BYTES}
   * of them: a write that does not fit sends the ones before it on their way first.
   */
  private void queueWrite(Replica r, Command.Write w, CompletableFuture<PartitionStateMachine.Outcome> f) {
    int size = Codec.writeSize(w);
    if (r.pendingWrites.isEmpty()) {
      packing.add(r);
    } else if (r.pendingWrites.size() >= MAX_PACKED_WRITES || r.pendingBytes + size > MAX_PACKED_BYTES) {
      flushWrites(r); // r stays in packing for the write taken now
    }
    r.pendingWrites.add(w);
    r.pendingCallers.add(f);
    r.pendingBytes += size;
  }

  /** loop: proposes the writes every replica took since the last flush, one entry per replica. */
  private void flushWrites() {
    if (packing.isEmpty()) {
      return;
    }
    for (Replica r : packing) {
      flushWrites(r);
    }
    packing.clear();
  }

  /**
   * loop: proposes the writes {@code r} took as one entry: a single write as a {@link Command.Write}
   * (the format of an entry of one write is unchanged), several as a {@link Command.Writes}.
   */
  private void flushWrites(Replica r) {
    int n = r.pendingWrites.size();
    if (n == 0) {
      return;
    }
    Command c = n == 1 ? r.pendingWrites.get(0) : new Command.Writes(r.pendingWrites);
    List<CompletableFuture<PartitionStateMachine.Outcome>> callers = List.copyOf(r.pendingCallers);
    boolean[] known = AnswerAtCommit.known(r.pendingWrites, r.appliedSpan, r.spanChangeBound);
    r.pendingWrites.clear();
    r.pendingCallers.clear();
    r.pendingBytes = 0;
    proposeEntry(r, c, callers, n, known);
  }

  /**
   * loop: proposes {@code c} for {@code callers}; {@code writes} client writes are in it, those
   * flagged in {@code knownAtCommit} (or none, null) answered at commit.
   */
  private void proposeEntry(Replica r, Command c, List<CompletableFuture<PartitionStateMachine.Outcome>> callers,
      int writes, boolean[] knownAtCommit) {
    byte[] data = Codec.encodeCommand(new Command.Stamped(System.currentTimeMillis(), c));
    long index;
    try {
      index = r.raw.propose(data);
    } catch (ProposalDroppedException e) {
      PartitionStateMachine.Outcome dropped = new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.NO_LEADER,
          e.getMessage());
      callers.forEach(f -> f.complete(dropped));
      return;
    }
    metrics.proposals.increment();
    if (AnswerAtCommit.mayChangeSpan(c)) {
      r.spanChangeBound = Math.max(r.spanChangeBound, index);
    }
    if (writes > 0) {
      metrics.writesProposed.increment(writes);
      if (writes > 1) {
        metrics.writesPacked.increment(writes);
      }
    }
    r.proposals.put(index, new Replica.Proposal(r.term, callers, knownAtCommit, writes > 0));
  }

  /** Fails the writes {@code r} took and has not proposed yet (never proposed: certainly not applied). */
  private static void failPendingWrites(Replica r, PartitionStateMachine.Outcome why) {
    r.pendingCallers.forEach(f -> f.complete(why));
    r.pendingWrites.clear();
    r.pendingCallers.clear();
    r.pendingBytes = 0;
  }

  /** A command proposed by the node itself (hash checks); its outcome is only logged. */
  private void proposeCommand(Replica r, Command c) {
    try {
      r.raw.propose(Codec.encodeCommand(new Command.Stamped(System.currentTimeMillis(), c)));
    } catch (ProposalDroppedException e) {
      // not leader any more, or busy: the next round will do
    }
  }

  KvResponse toResponse(Replica r, PartitionStateMachine.Outcome o) {
    if (o instanceof PartitionStateMachine.Outcome.Written w) {
      return new KvResponse.Written(w.result());
    }
    if (o instanceof PartitionStateMachine.Outcome.Rejected rj) {
      if (rj.code() == KvResponse.Code.NOT_LEADER) {
        return router.notLeader(r);
      }
      return new KvResponse.Failure(rj.code(), rj.message(), r.groupId, 0, "", rj.code() == KvResponse.Code.TIMEOUT);
    }
    if (o instanceof PartitionStateMachine.Outcome.Split s) {
      return new KvResponse.AdminDone(s.newPartitionId());
    }
    if (o instanceof PartitionStateMachine.Outcome.Merged) {
      return new KvResponse.AdminDone(r.groupId); // the partition that now holds the keys
    }
    return new KvResponse.AdminDone(0);
  }

  // ------------------------------------------------------------------ the node as its parts see it

  /**
   * What the node's parts ({@link ReadPath}, {@link RequestRouter}, {@link ReplicaHashChecks}, {@link LeaderPlacement},
   * {@link GroupCommands}, {@link Quiescence}, {@link ReplicaRepair}) need of it, each through its own {@code Node} interface: the runtime's
   * private state and methods stay private, and a method that several parts need is written once.
   */
  private final class NodeView implements ReadPath.Node, RequestRouter.Node, ReplicaHashChecks.Node, LeaderPlacement.Node,
      GroupCommands.Node, Quiescence.Node, ReplicaRepair.Node {
    @Override
    public CompletableFuture<KvResponse> changeMember(Replica r, KvRequest.GroupCommand.ChangeMember m, long deadline) {
      return commands.changeMember(r, m, deadline);
    }

    @Override
    public long nodeId() {
      return nodeId;
    }

    @Override
    public boolean running() {
      return state == State.RUNNING;
    }

    @Override
    public Replica replica(long g) {
      return replicas.get(g);
    }

    @Override
    public Map<Long, Replica> replicas() {
      return replicas;
    }

    @Override
    public Map<Long, String> members() {
      return members;
    }

    @Override
    public boolean isMemberAnywhere(long id) {
      return NodeRuntime.this.isMemberAnywhere(id);
    }

    @Override
    public RoutingTable routing() {
      return routing;
    }

    @Override
    public Set<Long> preferredLeadersInForce() {
      return placement.preferredLeadersInForce();
    }

    @Override
    public boolean fenced(long id, long p) {
      return placement.fenced(id, p);
    }

    @Override
    public boolean nodeAlive(long id) {
      return quiescence.heardWithin(id, System.nanoTime(), config.electionTimeout().toNanos());
    }

    // the Raft loop

    @Override
    public long ticks() {
      return ticks;
    }

    @Override
    public boolean syncStalled() {
      return syncStalled;
    }

    @Override
    public void queueSend(long g, Message m) {
      NodeRuntime.this.queueSend(g, m);
    }

    @Override
    public boolean post(Runnable task) {
      return NodeRuntime.this.post(task);
    }

    @Override
    public boolean postExternal(Runnable task) {
      return NodeRuntime.this.postExternal(task);
    }

    @Override
    public void fenceChanged(Replica r) {
      syncPromotable(r);
      // The applier writes the node-local records (Tombstones); it writes the fence as it is when
      // it runs, so fences and unfences posted from several threads end with the last one's.
      applyQueue.add(() -> {
        if (replicas.get(r.groupId) == r) { // else destroyed: its tombstone's write dropped the fence
          tombstones.fence(r.groupId, r.divergedAt);
        }
      });
    }

    @Override
    public boolean postUncollected(Runnable task) {
      return inbox.size() < INBOX_LIMIT && NodeRuntime.this.post(task);
    }

    @Override
    public void everyTick(BooleanSupplier watcher) {
      NodeRuntime.this.everyTick(watcher);
    }

    @Override
    public long nextTickNanos() {
      return nextTickNanos;
    }

    @Override
    public boolean leaseUsable(Replica r) {
      return NodeRuntime.this.leaseUsable(r);
    }

    @Override
    public long leaseReadIndex(Replica r) {
      return NodeRuntime.this.leaseReadIndex(r);
    }

    @Override
    public Thread applierThread() {
      return applierThread;
    }

    @Override
    public CompletableFuture<PartitionStateMachine.Outcome> propose(Replica r, Command c) {
      return NodeRuntime.this.propose(r, c);
    }

    @Override
    public void proposeOnLoop(Replica r, Command c) {
      proposeCommand(r, c);
    }

    @Override
    public OptionalLong bestTransferee(Replica r) {
      return leaders.bestTransferee(r);
    }

    @Override
    public CompletableFuture<Map<Long, Status.FollowerProgress>> progress(Replica r) {
      CompletableFuture<Map<Long, Status.FollowerProgress>> f = new CompletableFuture<>();
      if (!post(() -> f.complete(r.raw.status().progress()))) {
        f.complete(Map.of());
      }
      return f;
    }

    // answers, peers and timers

    @Override
    public KvResponse toResponse(Replica r, PartitionStateMachine.Outcome o) {
      return NodeRuntime.this.toResponse(r, o);
    }

    @Override
    public KvResponse.Failure notLeader(Replica r) {
      return router.notLeader(r);
    }

    @Override
    public KvResponse failureOf(Throwable t) {
      return router.failureOf(t);
    }

    @Override
    public CompletableFuture<KvResponse> forward(long to, KvRequest req, long deadline, boolean isWrite) {
      return router.forward(to, req, deadline, isWrite);
    }

    @Override
    public CompletableFuture<byte[]> request(long to, byte[] payload) {
      return transport.request(to, payload, config.requestTimeout());
    }

    @Override
    public CompletableFuture<byte[]> request(long to, byte[] payload, Duration timeout) {
      return transport.request(to, payload, timeout);
    }

    @Override
    public void runSafely(Runnable task) {
      NodeRuntime.this.runSafely(task);
    }

    @Override
    public ClusterStatus status() {
      return NodeRuntime.this.status();
    }

    @Override
    public ScheduledExecutorService scheduler() {
      return NodeRuntime.this.scheduler();
    }

    @Override
    public FaultInjector faults() {
      return transport.faults();
    }
  }

  // ------------------------------------------------------------------ status

  /**
   * Whether this node is serving: running, and for every partition it hosts it is a member and
   * knows a leader.
   */
  boolean isReady() {
    if (state != State.RUNNING || replicas.isEmpty()) {
      return false;
    }
    for (Replica r : replicas.values()) {
      if (r.leader == RaftConfig.NONE || !isMember(r.confState, nodeId)) {
        return false;
      }
    }
    return true;
  }

  ClusterStatus status() {
    List<PartitionStatus> parts = new ArrayList<>();
    for (Replica r : new TreeMap<>(replicas).values()) {
      KeySpan span = r.sm.span();
      ConfState cs = r.confState;
      long leader = r.leader;
      if (leader == nodeId && !cs.voters().contains(nodeId) && !cs.votersOutgoing().contains(nodeId)) {
        // Removed, it only hands the group to its successor (the Raft core refuses proposals
        // meanwhile), and may never hear of the successor's election if the others cut it off.
        leader = RaftConfig.NONE;
      }
      parts.add(new PartitionStatus(r.groupId, span == null ? "uninitialised" : span.describe(), leader, r.term,
          r.commitIndex, r.appliedIndex, cs.voters(), cs.learners()));
    }
    return new ClusterStatus(nodeId, new HashMap<>(members), parts, config.preferredLeaders(),
        placement.preferredLeadersMismatch());
  }

  /** The last replica hash each partition computed here (tests). */
  Map<Long, Optional<PartitionStateMachine.ReplicaHash>> replicaHashes() {
    Map<Long, Optional<PartitionStateMachine.ReplicaHash>> out = new TreeMap<>();
    replicas.forEach((g, r) -> out.put(g, r.sm.lastHash()));
    return out;
  }

  /** Proposes a replica-hash check in every partition this node leads (tests, operators). */
  void checkReplicaHashes() {
    post(() -> replicas.values().stream().filter(Replica::isLeader).forEach(r -> proposeCommand(r, new Command.CheckHash())));
  }

  /** Bytes of committed entries queued for the applier and not yet applied (tests, metrics). */
  long applyBacklogBytes() {
    return applyBacklogBytes.get();
  }

  /** Completes once the Raft loop has run everything queued before it (tests: is the loop alive?). */
  CompletableFuture<Void> loopTurn() {
    CompletableFuture<Void> f = new CompletableFuture<>();
    if (!post(() -> f.complete(null))) {
      f.completeExceptionally(new NodeClosedException(who + " is closed", false));
    }
    return f;
  }

  /** Tests: whether a lease read of {@code group} is served now without a trip through the loop. */
  boolean leaseReadSkipsTheLoop(long group) {
    Replica r = replicas.get(group);
    long until = r == null ? Long.MIN_VALUE : r.leaseUntilNanos;
    return until != Long.MIN_VALUE && System.nanoTime() - until < 0;
  }

  /** The test hooks this node was built with (tests change {@link Overrides#beforeApply} live). */
  Overrides overrides() {
    return overrides;
  }

  long replicaHashMismatches() {
    return (long) metrics.hashMismatches.count();
  }
}
