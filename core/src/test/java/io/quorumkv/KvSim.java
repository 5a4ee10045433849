package io.quorumkv;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.sim.EventQueue;
import io.quorumkv.raft.sim.FaultTarget;
import io.quorumkv.raft.sim.Invariants;
import io.quorumkv.raft.sim.RecentValues;
import io.quorumkv.raft.sim.SafetyViolation;
import io.quorumkv.raft.sim.SimNetwork;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.Verdict;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

/**
 * A deterministic multi-raft key-value cluster in one thread: every node hosts one real
 * {@link io.quorumkv.raft.RawNode} per partition, the real {@link PartitionStateMachine} over a
 * {@link MemoryPartitionStore} applies the committed entries (real {@link Codec} commands, client
 * sessions, splits, replica hashes), and clients send put, get (ReadIndex or lease), delete,
 * compare-and-set and single-partition batches that nodes route with the real
 * {@link RoutingTable} of the {@link HashPartitioner} or {@link RangePartitioner}.
 *
 * <p>It is built from the Raft simulator's parts: its {@link EventQueue} (virtual time), its
 * {@link SimNetwork} (one link per node pair carrying every group), its {@link Invariants} (one per
 * group, checked at every step), its fault steps ({@link FaultTarget}) and the test kit's history
 * recorder and linearizability checker. One seed drives every random choice, so a schedule
 * replays bit for bit.
 *
 * <p>The model of a node ({@link KvSimNode}) follows {@link NodeRuntime}'s threads: a Raft loop
 * that ticks on the node's own clock and never waits for the disk or the applier; one disk per
 * node that writes every group's writes in order and syncs them behind (one ordered write-ahead
 * log: replicas apply entries once written, a crash keeps a prefix of the unsynced writes); one
 * applier per node that applies committed batches one after the other, each taking a while.
 */
final class KvSim implements FaultTarget {

  /** Nominal length of a Raft tick, virtual microseconds. */
  static final long TICK_MICROS = 10_000;
  static final int ELECTION_TICK = 10;
  /**
   * Ticks without a leader after which a fenced replica may be elected (two election timeouts:
   * every clean voter's randomized timeout is below that). Set here, not from NodeRuntime's rule,
   * so that a rule campaigning sooner fails {@link #checkNotFenced}.
   */
  static final int FENCED_LEADERLESS_TICKS = 2 * ELECTION_TICK;
  static final int HEARTBEAT_TICK = 1;
  /** {@link io.quorumkv.raft.RaftConfig#clockDriftFactor()}, KvNode's default. */
  static final double CLOCK_DRIFT = 0.2;
  static final int MAX_INFLIGHT = 4;
  static final long MAX_MSG_BYTES = 2048;
  static final long MIN_SYNC_MICROS = 100;
  static final long MAX_SYNC_MICROS = 2_000;
  /** The log writer's write stage: one unsynced write of a round (no fsync). */
  static final long MIN_WRITE_MICROS = 5;
  static final long MAX_WRITE_MICROS = 100;
  static final long MIN_APPLY_MICROS = 20;
  static final long MAX_APPLY_MICROS = 500;
  static final int CLIENTS = 6;
  static final int KEYS = 6;
  static final long THINK_MICROS = 10_000;
  /** A client retries an attempt unanswered for this long, with the same session sequence number. */
  static final long ATTEMPT_TIMEOUT_MICROS = 100_000;
  /** A client gives up on an operation after this long and records {@code info}. */
  static final long OP_DEADLINE_MICROS = 600_000;
  static final int MAX_ATTEMPTS = 8;
  /** Leaders propose a replica hash check every this many of their ticks. */
  static final int HASH_CHECK_TICKS = 30;
  static final int KEEP_ENTRIES = 5;
  static final long SESSION_TIMEOUT_MILLIS = 600_000;
  /**
   * A client write waits up to this long for its node's loop to propose it, with the writes of its
   * partition taken meanwhile, in one entry (see {@link KvSimNode#awaitLoopTurn}).
   */
  static final long LOOP_TURN_MICROS = 4_000;
  private static final long CLIENT_MIN_DELAY = 100;
  private static final long CLIENT_MAX_DELAY = 600;

  /** A Raft message of one group, as the transport's one connection per node pair carries it. */
  record GroupMessage(long group, Message message) {}

  private final KvSimSchedule schedule;
  private final Partitioner partitioner;
  private final Map<Long, KeySpan> initialSpans;
  private final ConfState voters;
  private final EventQueue events = new EventQueue();
  private final SplittableRandom diskRandom;
  private final SplittableRandom clientNetRandom;
  private final SplittableRandom choiceRandom;
  /** The write stage's delays and what crashes keep of the unsynced writes (split last: the other streams stay as they were). */
  private final SplittableRandom walRandom;
  private final TreeMap<Long, KvSimNode> nodes = new TreeMap<>();
  private final SimNetwork<GroupMessage> network;
  private final TreeMap<Long, Invariants> invariants = new TreeMap<>();
  /** group -> index -> the replica hashes computed there (see {@link #replicaHash}). */
  private final Map<Long, TreeMap<Long, HashPoint>> hashPoints = new TreeMap<>();
  private final HistoryRecorder history;
  private final List<KvSimClient> clients = new ArrayList<>();
  private final RecentValues recentValues = new RecentValues();
  private long ids;
  private long values;
  private long processes;
  private long splits;
  private long hashChecks;
  private long elections;
  private long blindRetries;
  private long writeEntries;
  private long packedEntries;
  private long packedWrites;
  private long lastElectionAt = -1;
  /** group -> node -> virtual time until which a membership step keeps the node out of the group. */
  private final Map<Long, Map<Long, Long>> away = new HashMap<>();
  private boolean repairing;
  private long confChanges;
  private long destroyedReplicas;
  private long recreatedReplicas;
  private long appliedWritten;
  /** Canary writes proposed, rots done, and rotted replicas the hash comparison blamed ({@link #checkHashAttribution}). */
  private long canaryWrites;
  private long rots;
  private long rotsBlamed;
  /**
   * Hash points with a rotted replica where the clean replicas that hashed hold no quorum of the
   * voters (too few hashed there, or the rot spread): nothing to attribute.
   */
  private long rotPointsWithoutCleanQuorum;
  /** Replicas fenced (each time a fence was set on an unfenced one), and fences lifted by a later matching check. */
  private long fencings;
  private long unfencings;
  /** Of the fencings, leaders that fenced themselves (a quorum of the others hashed apart from them). */
  private long fencedLeaders;
  /** Fenced replicas elected in a term after their fence, having known no leader for long (NodeRuntime#updatePromotable). */
  private long fencedLeaderlessLeaders;
  /** The canary of every rot done ({@link #probeCanaries}). */
  private final List<byte[]> rottedCanaries = new ArrayList<>();

  /** A client id no client uses: the session of the canary writes ({@link #diverge}). */
  static final long CANARY_CLIENT = 1L << 40;
  /** What a canary key's value is when written through Raft. */
  static final String CANARY_VALUE = "canary";
  /** How a rotted canary's value starts: a replica holding one is rotted ({@link #rotted}). */
  static final String ROT_PREFIX = "rot:";
  /** How long (virtual) a rot waits for its canary to reach the node's disk before it plants one. */
  static final long CANARY_WAIT_MICROS = 500_000;

  /**
   * The hashes replicas computed at one index of one partition, in the order they came, and which
   * replicas were rotted then (their store held a rotted canary).
   */
  static final class HashPoint {
    final Set<Long> voters;
    final Map<Long, Long> hashes = new java.util.LinkedHashMap<>();
    final Set<Long> rotted = new TreeSet<>();

    HashPoint(Set<Long> voters) {
      this.voters = Set.copyOf(voters);
    }
  }

  KvSim(KvSimSchedule schedule) {
    this.schedule = schedule;
    this.partitioner = schedule.partitioning().partitioner();
    this.initialSpans = RoutingTable.initialSpans(partitioner);
    SplittableRandom root = new SplittableRandom(schedule.seed());
    diskRandom = root.split();
    clientNetRandom = root.split();
    choiceRandom = root.split();
    SplittableRandom clientRandom = root.split();
    network = new SimNetwork<>(events, root.split(), gm -> gm.message().from(), gm -> gm.message().to(),
        gm -> gm.message() instanceof Message.InstallSnapshot, this::deliver, this::cutOff,
        gm -> node(gm.message().from()).reportSnapshot(gm.group(), gm.message().to(), false));
    history = new HistoryRecorder(() -> events.now() * 1_000);
    network.recordFaults(history::nemesis);
    Set<Long> members = new HashSet<>();
    for (long id = 1; id <= schedule.voters(); id++) {
      members.add(id);
    }
    voters = ConfState.ofVoters(members);
    for (long id = 1; id <= schedule.voters(); id++) {
      nodes.put(id, new KvSimNode(id, this, root.split()));
    }
    walRandom = root.split();
    for (long id : nodes.keySet()) {
      nodes.get(id).start();
    }
    for (int c = 0; c < CLIENTS; c++) {
      clients.add(new KvSimClient(this, processes++, c + 1, clientRandom.split(), history));
    }
  }

  // ---- running ----

  /** Virtual microseconds since the start. */
  long now() {
    return events.now();
  }

  @Override
  public void runFor(long micros) {
    long deadline = events.now() + micros;
    while (events.runNext(deadline)) {
      // every event checks the invariants it touches
    }
  }

  /** Runs until {@code condition} holds (checked after every event), at most {@code maxMicros}. */
  boolean runUntil(BooleanSupplier condition, long maxMicros) {
    long deadline = events.now() + maxMicros;
    while (!condition.getAsBoolean()) {
      if (!events.runNext(deadline)) {
        return condition.getAsBoolean();
      }
    }
    return true;
  }

  void startClients() {
    clients.forEach(KvSimClient::start);
  }

  void stopClients() {
    clients.forEach(KvSimClient::stop);
  }

  boolean clientsIdle() {
    return clients.stream().allMatch(KvSimClient::idle);
  }

  /**
   * Liveness: client {@code i} puts key {@code k<i mod KEYS>} once more (so every key, hence
   * every partition, is written); each put must end {@code ok} within {@code maxMicros}.
   */
  boolean finalWritesSucceed(long maxMicros) {
    for (int i = 0; i < clients.size(); i++) {
      clients.get(i).finalWrite(key(i % KEYS), maxMicros);
    }
    return runUntil(this::clientsIdle, maxMicros + 1_000) && clients.stream().allMatch(KvSimClient::finalOpSucceeded);
  }

  /**
   * After the faults: every client reads every key once, in turn, so that whatever the registers
   * ended with (a key lost by a split, a write applied twice) is in the history; every read must
   * succeed within {@code maxMicros}.
   */
  boolean finalReadsSucceed(long maxMicros) {
    for (int k = 0; k < KEYS; k++) {
      for (int i = 0; i < clients.size(); i++) {
        clients.get(i).finalRead(key((i + k) % KEYS), maxMicros);
      }
      if (!runUntil(this::clientsIdle, maxMicros + 1_000) || !clients.stream().allMatch(KvSimClient::finalOpSucceeded)) {
        return false;
      }
    }
    return true;
  }

  long completedOps() {
    return clients.stream().mapToLong(KvSimClient::completed).sum();
  }

  // ---- faults (FaultTarget) ----

  @Override
  public OptionalLong leader() {
    return leaderOf(initialSpans.keySet().iterator().next());
  }

  @Override
  public Map<Long, KvSimNode> processes() {
    return nodes;
  }

  /** Every batch node {@code id} applies takes {@code micros} longer; 0 restores it. */
  void slowApply(long id, long micros) {
    KvSimNode n = nodes.get(id);
    if (n != null) {
      history.nemesis("slow-apply", id + " +" + micros / 1000 + "ms");
      n.slowApply(micros);
    }
  }

  /** Restores every disk and every state machine to its normal speed. */
  void fixSlowness() {
    for (KvSimNode n : nodes.values()) {
      n.slowDisk(0);
      n.slowApply(0);
    }
  }

  @Override
  public boolean transferLeadership(long to) {
    long group = initialSpans.keySet().iterator().next();
    OptionalLong leader = leaderOf(group);
    if (leader.isEmpty() || leader.getAsLong() == to || !nodes.containsKey(to)) {
      return false;
    }
    history.nemesis("transfer", "partition " + group + " " + leader.getAsLong() + "->" + to);
    nodes.get(leader.getAsLong()).transferLeadership(group, to);
    return true;
  }

  @Override
  public SplittableRandom choices() {
    return choiceRandom;
  }

  /**
   * Asks the leader of the partition owning {@code key} (as its node routes it) to split it at
   * {@code key} into a new partition. Without a leader, an operator would retry: so does this,
   * every 50 ms for half a second.
   */
  void split(String key) {
    split(key, 100 + ++splits, 10);
  }

  private void split(String key, long newId, int triesLeft) {
    byte[] k = utf8(key);
    for (KvSimNode n : nodes.values()) {
      OptionalLong g = n.route(k);
      if (g.isPresent() && n.isLeader(g.getAsLong())) {
        boolean proposed = n.propose(g.getAsLong(), new Command.Split(k, newId));
        history.nemesis("split", "partition " + g.getAsLong() + " at " + key + " as partition " + newId
            + (proposed ? "" : " (dropped)"));
        return;
      }
    }
    if (triesLeft > 1) {
      events.after(50_000, () -> split(key, newId, triesLeft - 1));
    } else {
      history.nemesis("split", "at " + key + ": no leader for it");
    }
  }

  // ---- replica rot ----

  /**
   * Jepsen's {@code diverge} nemesis, modelled: the current leader of the {@code partition}-th
   * partition (modulo the partitions there are now) proposes a canary key of its span (a key no
   * client reads or writes, see {@link #canaryKey}) with value {@link #CANARY_VALUE}, an ordinary
   * session write; once node {@code id}'s replica holds it on disk (or after
   * {@link #CANARY_WAIT_MICROS}, and then the rot plants it), {@link #rot} changes it there behind
   * Raft's back. Without a leader the rot plants the canary. Skipped if the node does not host the
   * partition.
   */
  void diverge(long id, int partition) {
    List<Long> all = new ArrayList<>(groups());
    long group = all.get(Math.floorMod(partition, all.size()));
    KvSimNode target = nodes.get(id);
    KeySpan span = spanOf(group);
    byte[] key = span == null ? null : canaryKey(span);
    if (target == null || key == null || !target.groupsOnDisk().contains(group)) {
      history.nemesis("diverge", "node " + id + " partition " + group + ": skipped (no replica or span there)");
      return;
    }
    history.nemesis("diverge", "canary " + string(key) + " in partition " + group + ", to rot on node " + id);
    awaitCanary(id, group, key, now() + CANARY_WAIT_MICROS, 0);
  }

  /**
   * Every 10 ms until the canary is on node {@code id}'s disk or {@code until}: every 100 ms, the
   * partition's leader (if any) proposes it again (a lost proposal, no leader yet; the same value,
   * so a repeat changes nothing); then the rot.
   */
  private void awaitCanary(long id, long group, byte[] key, long until, int round) {
    if (now() < until && !nodes.get(id).holdsDurably(group, key, utf8(CANARY_VALUE))) {
      if (round % 10 == 0) {
        OptionalLong leader = leaderOf(group);
        if (leader.isPresent()) {
          nodes.get(leader.getAsLong()).propose(group,
              new Command.Write(CANARY_CLIENT, ++canaryWrites, 0, new WriteOp.Put(key, utf8(CANARY_VALUE))));
        }
      }
      events.after(10_000, () -> awaitCanary(id, group, key, until, round + 1));
      return;
    }
    rot(id, group, key);
  }

  /**
   * The leader of every partition proposes a hash check, as the Jepsen harness asks for one at
   * the end of every run: once applied everywhere, every replica has hashed at the same index.
   */
  void checkHashesNow() {
    for (long g : groups()) {
      OptionalLong leader = leaderOf(g);
      if (leader.isPresent()) {
        nodes.get(leader.getAsLong()).propose(g, new Command.CheckHash());
      }
    }
  }

  /**
   * Kills node {@code id} (if up), changes {@code key}'s value in its replica of {@code group} on
   * disk to a fresh {@link #ROT_PREFIX} value, and restarts it (if it was up).
   */
  private void rot(long id, long group, byte[] key) {
    KvSimNode n = nodes.get(id);
    if (!n.groupsOnDisk().contains(group)) {
      history.nemesis("diverge", "node " + id + " partition " + group + ": skipped (replica gone)");
      return;
    }
    boolean wasUp = n.isUp();
    crash(id);
    String value = ROT_PREFIX + ++rots;
    byte[] before = n.rot(group, key, utf8(value));
    rottedCanaries.add(key);
    history.nemesis("diverge", "node " + id + " partition " + group + " " + string(key) + ": " + string(before)
        + " -> " + value + " on disk");
    if (wasUp) {
      restart(id);
    }
  }

  /** The span of {@code group} as its leader (else the first node hosting it) has applied it. */
  private KeySpan spanOf(long group) {
    OptionalLong leader = leaderOf(group);
    if (leader.isPresent()) {
      return nodes.get(leader.getAsLong()).span(group);
    }
    for (KvSimNode n : nodes.values()) {
      KeySpan s = n.span(group);
      if (s != null) {
        return s;
      }
    }
    return null;
  }

  /**
   * A key of {@code span} no client uses: for a range, its start followed by {@code !canary}
   * (below any split key that extends the start, as {@code k2m} does {@code k2}); for a hash slot,
   * the first {@code canary-<i>} it owns. Null if none is found.
   */
  static byte[] canaryKey(KeySpan span) {
    if (span instanceof KeySpan.Range r) {
      byte[] key = utf8(string(r.start()) + "!" + CANARY_VALUE);
      return r.owns(key) ? key : null;
    }
    for (int i = 0; i < 1000; i++) {
      byte[] key = utf8(CANARY_VALUE + "-" + i);
      if (span.owns(key)) {
        return key;
      }
    }
    return null;
  }

  /** Whether a store key (or a user key) is a canary's: its text contains {@link #CANARY_VALUE}. */
  static boolean isCanary(byte[] key) {
    return new String(key, StandardCharsets.ISO_8859_1).contains(CANARY_VALUE);
  }

  /** Whether {@code store} holds a rotted canary: the ground truth the hash checks are judged by. */
  static boolean rotted(MemoryPartitionStore store) {
    for (KeyValue kv : store.scan(new byte[0], new byte[0], Integer.MAX_VALUE)) {
      if (isCanary(kv.key()) && string(kv.value()).startsWith(ROT_PREFIX)) {
        return true;
      }
    }
    return false;
  }

  /** Rots done so far. */
  long rots() {
    return rots;
  }

  /** Rotted replicas the product's hash comparison blamed, over every hash point with a clean quorum. */
  long rotsBlamed() {
    return rotsBlamed;
  }

  /**
   * The product's attribution ({@link ReplicaHashChecks#attributeMismatch}) replayed over every
   * hash point that has a rotted replica and where the clean replicas that hashed hold a quorum of
   * the partition's voters: each voter that hashed there taken as the leader, the others' hashes
   * reported to it in the order they were computed. At no point may it blame a clean replica
   * (reporter or leader); once every report is in, it must blame every rotted reporter of a clean
   * leader, and a rotted leader on any clean reporter. Where the clean replicas that hashed hold no
   * quorum (too few hashed there, or a rotted leader's snapshot spread the rot) majority cannot
   * tell, and nothing is required.
   *
   * @return what is wrong, or null
   */
  String checkHashAttribution() {
    for (Map.Entry<Long, TreeMap<Long, HashPoint>> g : hashPoints.entrySet()) {
      for (Map.Entry<Long, HashPoint> at : g.getValue().entrySet()) {
        HashPoint p = at.getValue();
        if (p.rotted.isEmpty()) {
          continue; // every hash equal there (replicaHash checked it)
        }
        Set<Long> clean = new TreeSet<>(p.hashes.keySet());
        clean.removeAll(p.rotted);
        if (!NodeRuntime.holdsQuorum(clean, p.voters)) {
          rotPointsWithoutCleanQuorum++;
          continue;
        }
        String where = "partition " + g.getKey() + " index " + at.getKey() + " (hashes " + p.hashes + ", rotted "
            + p.rotted + ", voters " + p.voters + ")";
        for (long leader : p.hashes.keySet()) {
          if (!p.voters.contains(leader)) {
            continue; // a learner never leads
          }
          long mine = p.hashes.get(leader);
          Map<Long, Long> reports = new java.util.LinkedHashMap<>();
          for (Map.Entry<Long, Long> r : p.hashes.entrySet()) {
            if (r.getKey() == leader) {
              continue;
            }
            reports.put(r.getKey(), r.getValue());
            if (r.getValue() == mine) {
              continue; // a match: the leader answers it before attributing anything
            }
            ReplicaHashChecks.Mismatch m = ReplicaHashChecks.attributeMismatch(p.voters, leader, mine, reports, r.getValue());
            if (m == ReplicaHashChecks.Mismatch.REPORTER_DIVERGED && !p.rotted.contains(r.getKey())) {
              return "hash attribution blames clean replica " + r.getKey() + " (leader " + leader + "): " + where;
            }
            if (m == ReplicaHashChecks.Mismatch.LEADER_DIVERGED && !p.rotted.contains(leader)) {
              return "hash attribution blames clean leader " + leader + " (reporter " + r.getKey() + "): " + where;
            }
          }
          for (Map.Entry<Long, Long> r : reports.entrySet()) {
            boolean reporterRotted = p.rotted.contains(r.getKey());
            boolean leaderRotted = p.rotted.contains(leader);
            if (r.getValue() == mine || reporterRotted == leaderRotted) {
              continue;
            }
            ReplicaHashChecks.Mismatch m = ReplicaHashChecks.attributeMismatch(p.voters, leader, mine, reports, r.getValue());
            ReplicaHashChecks.Mismatch expected = leaderRotted
                ? ReplicaHashChecks.Mismatch.LEADER_DIVERGED : ReplicaHashChecks.Mismatch.REPORTER_DIVERGED;
            if (m != expected) {
              return "hash attribution with every report in: leader " + leader + ", reporter " + r.getKey() + " gave "
                  + m + ", expected " + expected + ": " + where;
            }
            if (reporterRotted) {
              rotsBlamed++;
            }
          }
        }
      }
    }
    return null;
  }

  // ---- membership ----

  /**
   * Has the leader of the {@code partition}-th initial partition propose removing {@code id} from
   * its voters, unless the partition already misses a voter or is changing; {@code awayMicros}
   * later the membership repair ({@link #repairMembership}) adds it back as a learner and then
   * promotes it once caught up. Without a leader, retries every 50 ms for half a second.
   */
  void rejoin(int partition, long id, long awayMicros) {
    List<Long> initial = new ArrayList<>(initialSpans.keySet());
    rejoin(initial.get(Math.floorMod(partition, initial.size())), id, awayMicros, 10);
  }

  private void rejoin(long group, long id, long awayMicros, int triesLeft) {
    startRepair();
    OptionalLong leader = leaderOf(group);
    ConfState cs = leader.isPresent() ? nodes.get(leader.getAsLong()).confState(group) : null;
    if (cs == null) {
      if (triesLeft > 1) {
        events.after(50_000, () -> rejoin(group, id, awayMicros, triesLeft - 1));
      } else {
        history.nemesis("conf-change", "remove " + id + " from partition " + group + ": no leader");
      }
      return;
    }
    if (!nodes.containsKey(id) || !complete(cs) || !away.getOrDefault(group, Map.of()).isEmpty()) {
      history.nemesis("conf-change", "remove " + id + " from partition " + group + ": skipped (membership changing)");
      return;
    }
    boolean proposed = nodes.get(leader.getAsLong()).proposeConfChange(group, ConfChange.of(ConfChangeType.REMOVE, id));
    history.nemesis("conf-change", "partition " + group + " remove " + id + " via " + leader.getAsLong()
        + (proposed ? "" : " (dropped)"));
    if (proposed) {
      confChanges++;
      away.computeIfAbsent(group, g -> new HashMap<>()).put(id, now() + awayMicros);
    }
  }

  private boolean complete(ConfState cs) {
    return !cs.isJoint() && cs.learners().isEmpty() && cs.voters().equals(nodes.keySet());
  }

  private void startRepair() {
    if (!repairing) {
      repairing = true;
      events.after(50_000, this::repairMembership);
    }
  }

  /**
   * Every 50 ms, in every partition whose leader's membership lacks a node that no membership
   * step keeps out: proposes it as a learner; once that learner has applied the change that made
   * it one and the leader knows it holds the whole committed log, proposes promoting it. One
   * change per partition at a time (the core refuses another while one is unapplied).
   */
  private void repairMembership() {
    for (long g : groups()) {
      Map<Long, Long> out = away.getOrDefault(g, new HashMap<>());
      out.values().removeIf(until -> until <= now());
      OptionalLong leader = leaderOf(g);
      if (leader.isEmpty()) {
        continue;
      }
      KvSimNode l = nodes.get(leader.getAsLong());
      ConfState cs = l.confState(g);
      if (cs == null || cs.isJoint()) {
        continue;
      }
      for (long id : nodes.keySet()) {
        if (out.containsKey(id) || cs.voters().contains(id)) {
          continue;
        }
        ConfChange change = null;
        if (!cs.learners().contains(id)) {
          change = ConfChange.of(ConfChangeType.ADD_LEARNER, id);
        } else if (caughtUp(g, l, id)) {
          change = ConfChange.of(ConfChangeType.ADD_VOTER, id);
        }
        if (change != null) {
          boolean proposed = l.proposeConfChange(g, change);
          if (proposed) {
            confChanges++;
            history.nemesis("conf-change", "partition " + g + " " + change.changes() + " via " + l.id);
          }
        }
        break;
      }
    }
    events.after(50_000, this::repairMembership);
  }

  /** Learner {@code id} knows it is one and holds the leader's whole committed log. */
  private boolean caughtUp(long group, KvSimNode leader, long id) {
    KvSimNode n = nodes.get(id);
    ConfState own = n.confState(group);
    return own != null && own.learners().contains(id) && leader.matchIndexOf(group, id) >= leader.commitIndex(group);
  }

  /** Membership changes proposed so far. */
  long confChanges() {
    return confChanges;
  }

  /** A node destroyed its replica of a partition it was removed from (KvSimNode#destroyRemovedReplicas). */
  void replicaDestroyed() {
    destroyedReplicas++;
  }

  /** A node created a replica again where it had destroyed one (from its tombstone, quarantined). */
  void replicaRecreated() {
    recreatedReplicas++;
  }

  long recreatedReplicas() {
    return recreatedReplicas;
  }

  /** After healing: no membership step keeps any node out any more. */
  void endAbsences() {
    away.clear();
  }

  /** Every partition has a leader whose membership is every node as a voter, and no learner. */
  boolean membershipRestored() {
    for (long g : groups()) {
      OptionalLong leader = leaderOf(g);
      if (leader.isEmpty()) {
        return false;
      }
      ConfState cs = nodes.get(leader.getAsLong()).confState(g);
      if (cs == null || !complete(cs)) {
        return false;
      }
    }
    return true;
  }

  // ---- observation ----

  /** The live leader of {@code group} with the highest term, if any. */
  OptionalLong leaderOf(long group) {
    long best = 0;
    long bestTerm = -1;
    for (KvSimNode n : nodes.values()) {
      if (n.isLeader(group) && n.term(group) > bestTerm) {
        best = n.id;
        bestTerm = n.term(group);
      }
    }
    return bestTerm < 0 ? OptionalLong.empty() : OptionalLong.of(best);
  }

  /** Every partition some node hosts (on disk), in id order. */
  Set<Long> groups() {
    Set<Long> all = new TreeSet<>();
    for (KvSimNode n : nodes.values()) {
      all.addAll(n.groupsOnDisk());
    }
    return all;
  }

  /** Whether every partition has a live leader. */
  boolean everyGroupLed() {
    for (long g : groups()) {
      if (leaderOf(g).isEmpty()) {
        return false;
      }
    }
    return true;
  }

  /**
   * Whether every node is up and hosts every partition, and all replicas of each partition have
   * applied the same index, their leader's commit index.
   */
  boolean converged() {
    for (long g : groups()) {
      OptionalLong leader = leaderOf(g);
      if (leader.isEmpty()) {
        return false;
      }
      long commit = nodes.get(leader.getAsLong()).commitIndex(g);
      for (KvSimNode n : nodes.values()) {
        if (!n.isUp() || n.appliedIndex(g) != commit) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * After {@link #converged()}: every replica of a partition holds the same store (data,
   * sessions, span); no node stores a key outside the span of the partition holding it, no key
   * in two partitions; range spans tile the whole key space without overlap.
   *
   * @return a description of what is wrong, or null
   */
  String checkFinalState() {
    for (long g : groups()) {
      Long first = null;
      for (KvSimNode n : nodes.values()) {
        long d = n.storeDigest(g);
        if (first == null) {
          first = d;
        } else if (first != d) {
          return "replica divergence: partition " + g + " has different stores on node " + nodes.firstKey()
              + " and node " + n.id + " at applied index " + n.appliedIndex(g);
        }
      }
    }
    for (KvSimNode n : nodes.values()) {
      String wrong = n.checkOwnership(partitioner instanceof RangePartitioner);
      if (wrong != null) {
        return "key ownership on node " + n.id + ": " + wrong;
      }
    }
    return null;
  }

  /** The client history so far. */
  History history() {
    return history.history();
  }

  @Override
  public void note(String f, String value) {
    history.nemesis(f, value);
  }

  Verdict checkHistory() {
    return new LinearizabilityChecker().check(history.history());
  }

  /** Leaders elected in any partition so far (every term of every group counts once). */
  long elections() {
    return elections;
  }

  /** Virtual time of the last election, -1 if none. */
  long lastElectionAt() {
    return lastElectionAt;
  }

  /** Counters for reports. */
  String stats() {
    long committed = invariants.values().stream().mapToLong(Invariants::maxCommitted).sum();
    long checks = invariants.values().stream().mapToLong(Invariants::checks).sum();
    return "time=" + events.now() / 1000 + "ms events=" + events.executed() + " messages=" + network.sent()
        + " dropped=" + network.dropped() + " partitions=" + groups().size() + " committed=" + committed
        + " elections=" + elections + " confChanges=" + confChanges + " destroyed=" + destroyedReplicas
        + " recreated=" + recreatedReplicas + " blindRetries=" + blindRetries + " writeEntries=" + writeEntries + " packedEntries=" + packedEntries
        + " packedWrites=" + packedWrites + " hashChecks=" + hashChecks + " rots=" + rots + " rotsBlamed=" + rotsBlamed
        + " rotPointsWithoutCleanQuorum=" + rotPointsWithoutCleanQuorum + " fencings=" + fencings
        + " fencedLeaders=" + fencedLeaders + " fencedLeaderlessLeaders=" + fencedLeaderlessLeaders + " unfencings=" + unfencings + " canariesRead=" + canariesRead + " canariesUnfenced=" + canariesUnfenced
        + " appliedWritten=" + appliedWritten
        + " appliedStateLost=" + appliedStateLost() + " ops=" + completedOps() + " checks=" + checks;
  }

  /** Every node's partitions (role, term, applied index, span), for a failure report. */
  String describeNodes() {
    return nodes.values().stream().map(KvSimNode::toString).collect(Collectors.joining("\n    ", "    ", ""));
  }

  long safetyChecks() {
    return invariants.values().stream().mapToLong(Invariants::checks).sum() + hashChecks;
  }

  // ---- for nodes and clients ----

  KvSimSchedule schedule() {
    return schedule;
  }

  Partitioner partitioner() {
    return partitioner;
  }

  Map<Long, KeySpan> initialSpans() {
    return initialSpans;
  }

  ConfState voters() {
    return voters;
  }

  EventQueue events() {
    return events;
  }

  @Override
  public SimNetwork<GroupMessage> network() {
    return network;
  }

  KvSimNode node(long id) {
    return nodes.get(id);
  }

  Invariants invariants(long group) {
    return invariants.computeIfAbsent(group, g -> new Invariants(events::now));
  }

  /** A replica became leader (any partition, any term). */
  void countElection() {
    elections++;
    lastElectionAt = events.now();
  }

  /**
   * Replica integrity, at each hash: replicas that are not rotted ({@link #rotted}, the ground
   * truth) must hash alike at the same index, and a rotted one differently from every clean one (a
   * hash that misses the rot, or a mismatch without one, fails the run at once). Without a
   * {@link #diverge} step no replica is rotted, so every hash at an index must be equal. Kept per
   * index for {@link #checkHashAttribution}.
   *
   * @param voters the partition's voters as of {@code h.index()}
   * @param rotted whether this replica's store held a rotted canary when it hashed
   */
  void replicaHash(long group, long node, PartitionStateMachine.ReplicaHash h, Set<Long> voters, boolean rotted) {
    hashChecks++;
    HashPoint p = hashPoints.computeIfAbsent(group, g -> new TreeMap<>()).computeIfAbsent(h.index(),
        i -> new HashPoint(voters));
    p.hashes.remove(node); // hashed again (re-applied after a crash): its latest hash, in arrival order
    p.hashes.put(node, h.hash());
    if (rotted) {
      p.rotted.add(node);
    } else {
      p.rotted.remove(node);
    }
    for (Map.Entry<Long, Long> other : p.hashes.entrySet()) {
      long o = other.getKey();
      boolean alike = p.rotted.contains(o) == rotted;
      if (o == node || (rotted && alike)) {
        continue; // two rotted replicas may hold different rots
      }
      if (alike != (other.getValue() == h.hash())) {
        throw new SafetyViolation((alike ? "replica hash mismatch" : "replica hash misses a rotted replica")
            + ": partition " + group + " node " + node + (rotted ? " (rotted)" : "") + " hashed " + h.hash()
            + " at index " + h.index() + ", node " + o + (p.rotted.contains(o) ? " (rotted)" : "") + " "
            + other.getValue() + " (at virtual time " + events.now() + " us)");
      }
    }
    giveVerdicts(group, h.index(), p);
  }

  /**
   * The product's verdicts on the hashes at one index, as its leader of the moment gives them
   * (ReplicaHashChecks#compareHash): once that leader has hashed there, each other replica's hash
   * is compared with its own, a mismatch attributed by majority ({@link ReplicaHashChecks#attributeMismatch})
   * over the leader's voters and every report in so far. The replica blamed is fenced (a diverged
   * reporter, or the leader itself), and a matching reporter (or the reporter of a mismatch blamed on
   * the leader, told "match") is unfenced if its fence is older ({@link KvSimNode#verdict}). The
   * report protocol is not modelled: given again at every hash that arrives (as a follower reports
   * again while the leader cannot tell), a verdict reaches the replica at once.
   */
  private void giveVerdicts(long group, long index, HashPoint p) {
    OptionalLong leader = leaderOf(group);
    if (leader.isEmpty() || nodes.get(leader.getAsLong()).pausedUntil() > now()) {
      return;
    }
    long l = leader.getAsLong();
    Long mine = p.hashes.get(l);
    ConfState cs = nodes.get(l).confState(group);
    if (mine == null || cs == null) {
      return; // the reports wait for the leader's own hash (HASH_UNKNOWN)
    }
    Map<Long, Long> reports = new java.util.LinkedHashMap<>(p.hashes);
    reports.remove(l);
    for (Map.Entry<Long, Long> r : reports.entrySet()) {
      if (r.getValue().longValue() == mine) {
        countFence(nodes.get(r.getKey()).verdict(group, index, false), false);
        continue;
      }
      switch (ReplicaHashChecks.attributeMismatch(cs.voters(), l, mine, reports, r.getValue())) {
        case REPORTER_DIVERGED -> countFence(nodes.get(r.getKey()).verdict(group, index, true), true);
        case LEADER_DIVERGED -> {
          boolean changed = nodes.get(l).verdict(group, index, true);
          countFence(changed, true);
          fencedLeaders += changed ? 1 : 0;
          countFence(nodes.get(r.getKey()).verdict(group, index, false), false);
        }
        case UNDECIDED -> { }
      }
    }
  }

  private void countFence(boolean changed, boolean fenced) {
    if (changed && fenced) {
      fencings++;
    } else if (changed) {
      unfencings++;
    }
  }

  /**
   * A replica answers a read from its state: it must not be fenced (as ReadPath#serveLocal), and a
   * rotted canary's value may come only from a replica no check has fenced.
   */
  void readServed(long node, long group, byte[] key, byte[] value) {
    Fence f = fences.get(List.of(node, group));
    if (f != null) {
      throw new SafetyViolation("node " + node + " partition " + group + ", fenced at index " + f.index()
          + ", served a read of " + string(key) + " (" + string(value) + ") from its state (at virtual time "
          + events.now() + " us)");
    }
  }

  /** A fence as the verdicts, snapshots and destructions left it: at {@code index}, set in {@code term}. */
  private record Fence(long index, long term) {}

  /** (node, partition) -> its replica's fence: the simulation's own account, which survives crashes as the product's record does. */
  private final Map<List<Long>, Fence> fences = new HashMap<>();

  /** Node {@code node} recorded its replica of {@code group} fenced at {@code index} in {@code term} (index 0: unfenced). */
  void fenceSet(long node, long group, long index, long term) {
    if (index == 0) {
      fences.remove(List.of(node, group));
    } else {
      fences.put(List.of(node, group), new Fence(index, term));
    }
  }

  /** A replica opens (a start, a restart, a creation) fenced as the simulation's account has it: the fence is durable. */
  void checkFenceAtOpen(long node, long group, long divergedAt) {
    Fence f = fences.get(List.of(node, group));
    if ((f == null ? 0 : f.index()) != divergedAt) {
      throw new SafetyViolation("node " + node + " partition " + group + " opened " + (divergedAt == 0 ? "unfenced"
          : "fenced at index " + divergedAt) + " but its fence is " + (f == null ? "none" : "at index " + f.index())
          + " (at virtual time " + events.now() + " us)");
    }
  }

  /**
   * Node {@code node}'s replica of {@code group} became leader in {@code term}: it must not be fenced,
   * unless its campaign began before the fence did (a leader of the term it was fenced in, which
   * hands its leadership away), or it had heard from no leader for {@link #FENCED_LEADERLESS_TICKS}
   * ticks ({@code ticksSinceLeaderContact}, the model's own measure: its partition could not elect
   * a clean voter, see NodeRuntime#updatePromotable). Either way a fenced leader answers no client
   * write from its state and serves no read (checked elsewhere).
   */
  void checkNotFenced(long node, long group, long term, long ticksSinceLeaderContact) {
    Fence f = fences.get(List.of(node, group));
    if (f != null && term > f.term() && ticksSinceLeaderContact >= FENCED_LEADERLESS_TICKS) {
      fencedLeaderlessLeaders++;
    } else if (f != null && term > f.term()) {
      throw new SafetyViolation("node " + node + " partition " + group + ", fenced at index " + f.index() + " in term "
          + f.term() + ", became leader in term " + term + " (at virtual time " + events.now() + " us)");
    }
  }

  /**
   * The payoff of fencing, at the end of a run: every rotted canary read through the model at
   * LINEARIZABLE (as a client would, from the partition's leader) returns no rotted value when every
   * replica still holding one in the key's partition is fenced (or none is). Where some rotted
   * replica was never fenced (no clean quorum hashed where it was rotted), nothing is required.
   * Each read must be answered within {@code maxMicros}.
   *
   * @return what is wrong, or null
   */
  String probeCanaries(long maxMicros) {
    for (byte[] key : rottedCanaries) {
      KvSimNode any = nodes.firstEntry().getValue();
      OptionalLong g = any.route(key);
      if (g.isEmpty()) {
        return "canary " + string(key) + ": node " + any.id + " routes it nowhere";
      }
      long group = g.getAsLong();
      boolean allFenced = true;
      boolean rotLeft = false;
      for (KvSimNode n : nodes.values()) {
        rotLeft |= n.rottedReplica(group);
        allFenced &= !n.rottedReplica(group) || fences.containsKey(List.of(n.id, group));
      }
      if (!allFenced) {
        canariesUnfenced++;
        continue;
      }
      CanaryRead read = new CanaryRead(key, group);
      read.attempt();
      if (!runUntil(() -> read.answered, maxMicros)) {
        return "liveness: a linearizable read of canary " + string(key) + " (partition " + group
            + ", every rotted replica fenced) got no answer within " + maxMicros / 1000 + " ms";
      }
      canariesRead += rotLeft ? 1 : 0;
      if (read.value != null && read.value.startsWith(ROT_PREFIX)) {
        return "canary " + string(key) + " read " + read.value + " from partition " + group
            + " although every rotted replica there is fenced";
      }
    }
    return null;
  }

  /**
   * Canaries read at the end where some replica still held the rot, every one fenced; and canaries
   * not read, a rotted replica being unfenced.
   */
  private long canariesRead;
  private long canariesUnfenced;

  long canariesRead() {
    return canariesRead;
  }

  long fencings() {
    return fencings;
  }

  long fencedLeaders() {
    return fencedLeaders;
  }

  long fencedLeaderlessLeaders() {
    return fencedLeaderlessLeaders;
  }

  /** One linearizable read of a canary, sent to the partition's leader of the moment, retried every 20 ms until answered. */
  private final class CanaryRead implements KvSimRequest.Caller {
    final byte[] key;
    final long group;
    final long opId = nextId();
    long attemptId;
    boolean answered;
    String value;

    CanaryRead(byte[] key, long group) {
      this.key = key;
      this.group = group;
    }

    void attempt() {
      attemptId = nextId();
      OptionalLong leader = leaderOf(group);
      if (leader.isEmpty()) {
        events.after(20_000, this::attempt);
        return;
      }
      send(leader.getAsLong(), new KvSimRequest(opId, attemptId, this, key,
          new KvSimRequest.Body.Read(ReadConsistency.LINEARIZABLE)));
    }

    @Override
    public void onReply(KvSimRequest.Reply reply) {
      if (answered || reply.attemptId() != attemptId) {
        return;
      }
      if (reply instanceof KvSimRequest.Reply.Read r) {
        answered = true;
        value = string(r.value());
      } else {
        events.after(20_000, this::attempt);
      }
    }
  }

  /** A leader proposed an entry of {@code writes} client writes. */
  void proposedWrites(int writes) {
    writeEntries++;
    if (writes > 1) {
      packedEntries++;
      packedWrites += writes;
    }
  }

  /** Entries of several client writes proposed so far. */
  long packedEntries() {
    return packedEntries;
  }

  /** A client resent a write whose attempt timed out (it may have applied). */
  void blindRetry() {
    blindRetries++;
  }

  /** A replica applied an entry that was written on its node, not yet durable. */
  void appliedWritten() {
    appliedWritten++;
  }

  /** Entries applied while only written on their node, over all nodes. */
  long appliedWrittenEntries() {
    return appliedWritten;
  }

  /** Crashes that lost applied state (applied from written, unsynced entries), over all nodes. */
  long appliedStateLost() {
    return nodes.values().stream().mapToLong(KvSimNode::appliedStateLost).sum();
  }

  long writeDelay() {
    return MIN_WRITE_MICROS + walRandom.nextLong(MAX_WRITE_MICROS - MIN_WRITE_MICROS + 1);
  }

  /** How many of {@code records} written, unsynced records a crash keeps (a prefix; any number from 0 to all). */
  int crashKeeps(int records) {
    return walRandom.nextInt(records + 1);
  }

  long syncDelay() {
    return MIN_SYNC_MICROS + diskRandom.nextLong(MAX_SYNC_MICROS - MIN_SYNC_MICROS + 1);
  }

  long applyDelay() {
    return MIN_APPLY_MICROS + diskRandom.nextLong(MAX_APPLY_MICROS - MIN_APPLY_MICROS + 1);
  }

  long nextId() {
    return ++ids;
  }

  String nextValue() {
    return "v" + ++values;
  }

  long nextProcess() {
    return processes++;
  }

  static String key(int i) {
    return "k" + i;
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String string(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  RecentValues recentValues() {
    return recentValues;
  }

  /** Client to node: arrives after a short delay (client links are never cut). */
  void send(long node, KvSimRequest request) {
    events.after(clientDelay(), () -> nodes.get(node).handle(request));
  }

  /** Node to client. */
  void reply(KvSimRequest request, KvSimRequest.Reply reply) {
    events.after(clientDelay(), () -> request.client().onReply(reply));
  }

  private long clientDelay() {
    return CLIENT_MIN_DELAY + clientNetRandom.nextLong(CLIENT_MAX_DELAY - CLIENT_MIN_DELAY + 1);
  }

  private void deliver(GroupMessage gm) {
    KvSimNode to = nodes.get(gm.message().to());
    if (to != null) {
      to.receive(gm);
    }
    if (gm.message() instanceof Message.InstallSnapshot) {
      // The snapshot "stream" finished: tell the leader, as the transport's snapshot lane does.
      nodes.get(gm.message().from()).reportSnapshot(gm.group(), gm.message().to(), to != null && to.isUp());
    }
  }

  private void cutOff(GroupMessage gm) {
    KvSimNode sender = nodes.get(gm.message().from());
    sender.reportUnreachable(gm.group(), gm.message().to());
    if (gm.message() instanceof Message.InstallSnapshot) {
      sender.reportSnapshot(gm.group(), gm.message().to(), false);
    }
  }

  /** The partition {@code key} starts in, as a client computes it from the partitioner alone. */
  long initialPartitionOf(byte[] key) {
    if (partitioner instanceof HashPartitioner h) {
      return h.partitionOf(key);
    }
    for (Map.Entry<Long, KeySpan> e : initialSpans.entrySet()) {
      if (e.getValue().owns(key)) {
        return e.getKey();
      }
    }
    throw new IllegalStateException("no initial span owns " + Arrays.toString(key));
  }
}
