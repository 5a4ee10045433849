package io.quorumkv;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.MemoryStorage;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.RawNode;
import io.quorumkv.raft.Ready;
import io.quorumkv.raft.ReadOnlyOption;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.sim.SafetyViolation;
import io.quorumkv.raft.sim.SimProcess;
import io.quorumkv.raft.SnapshotMetadata;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * One simulated server of {@link KvSim}: a replica of every partition, one disk, one applier, one
 * clock, as {@link NodeRuntime} has.
 *
 * <ul>
 *   <li>The Raft loop ticks every replica on this node's clock, whose tick interval is fixed per
 *       node between {@code (1 - 0.95 * CLOCK_DRIFT)} and 1 nominal tick: within the lease rule's
 *       assumption (no follower's ticks run ahead by more than the drift factor, no leader's lag).
 *       After a pause the loop does not replay missed ticks; like NodeRuntime it serves no lease
 *       read for one election timeout.</li>
 *   <li>The disk, as NodeRuntime's pipelined log writer over one ordered write-ahead log: the
 *       Ready writes of every group go in rounds to a write stage, which writes a round unsynced
 *       after a short while and tells each core how far its log is written
 *       ({@code RawNode.written}); a sync stage makes every record written so far durable with
 *       one sync, then tells the cores ({@code persisted}) and sends the messages that claim
 *       durability; writes run at most three rounds ahead of the syncs.</li>
 *   <li>The applier: committed entries go to one queue per node as each Ready hands them out
 *       (durable or only written); each batch takes a while (longer when the state machine is
 *       slowed) and the Raft loop carries on meanwhile. A batch's store writes are one unsynced
 *       record in the same write-ahead log, behind the log rounds written before it.</li>
 *   <li>A crash keeps a random prefix of the records written and not synced (never a later one
 *       without an earlier one) and loses the rest; each store restarts from the last state
 *       record that survived, which must be backed by the log that survived.</li>
 *   <li>A pause stops the whole process: no ticks, Raft messages to it are lost, client requests,
 *       disk completions and applier work wait until it resumes.</li>
 * </ul>
 */
final class KvSimNode implements SimProcess {

  /**
   * One partition on the node's disk: its Raft log as synced, its live store, and the store as the
   * disk holds it ({@link #durable}), which a crash restores.
   */
  static final class Disk {
    final MemoryStorage log;
    /** The live store: the applier writes it at once; a crash puts {@link #durable} back. */
    MemoryPartitionStore store;
    /** The store as its last surviving state write left it (the live one may be ahead). */
    StoreImage durable;

    Disk(MemoryStorage log, MemoryPartitionStore store, long appliedTerm) {
      this.log = log;
      this.store = store;
      this.durable = StoreImage.of(store, appliedTerm, log.initialState().confState());
    }

    /**
     * A state write reached the disk (a sync, or a crash kept it). An older one than the disk
     * holds is obsolete: a snapshot installed since replaced the store (see {@link KvSimReplica#synced}).
     */
    void stateDurable(StoreImage image) {
      if (image.applied() > durable.applied()) {
        durable = image;
        log.setConfState(image.confState());
      }
    }
  }

  /** A state write: the store through {@code applied} (an entry of {@code appliedTerm}) and its membership. */
  record StoreImage(long applied, long appliedTerm, ConfState confState, List<KeyValue> data) {
    static StoreImage of(MemoryPartitionStore store, long appliedTerm, ConfState confState) {
      return new StoreImage(store.appliedIndex(), appliedTerm, confState,
          store.scan(new byte[0], new byte[0], Integer.MAX_VALUE));
    }

    MemoryPartitionStore restore() {
      return new MemoryPartitionStore(data, applied);
    }
  }

  /** A record in the node's write-ahead log: a Ready's log writes or an applier batch's state writes. */
  private sealed interface WalRecord permits LogWrite, StateWrite {}

  /**
   * One Ready's log writes, and what waits for them to be durable (Readies that write nothing,
   * destructions): in NodeRuntime, what waits for {@code lastWrite}.
   */
  private static final class LogWrite implements WalRecord {
    final KvSimReplica replica;
    final Ready ready;
    final List<Runnable> then = new ArrayList<>();
    boolean durable;

    LogWrite(KvSimReplica replica, Ready ready) {
      this.replica = replica;
      this.ready = ready;
    }
  }

  /** One applier batch's state writes (NodeRuntime's ApplyBatch): each partition's store after it. */
  private record StateWrite(Map<Disk, StoreImage> images) implements WalRecord {}

  /** Committed entries of one replica, waiting for the applier. */
  private record ApplyItem(KvSimReplica replica, List<Entry> committed) {}

  /** The pipelined log writer writes at most this many rounds ahead of its syncs. */
  private static final int ROUNDS_AHEAD = 3;
  /** How often (ticks) NodeRuntime's placement poll looks for removed replicas: every election timeout. */
  private static final int POLL_TICKS = Math.max(5, KvSim.ELECTION_TICK);

  final long id;
  private final KvSim sim;
  private final SplittableRandom random;
  private final long tickMicros;
  private final TreeMap<Long, Disk> disks = new TreeMap<>();
  private final TreeMap<Long, KvSimReplica> replicas = new TreeMap<>();
  private RoutingTable routing = new RoutingTable();
  private boolean up;
  /** Incremented by every crash; events scheduled by an earlier incarnation are ignored. */
  private int incarnation;
  /** Log writes handed to the disk, not yet written: the write stage's next round. */
  private final ArrayDeque<LogWrite> toWrite = new ArrayDeque<>();
  /** Written and not yet synced, in write order: the rounds' log writes and the state writes between them. */
  private final List<WalRecord> unsynced = new ArrayList<>();
  /** The first this many of {@link #unsynced} survive any crash: a synced write covered them ({@link #createChild}). */
  private int hardened;
  /** Rounds written and not yet synced (at most {@link #ROUNDS_AHEAD}). */
  private int roundsUnsynced;
  private boolean writing;
  private boolean syncing;
  /** The last log write handed to the disk; null or durable once none waits. */
  private LogWrite lastLogWrite;
  /** Crashes of this node that lost applied state (applied from written, unsynced entries). */
  private long appliedStateLost;
  private final ArrayDeque<ApplyItem> applyQueue = new ArrayDeque<>();
  private boolean applierBusy;
  private long slowDiskMicros;
  private long slowApplyMicros;
  private long pausedUntil;
  private long ticks;
  private long lastTickAt;
  /** When the loop's next tick is due (NodeRuntime#nextTickNanos): a lease found valid holds until then. */
  private long nextTickDue;
  private long leaseResumesAtTick;
  /** The tick at which a partition this node does not host was first heard of (see {@link #maybeCreateUnknown}). */
  private final Map<Long, Long> unknownSeen = new TreeMap<>();
  /** What this node remembers of the replicas it destroyed, durably, as NodeRuntime's {@link Tombstones}. */
  private final TreeMap<Long, Tombstones.Tombstone> tombstones = new TreeMap<>();
  /**
   * The fenced replicas, by partition: the index their fence was set at. Durable, as NodeRuntime's
   * {@link Tombstones#fence} (there written at once, synced, by the applier; here durable at once),
   * so a restart opens the replica fenced; a snapshot install or the replica's destruction drops it.
   */
  private final TreeMap<Long, Long> fences = new TreeMap<>();
  /** Partitions whose replica left the loop and whose disk goes once the earlier writes are synced. */
  private final Set<Long> destroying = new TreeSet<>();
  /** Replicas holding client writes for the loop's next turn ({@link #awaitLoopTurn}). */
  private final List<KvSimReplica> packing = new ArrayList<>();

  KvSimNode(long id, KvSim sim, SplittableRandom random) {
    this.id = id;
    this.sim = sim;
    this.random = random;
    this.tickMicros = Math.round(KvSim.TICK_MICROS * (1 - 0.95 * KvSim.CLOCK_DRIFT * random.nextDouble()));
    for (long g : sim.initialSpans().keySet()) {
      disks.put(g, new Disk(new MemoryStorage(sim.voters()), new MemoryPartitionStore(), 0));
    }
  }

  @Override
  public boolean isUp() {
    return up;
  }

  @Override
  public boolean restartable() {
    return true; // every node starts with the cluster
  }

  @Override
  public long pausedUntil() {
    return pausedUntil;
  }

  Set<Long> groupsOnDisk() {
    return disks.keySet();
  }

  // ---- lifecycle ----

  /** Starts (or restarts) the node: every partition on its disk, from what was synced. */
  @Override
  public void start() {
    if (up) {
      throw new IllegalStateException("node " + id + " is already up");
    }
    up = true;
    routing = new RoutingTable();
    applyQueue.clear();
    applierBusy = false;
    lastTickAt = sim.now();
    leaseResumesAtTick = 0;
    for (Map.Entry<Long, Disk> e : disks.entrySet()) {
      open(e.getKey(), e.getValue());
    }
    int me = incarnation;
    long firstTick = random.nextLong(tickMicros);
    nextTickDue = sim.now() + firstTick;
    sim.events().after(firstTick, () -> tick(me));
  }

  /**
   * Loses the process, the writes not yet written, and of those written but not synced all but a
   * prefix (see {@link #keepWrittenPrefix}).
   */
  @Override
  public void crash() {
    keepWrittenPrefix();
    toWrite.clear();
    unsynced.clear();
    hardened = 0;
    roundsUnsynced = 0;
    writing = false;
    syncing = false;
    lastLogWrite = null;
    up = false;
    incarnation++;
    replicas.clear();
    applyQueue.clear();
    applierBusy = false;
    packing.clear(); // the writes in the inbox are lost with the process
    unknownSeen.clear();
    destroying.clear(); // a replica not yet deleted is on disk: opened again at restart
  }

  private KvSimReplica open(long group, Disk disk) {
    PartitionStateMachine sm = PartitionStateMachine.open(group, disk.store, 0, KvSim.SESSION_TIMEOUT_MILLIS,
        sim.initialSpans().get(group));
    RaftConfig config = RaftConfig.builder(id)
        .electionTick(KvSim.ELECTION_TICK)
        .heartbeatTick(KvSim.HEARTBEAT_TICK)
        .applied(disk.store.appliedIndex())
        .maxSizePerMsg(KvSim.MAX_MSG_BYTES)
        .maxInflightMsgs(KvSim.MAX_INFLIGHT)
        .readOnlyOption(ReadOnlyOption.LEASE_BASED)
        .clockDriftFactor(KvSim.CLOCK_DRIFT)
        .random(random.split())
        .build();
    KvSimReplica r = new KvSimReplica(group, this, sim, disk, new RawNode(config, disk.log), sm);
    Tombstones.Tombstone t = tombstones.get(group);
    if (t != null && disk.store.appliedIndex() < t.lastIndex()) {
      r.quarantineBelow(t.lastIndex());
    }
    r.fenceAtOpen(fences.getOrDefault(group, 0L)); // before it serves anything, as NodeRuntime#openReplica
    sim.checkFenceAtOpen(id, group, r.divergedAt());
    replicas.put(group, r);
    updateRouting(group, sm.span());
    return r;
  }

  int incarnation() {
    return incarnation;
  }

  long ticks() {
    return ticks;
  }

  boolean current(int me) {
    return up && me == incarnation;
  }

  @Override
  public void pause(long micros) {
    pausedUntil = Math.max(pausedUntil, sim.now() + micros);
  }

  @Override
  public void slowDisk(long micros) {
    slowDiskMicros = micros;
  }

  void slowApply(long micros) {
    slowApplyMicros = micros;
  }

  /**
   * True if the process is paused, in which case {@code input} runs again when it resumes
   * (inputs deferred to the same instant keep their order).
   */
  boolean deferredByPause(Runnable input) {
    if (sim.now() >= pausedUntil) {
      return false;
    }
    sim.events().after(pausedUntil - sim.now(), input);
    return true;
  }

  // ---- the Raft loop ----

  private void tick(int me) {
    if (!current(me) || deferredByPause(() -> tick(me))) {
      return;
    }
    if (sim.now() - lastTickAt > tickMicros * 3 / 2) {
      // Late (a pause): the tick count lags real time, so a heartbeat round looks more recent
      // than it is. NodeRuntime's rule: no lease read until one election timeout of ticks later.
      leaseResumesAtTick = ticks + KvSim.ELECTION_TICK;
    }
    lastTickAt = sim.now();
    ticks++;
    for (KvSimReplica r : List.copyOf(replicas.values())) {
      r.tick(ticks % KvSim.HASH_CHECK_TICKS == 0);
    }
    if (ticks % POLL_TICKS == 0) {
      destroyRemovedReplicas();
    }
    nextTickDue = sim.now() + tickMicros;
    sim.events().after(tickMicros, () -> tick(me));
  }

  /**
   * {@code r} took a client write: it is proposed at the loop's next turn, up to
   * {@link KvSim#LOOP_TURN_MICROS} from the first write waiting, together with every write of the
   * same partition taken meanwhile. This models NodeRuntime's loop, which proposes the writes of a
   * partition that one drain of its inbox took as one entry, before its next Ready.
   */
  void awaitLoopTurn(KvSimReplica r) {
    if (packing.isEmpty()) {
      int me = incarnation;
      sim.events().after(random.nextLong(KvSim.LOOP_TURN_MICROS + 1), () -> loopTurn(me));
    }
    packing.add(r);
  }

  private void loopTurn(int me) {
    if (!current(me) || deferredByPause(() -> loopTurn(me))) {
      return;
    }
    List<KvSimReplica> turn = List.copyOf(packing);
    packing.clear();
    for (KvSimReplica r : turn) {
      r.flushWrites();
    }
  }

  /** Whether lease reads may be served now (see {@link #tick}). */
  boolean leaseUsable() {
    return ticks >= leaseResumesAtTick;
  }

  /**
   * When the loop's next tick is due: a lease the loop finds valid now cannot lapse before then
   * (leases lapse on ticks), unless the process was paused, and then this time has passed whatever
   * the woken process runs first (NodeRuntime#nextTickNanos, ReadPath#keepIfInLease).
   */
  long nextTickDue() {
    return nextTickDue;
  }

  /** The leader's clock for command stamps (session expiry runs on the log's time). */
  long clockMillis() {
    return sim.now() / 1000;
  }

  void receive(KvSim.GroupMessage gm) {
    if (!up || sim.now() < pausedUntil) {
      return; // peers' connections to a stopped process time out; what they carried is lost
    }
    KvSimReplica r = replicas.get(gm.group());
    if (r == null) {
      r = maybeCreateUnknown(gm.group(), gm.message());
      if (r == null) {
        return;
      }
    }
    r.step(gm.message());
  }

  /**
   * A leader or a candidate of a partition this node does not host: a split child whose split
   * this node has not applied, or never will (it installed a snapshot of the parent taken after
   * the split). As NodeRuntime's maybeCreateUnknown does: after two election timeouts of ticks
   * since the partition was first heard of (the split may still apply here; a leader's snapshot
   * does not wait), create an empty replica, which a leader fills with a snapshot and which
   * gives a candidate its vote (it has no membership, so it never campaigns itself).
   */
  private KvSimReplica maybeCreateUnknown(long group, Message m) {
    boolean fromLeader = m instanceof Message.AppendEntries || m instanceof Message.Heartbeat
        || m instanceof Message.InstallSnapshot;
    boolean voteRequest = m instanceof Message.RequestVote;
    if (!(fromLeader || voteRequest) || disks.containsKey(group) || destroying.contains(group)) {
      return null;
    }
    long first = unknownSeen.computeIfAbsent(group, g -> ticks);
    if (ticks - first < 2L * KvSim.ELECTION_TICK && !(m instanceof Message.InstallSnapshot)) {
      return null;
    }
    Tombstones.Tombstone t = tombstones.get(group);
    if (voteRequest && t != null && t.lastIndex() > 0) {
      return null; // its replica would be quarantined: no vote
    }
    unknownSeen.remove(group);
    MemoryStorage log = new MemoryStorage();
    if (t != null) {
      // A replica of this partition lived here before: start one term past it (quarantined by
      // open until past its log's end), as NodeRuntime#maybeCreateUnknown does.
      log.setHardState(new HardState(t.term() + 1, RaftConfig.NONE, 0));
      sim.replicaRecreated();
    }
    Disk d = new Disk(log, new MemoryPartitionStore(), 0);
    disks.put(group, d);
    return open(group, d);
  }

  /**
   * As NodeRuntime's placement poll (PlacementDriver#destroyRemovedReplicas), every
   * {@link #POLL_TICKS} ticks: a replica whose membership lacks this node, that leads no more,
   * installs no snapshot, has not heard from its leader for an election timeout and whose voters
   * all applied its removal leaves the loop; once every write the node handed to its disk so far is synced, its tombstone is recorded
   * and its disk goes. (NodeRuntime also destroys a replica that peers report removed and one
   * created empty and abandoned; neither is modelled.)
   */
  private void destroyRemovedReplicas() {
    for (KvSimReplica r : List.copyOf(replicas.values())) {
      ConfState cs = r.confState();
      boolean removed = !(cs.voters().isEmpty() && cs.learners().isEmpty() && cs.votersOutgoing().isEmpty())
          && !NodeRuntime.isMember(cs, id);
      if (!removed || r.isLeader() || r.installing() || r.ticksSinceLeaderContact() <= KvSim.ELECTION_TICK
          || !votersAppliedRemoval(r.group(), cs)) {
        continue;
      }
      long group = r.group();
      Tombstones.Tombstone t = r.tombstone();
      replicas.remove(group);
      routing.remove(group);
      r.destroy();
      destroying.add(group);
      int me = incarnation;
      afterLogWrites(() -> deleteDestroyed(me, group, t));
    }
  }

  /**
   * As PlacementDriver#votersAppliedRemoval: every voter of {@code cs} has applied a membership
   * without this node. Read from the voters directly; a down voter does not answer, a cut link is
   * not modelled (the real poll would wait longer).
   */
  private boolean votersAppliedRemoval(long group, ConfState cs) {
    Set<Long> voters = new TreeSet<>(cs.voters());
    voters.addAll(cs.votersOutgoing());
    for (long voter : voters) {
      KvSimNode n = sim.node(voter);
      ConfState theirs = n == null ? null : n.confState(group);
      if (theirs == null || NodeRuntime.isMember(theirs, id)) {
        return false;
      }
    }
    return true;
  }

  /** The applier's part of a destruction: the tombstone, then the replica's disk goes. */
  private void deleteDestroyed(int me, long group, Tombstones.Tombstone t) {
    if (!current(me) || deferredByPause(() -> deleteDestroyed(me, group, t))) {
      return;
    }
    tombstones.put(group, t.merge(tombstones.get(group)));
    fenceRecorded(group, 0, 0); // the fenced state goes with the replica (Tombstones#remove)
    disks.remove(group);
    destroying.remove(group);
    sim.replicaDestroyed();
  }

  void handle(KvSimRequest request) {
    if (deferredByPause(() -> handle(request))) {
      return;
    }
    if (!up) {
      sim.reply(request, new KvSimRequest.Reply.Rejected(request.opId(), request.attemptId(), 0, 0, "node down"));
      return;
    }
    OptionalLong g = routing.route(request.key());
    KvSimReplica r = g.isPresent() ? replicas.get(g.getAsLong()) : null;
    if (r == null) {
      sim.reply(request, new KvSimRequest.Reply.Rejected(request.opId(), request.attemptId(), 0, 0,
          "no partition for the key here"));
      return;
    }
    r.handle(request);
  }

  OptionalLong route(byte[] key) {
    return up ? routing.route(key) : OptionalLong.empty();
  }

  void updateRouting(long group, KeySpan span) {
    if (span != null) {
      routing.update(group, span);
    }
  }

  boolean propose(long group, Command command) {
    KvSimReplica r = replicas.get(group);
    return r != null && r.proposeAdmin(command);
  }

  boolean proposeConfChange(long group, io.quorumkv.raft.ConfChange change) {
    KvSimReplica r = replicas.get(group);
    return up && r != null && r.proposeConfChange(change);
  }

  /** The membership this node's replica of {@code group} has applied; null if it has none. */
  io.quorumkv.raft.ConfState confState(long group) {
    KvSimReplica r = replicas.get(group);
    return up && r != null ? r.confState() : null;
  }

  /** On the leader of {@code group}: the index known replicated on {@code peer}, -1 if unknown. */
  long matchIndexOf(long group, long peer) {
    KvSimReplica r = replicas.get(group);
    return up && r != null ? r.matchIndexOf(peer) : -1;
  }

  void transferLeadership(long group, long to) {
    driverInput(group, raw -> raw.transferLeadership(to));
  }

  void reportSnapshot(long group, long peer, boolean success) {
    driverInput(group, raw -> raw.reportSnapshot(peer, success));
  }

  void reportUnreachable(long group, long peer) {
    driverInput(group, raw -> raw.reportUnreachable(peer));
  }

  /** Feeds a replica's core a call from the driver (not a message), unless the process is down. */
  private void driverInput(long group, Consumer<RawNode> call) {
    if (!up || deferredByPause(() -> driverInput(group, call))) {
      return;
    }
    KvSimReplica r = replicas.get(group);
    if (r != null) {
      r.driverInput(call);
    }
  }

  // ---- the disk and the applier ----

  /**
   * {@code r} hands the disk a Ready. One that writes something joins the write stage's next
   * round; one that writes nothing is done once every log write handed before it is durable, as
   * NodeRuntime's messages and notices wait for {@code lastWrite}.
   */
  void write(KvSimReplica r, Ready rd) {
    if (!rd.mustSync()) {
      afterLogWrites(() -> r.synced(rd));
      return;
    }
    LogWrite w = new LogWrite(r, rd);
    toWrite.add(w);
    lastLogWrite = w;
    maybeWrite();
  }

  /** Runs {@code action} once every log write handed to the disk so far is durable. */
  private void afterLogWrites(Runnable action) {
    if (lastLogWrite != null && !lastLogWrite.durable) {
      lastLogWrite.then.add(action);
    } else {
      sim.events().after(0, action);
    }
  }

  /**
   * The write stage (GroupCommitLogWriter's write thread): takes every log write handed since its
   * last round as one round, writes it unsynced after a short while, then tells each core how far
   * its log is written. At most {@link #ROUNDS_AHEAD} rounds ahead of the sync stage.
   */
  private void maybeWrite() {
    if (writing || toWrite.isEmpty() || roundsUnsynced >= ROUNDS_AHEAD) {
      return;
    }
    writing = true;
    List<LogWrite> round = List.copyOf(toWrite);
    toWrite.clear();
    int me = incarnation;
    sim.events().after(sim.writeDelay(), () -> writeRound(me, round));
  }

  private void writeRound(int me, List<LogWrite> round) {
    if (!current(me) || deferredByPause(() -> writeRound(me, round))) {
      return;
    }
    writing = false;
    unsynced.addAll(round);
    roundsUnsynced++;
    for (LogWrite w : round) {
      w.replica.written(w.ready);
    }
    maybeSync();
    maybeWrite();
  }

  /**
   * The sync stage (the writer's sync thread): one sync covering every record written so far (log
   * rounds and the applier's state writes between them), which takes a while, longer on a slow
   * disk; then each log write is durable in order and what waited for it runs.
   */
  private void maybeSync() {
    if (syncing || roundsUnsynced == 0) {
      return;
    }
    syncing = true;
    int records = unsynced.size();
    int rounds = roundsUnsynced;
    int me = incarnation;
    sim.events().after(sim.syncDelay() + slowDiskMicros, () -> syncRounds(me, records, rounds));
  }

  private void syncRounds(int me, int records, int rounds) {
    if (!current(me) || deferredByPause(() -> syncRounds(me, records, rounds))) {
      return;
    }
    List<WalRecord> done = new ArrayList<>(unsynced.subList(0, records));
    unsynced.subList(0, records).clear();
    hardened = Math.max(0, hardened - records);
    roundsUnsynced -= rounds;
    syncing = false;
    for (WalRecord record : done) {
      if (record instanceof LogWrite w) {
        w.durable = true;
        w.replica.synced(w.ready);
        w.then.forEach(Runnable::run);
      } else {
        ((StateWrite) record).images().forEach(Disk::stateDurable);
      }
    }
    maybeSync();
    maybeWrite();
  }

  /**
   * A crash: a random prefix of the records written and not synced reaches the disk, never a later
   * one without an earlier (one ordered write-ahead log); the rest is lost. Each store restarts
   * from the last state write that survived, which must not be ahead of the log that survived.
   */
  private void keepWrittenPrefix() {
    if (!up) {
      return;
    }
    int keep = hardened + sim.crashKeeps(unsynced.size() - hardened);
    for (WalRecord record : unsynced.subList(0, keep)) {
      if (record instanceof LogWrite w) {
        w.replica.writeSurvived(w.ready);
      } else {
        ((StateWrite) record).images().forEach(Disk::stateDurable);
      }
    }
    boolean lost = false;
    for (Map.Entry<Long, Disk> e : disks.entrySet()) {
      Disk d = e.getValue();
      lost |= d.durable.applied() < d.store.appliedIndex();
      d.store = d.durable.restore();
      checkStateHasItsLog(e.getKey(), d);
    }
    if (lost) {
      appliedStateLost++;
    }
  }

  /** What survived of a store must be backed by the log that survived, entry for entry at its index. */
  private void checkStateHasItsLog(long group, Disk d) {
    long applied = d.durable.applied();
    long snapshot = d.log.snapshot().metadata().index();
    long term = applied < snapshot || applied > d.log.lastIndex() ? -1 : d.log.term(applied);
    if (term != d.durable.appliedTerm()) {
      throw new SafetyViolation("node " + id + " partition " + group + " crashed with its store applied through "
          + applied + " (term " + d.durable.appliedTerm() + ") but its log keeps "
          + (term < 0 ? "no entry" : "term " + term) + " there (log " + snapshot + ".." + d.log.lastIndex()
          + ", at virtual time " + sim.now() + " us)");
    }
  }

  long appliedStateLost() {
    return appliedStateLost;
  }

  /** Queues committed entries of {@code r} for the applier. */
  void enqueueApply(KvSimReplica r, List<Entry> committed) {
    applyQueue.add(new ApplyItem(r, committed));
    if (!applierBusy) {
      startApplier();
    }
  }

  /**
   * The applier takes everything queued as one batch (as NodeRuntime's applier drains its queue),
   * which takes a while, longer when the state machine is slowed.
   */
  private void startApplier() {
    if (applyQueue.isEmpty()) {
      applierBusy = false;
      return;
    }
    applierBusy = true;
    List<ApplyItem> batch = new ArrayList<>(applyQueue);
    applyQueue.clear();
    int me = incarnation;
    sim.events().after(sim.applyDelay() + slowApplyMicros, () -> runApply(me, batch));
  }

  private void runApply(int me, List<ApplyItem> batch) {
    if (!current(me) || deferredByPause(() -> runApply(me, batch))) {
      return;
    }
    Map<Disk, StoreImage> images = new LinkedHashMap<>();
    for (ApplyItem item : batch) {
      item.replica().apply(item.committed());
      item.replica().image().ifPresent(image -> images.put(item.replica().disk(), image));
    }
    if (!images.isEmpty()) {
      // One unsynced write (NodeRuntime's ApplyBatch), in the write-ahead log behind every log
      // round written so far: durable with the next sync, lost with a crash that loses them.
      unsynced.add(new StateWrite(images));
    }
    startApplier();
  }

  /**
   * Creates this node's replica of a partition born from a split, as NodeRuntime's createChild
   * does: the seed's store at index {@link NodeRuntime#SPLIT_INITIAL_INDEX}, a log that is a
   * snapshot there, so a replica that missed the split is sent a snapshot. If the parent leads
   * here, the child campaigns at once.
   */
  void createChild(KvSimReplica parent, PartitionStateMachine.Outcome.Split split) {
    long child = split.newPartitionId();
    if (disks.containsKey(child) || destroying.contains(child)) {
      return; // created earlier, empty, on a message from the child's leader or a candidate
    }
    if (tombstones.containsKey(child)) {
      return; // destroyed here before: as NodeRuntime, created again only from its tombstone
    }
    List<KeyValue> seed = new ArrayList<>();
    for (PartitionStore.Mutation m : PartitionStateMachine.seedMutations(split.seed())) {
      PartitionStore.Mutation.Put p = (PartitionStore.Mutation.Put) m;
      seed.add(new KeyValue(p.key(), p.value()));
    }
    long i0 = NodeRuntime.SPLIT_INITIAL_INDEX;
    MemoryStorage log = new MemoryStorage();
    log.applySnapshot(new Snapshot(new SnapshotMetadata(i0, i0, parent.confState()), KvSimReplica.encode(seed)));
    log.setHardState(new HardState(i0, RaftConfig.NONE, i0));
    Disk d = new Disk(log, new MemoryPartitionStore(seed, i0), i0);
    if (parent.divergedAt() != 0) {
      // As NodeRuntime#createChild: a child made from a fenced replica holds its diverged state,
      // and is fenced too until a check of its own matches.
      fenceRecorded(child, i0, 0);
    }
    // NodeRuntime creates the child with synced writes: they make every record written before
    // them durable too, the split entry among them.
    hardened = unsynced.size();
    disks.put(child, d);
    KvSimReplica r = open(child, d);
    sim.invariants(child);
    if (parent.isLeader()) {
      r.campaign();
    }
  }

  // ---- replica rot (KvSim#diverge) ----

  /**
   * Whether partition {@code group}'s store as the disk holds it has {@code value} at user key
   * {@code key}: the canary a rot waits for has reached the disk here.
   */
  boolean holdsDurably(long group, byte[] key, byte[] value) {
    Disk d = disks.get(group);
    if (d == null) {
      return false;
    }
    byte[] storeKey = PartitionStateMachine.dataKey(key);
    for (KeyValue kv : d.durable.data()) {
      if (Arrays.equals(kv.key(), storeKey)) {
        return Arrays.equals(kv.value(), value);
      }
    }
    return false;
  }

  /**
   * Changes user key {@code key}'s value to {@code value} in partition {@code group}'s store as the
   * disk holds it (planted if absent), behind Raft's back: no log entry, applied index and term
   * unchanged, as Jepsen's diverge nemesis edits a killed node's store on disk. Only while the
   * node is down (the restart opens the rotted store). Returns the value it had, null if none.
   */
  byte[] rot(long group, byte[] key, byte[] value) {
    if (up) {
      throw new IllegalStateException("node " + id + " must be down to have its disk edited");
    }
    Disk d = disks.get(group);
    TreeMap<byte[], byte[]> data = new TreeMap<>(Arrays::compareUnsigned);
    for (KeyValue kv : d.durable.data()) {
      data.put(kv.key(), kv.value());
    }
    byte[] before = data.put(PartitionStateMachine.dataKey(key), value);
    List<KeyValue> rotted = new ArrayList<>(data.size());
    data.forEach((k, v) -> rotted.add(new KeyValue(k, v)));
    d.durable = new StoreImage(d.durable.applied(), d.durable.appliedTerm(), d.durable.confState(), rotted);
    d.store = d.durable.restore();
    return before;
  }

  // ---- fencing (KvSim#replicaHash gives the verdicts) ----

  /**
   * A hash check's verdict on this node's replica of {@code group} at {@code index}: diverged
   * fences it, a match past its fence lifts it (ReplicaHashChecks#fence, #unfence). A verdict
   * reaches a running process only; one that is down or paused gets a later check's.
   *
   * @return whether the replica's fence changed
   */
  boolean verdict(long group, long index, boolean diverged) {
    KvSimReplica r = replicas.get(group);
    if (!up || r == null || sim.now() < pausedUntil) {
      return false;
    }
    if (diverged) {
      boolean changed = r.divergedAt() == 0;
      fenceRecorded(group, index, r.term());
      r.fence(index);
      return changed;
    }
    if (r.divergedAt() != 0 && index > r.divergedAt()) {
      fenceRecorded(group, 0, 0);
      r.fence(0);
      return true;
    }
    return false;
  }

  /**
   * Records {@code group}'s fence durably (index 0: none), set in {@code term}; the simulation
   * keeps its own account ({@link KvSim#fenceSet}), which the checks judge by.
   */
  void fenceRecorded(long group, long index, long term) {
    if (index == 0) {
      fences.remove(group);
    } else {
      fences.put(group, index);
    }
    sim.fenceSet(id, group, index, term);
  }

  /** Whether this node's live store of {@code group} holds a rotted canary ({@link KvSim#rotted}). */
  boolean rottedReplica(long group) {
    Disk d = disks.get(group);
    return d != null && KvSim.rotted(d.store);
  }

  /** The index this node's replica of {@code group} is fenced at, as recorded (it survives a crash); 0 if none. */
  long fencedAt(long group) {
    return fences.getOrDefault(group, 0L);
  }

  // ---- observation ----

  boolean isLeader(long group) {
    KvSimReplica r = replicas.get(group);
    return up && r != null && r.isLeader();
  }

  /** The span this node's replica of {@code group} has applied; null if down or none. */
  KeySpan span(long group) {
    KvSimReplica r = replicas.get(group);
    return up && r != null ? r.span() : null;
  }

  long term(long group) {
    KvSimReplica r = replicas.get(group);
    return r == null ? -1 : r.term();
  }

  long commitIndex(long group) {
    KvSimReplica r = replicas.get(group);
    return r == null ? -1 : r.commitIndex();
  }

  /** The index the partition's state machine has applied here, -1 if the node does not host it. */
  long appliedIndex(long group) {
    Disk d = disks.get(group);
    return d == null ? -1 : d.store.appliedIndex();
  }

  long storeDigest(long group) {
    Disk d = disks.get(group);
    return d == null ? 0 : KvSimReplica.digest(d.store);
  }

  /**
   * Every data key a partition stores is inside its span; no key is stored by two partitions;
   * the routing table sends every client key to the partition owning it (it followed the
   * splits); for ranges, the spans tile the key space. Null if all holds, else what does not.
   */
  String checkOwnership(boolean ranges) {
    Map<String, Long> holder = new TreeMap<>();
    List<KeySpan.Range> spans = new ArrayList<>();
    for (Map.Entry<Long, KvSimReplica> e : replicas.entrySet()) {
      KeySpan span = e.getValue().span();
      if (span == null) {
        return "partition " + e.getKey() + " has no span";
      }
      if (span instanceof KeySpan.Range r) {
        spans.add(r);
      }
      for (byte[] key : e.getValue().dataKeys()) {
        if (!span.owns(key)) {
          return "partition " + e.getKey() + " " + span.describe() + " stores " + KvSim.string(key);
        }
        Long other = holder.put(KvSim.string(key), e.getKey());
        if (other != null) {
          return "key " + KvSim.string(key) + " is stored by partitions " + other + " and " + e.getKey();
        }
      }
    }
    for (int i = 0; i < KvSim.KEYS; i++) {
      byte[] key = KvSim.utf8(KvSim.key(i));
      OptionalLong g = routing.route(key);
      if (g.isEmpty() || !replicas.get(g.getAsLong()).span().owns(key)) {
        return "routing sends " + KvSim.key(i) + " to " + (g.isEmpty() ? "no partition" : "partition "
            + g.getAsLong() + " " + replicas.get(g.getAsLong()).span().describe());
      }
    }
    if (ranges) {
      spans.sort((a, b) -> Arrays.compareUnsigned(a.start(), b.start()));
      byte[] expect = new byte[0];
      for (KeySpan.Range r : spans) {
        if (!Arrays.equals(r.start(), expect)) {
          return "ranges do not tile the key space: " + spans;
        }
        expect = r.end();
      }
      if (expect.length != 0) {
        return "ranges do not reach +inf: " + spans;
      }
    }
    return null;
  }

  /** For a person reading a failure: this node's partitions and their state. */
  @Override
  public String toString() {
    return "node " + id + (up ? "" : " (down)") + " " + replicas.values();
  }
}
