package io.quorumkv.raft;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * A tiny synchronous network of {@link RawNode}s for specification tests: every Ready is persisted
 * to the node's {@link MemoryStorage} at once, acknowledged with {@code persisted}, applied, and its
 * messages queued; {@link #stabilize()} delivers until nothing moves. Messages can be dropped by a
 * filter or by cutting nodes off. Everything is deterministic.
 */
final class Net {

  /** One member: the core, its "disk" and its state machine (the list of applied commands). */
  static final class Node {
    final long id;
    final RaftConfig config;
    final MemoryStorage storage;
    RawNode raw;
    final List<String> state = new ArrayList<>();
    final List<ReadState> readStates = new ArrayList<>();
    final List<Ready> readies = new ArrayList<>();
    long appliedIndex;
    /** The membership as of {@link #appliedIndex}, as the driver applied it. */
    ConfState confState;

    Node(long id, RaftConfig config, MemoryStorage storage) {
      this.id = id;
      this.config = config;
      this.storage = storage;
      this.raw = new RawNode(config, storage);
      this.confState = storage.initialState().confState();
    }

    Status status() {
      return raw.status();
    }

    StateRole role() {
      return raw.status().softState().role();
    }

    long term() {
      return raw.status().hardState().term();
    }

    long commit() {
      return raw.status().hardState().commit();
    }

    /** Takes a snapshot of the applied state and compacts the log up to it. */
    void snapshotAndCompact() {
      storage.createSnapshot(appliedIndex, confState,
          String.join("\n", state).getBytes(StandardCharsets.UTF_8));
      storage.compact(appliedIndex);
    }

    /** Simulates a crash and restart: everything persisted survives, nothing else does. */
    void restart() {
      raw = new RawNode(RaftConfig.builder(id)
          .electionTick(config.electionTick()).heartbeatTick(config.heartbeatTick())
          .preVote(config.preVote()).checkQuorum(config.checkQuorum())
          .readOnlyOption(config.readOnlyOption()).clockDriftFactor(config.clockDriftFactor())
          .maxSizePerMsg(config.maxSizePerMsg()).maxInflightMsgs(config.maxInflightMsgs())
          .maxInflightBytes(config.maxInflightBytes())
          .maxUncommittedEntriesSize(config.maxUncommittedEntriesSize())
          .applied(appliedIndex).random(new SplittableRandom(id * 7919)).build(), storage);
    }
  }

  final Map<Long, Node> nodes = new TreeMap<>();
  private final ArrayDeque<Message> inFlight = new ArrayDeque<>();
  /** Every message delivered or dropped, in order, for tests that look at the trace. */
  final List<Message> trace = new ArrayList<>();
  private final Set<Long> isolated = new HashSet<>();
  private Predicate<Message> drop = m -> false;

  /** A group of voters {@code 1..n}, with the given tweaks to the default test configuration. */
  static Net of(int n, Consumer<RaftConfig.Builder> tweak) {
    return of(n, 7919, tweak);
  }

  /** Like {@link #of(int, Consumer)}, with node {@code i} seeded by {@code seed * i}. */
  static Net of(int n, long seed, Consumer<RaftConfig.Builder> tweak) {
    Net net = new Net();
    Set<Long> voters = new HashSet<>();
    for (long i = 1; i <= n; i++) {
      voters.add(i);
    }
    for (long i = 1; i <= n; i++) {
      long id = i;
      net.add(i, new MemoryStorage(ConfState.ofVoters(voters)),
          b -> tweak.accept(b.random(new SplittableRandom(seed * id))));
    }
    return net;
  }

  /**
   * Three nodes, node 1 leading; node 3 was cut off while {@code proposals} commands were
   * committed, and is reachable again (it learns nothing until the leader sends again).
   */
  static Net ofThreeWithNode3Behind(int proposals) {
    Net net = of(3);
    net.elect(1);
    net.isolate(3);
    for (int i = 0; i < proposals; i++) {
      net.propose(1, "p" + i);
    }
    net.heal();
    return net;
  }

  static Net of(int n) {
    return of(n, b -> { });
  }

  /**
   * The storage of a member of a group of {@code voters} that has run before but has an empty log
   * (term 1): unlike a brand-new member it writes no bootstrap entries, so hand-driven tests
   * start from index 0.
   */
  static MemoryStorage emptyLog(long... voters) {
    MemoryStorage s = MemoryStorage.withVoters(voters);
    s.setHardState(new HardState(1, RaftConfig.NONE, 0));
    return s;
  }

  /** The default test configuration: election 10 ticks, heartbeat 1, seeded by id. */
  static RaftConfig.Builder config(long id) {
    return RaftConfig.builder(id).electionTick(10).heartbeatTick(1)
        .random(new SplittableRandom(id * 7919));
  }

  Node add(long id, MemoryStorage storage, Consumer<RaftConfig.Builder> tweak) {
    RaftConfig.Builder b = config(id);
    tweak.accept(b);
    Node node = new Node(id, b.build(), storage);
    nodes.put(id, node);
    return node;
  }

  Node node(long id) {
    return nodes.get(id);
  }

  /** Drops every message for which {@code p} is true, until replaced. */
  void dropIf(Predicate<Message> p) {
    drop = p;
  }

  /** Cuts {@code id} off from everyone (both directions). */
  void isolate(long id) {
    isolated.add(id);
  }

  void heal() {
    isolated.clear();
    drop = m -> false;
  }

  /** Persists, applies and sends everything {@code node} has ready; returns what it sent. */
  List<Message> process(Node n) {
    List<Message> sent = new ArrayList<>();
    for (int guard = 0; guard < 1000 && n.raw.hasReady(); guard++) {
      Ready rd = n.raw.ready();
      n.readies.add(rd);
      sent.addAll(rd.messages());
      sent.addAll(persistAndApply(n, rd, e -> { }));
    }
    inFlight.addAll(sent);
    return sent;
  }

  /**
   * The driver's work for one Ready after its {@code messages} went out: the synced write, the
   * acknowledgements, applying (each entry is shown to {@code onApply} first) and the read
   * states. Returns {@code messagesAfterPersist}, which may be sent now.
   */
  static List<Message> persistAndApply(Node n, Ready rd, Consumer<Entry> onApply) {
    rd.snapshot().ifPresent(s -> {
      n.storage.applySnapshot(s);
      n.state.clear();
      String data = new String(s.data(), StandardCharsets.UTF_8);
      if (!data.isEmpty()) {
        n.state.addAll(Arrays.asList(data.split("\n")));
      }
      n.appliedIndex = s.metadata().index();
      n.confState = s.metadata().confState();
    });
    n.storage.append(rd.entries());
    rd.hardState().ifPresent(n.storage::setHardState);
    long last = n.storage.lastIndex();
    n.raw.persisted(last, n.storage.term(last));
    rd.snapshot().ifPresent(s -> n.raw.snapshotPersisted(s.metadata().index()));
    for (Entry e : rd.committedEntries()) {
      onApply.accept(e);
      if (e.type() == EntryType.CONF_CHANGE) {
        n.confState = n.raw.applyConfChange(ConfChange.decode(e.data()));
        n.storage.setConfState(n.confState);
      } else if (e.data().length > 0) {
        n.state.add(new String(e.data(), StandardCharsets.UTF_8));
      }
      n.appliedIndex = e.index();
    }
    if (!rd.committedEntries().isEmpty()) {
      n.raw.applied(n.appliedIndex);
    }
    n.readStates.addAll(rd.readStates());
    return rd.messagesAfterPersist();
  }

  /** Normal entries {@code from..to} of {@code term}, with distinct payloads. */
  static List<Entry> entries(long from, long to, long term) {
    List<Entry> out = new ArrayList<>();
    for (long i = from; i <= to; i++) {
      out.add(Entry.normal(i, term, ("e" + i + "t" + term).getBytes(StandardCharsets.UTF_8)));
    }
    return out;
  }

  /** Delivers until no node has anything ready and no message is in flight. */
  void stabilize() {
    for (int round = 0; round < 10_000; round++) {
      boolean moved = false;
      for (Node n : nodes.values()) {
        moved |= !process(n).isEmpty();
      }
      if (inFlight.isEmpty() && !moved) {
        return;
      }
      while (!inFlight.isEmpty()) {
        deliver(inFlight.poll());
      }
    }
    throw new AssertionError("network did not stabilize");
  }

  private void deliver(Message m) {
    trace.add(m);
    Node to = nodes.get(m.to());
    if (to == null || isolated.contains(m.from()) || isolated.contains(m.to()) || drop.test(m)) {
      return;
    }
    to.raw.step(m);
  }

  /** Ticks every node {@code times} times, stabilizing after each tick. */
  void tick(int times) {
    for (int i = 0; i < times; i++) {
      for (Node n : nodes.values()) {
        n.raw.tick();
      }
      stabilize();
    }
  }

  /** Makes {@code id} campaign and runs the election to completion. */
  void elect(long id) {
    nodes.get(id).raw.campaign();
    stabilize();
  }

  /** Proposes {@code cmd} on {@code id} and replicates it. */
  long propose(long id, String cmd) {
    long index = nodes.get(id).raw.propose(cmd.getBytes(StandardCharsets.UTF_8));
    stabilize();
    return index;
  }

  /** The messages of the trace of the given kind. */
  <T extends Message> List<T> traced(Class<T> kind) {
    return trace.stream().filter(kind::isInstance).map(kind::cast).toList();
  }

  /** The current leader, or 0 if there is not exactly one live leader in the highest term. */
  long leader() {
    long best = 0;
    long bestTerm = -1;
    for (Node n : nodes.values()) {
      if (n.role() == StateRole.LEADER && n.term() > bestTerm) {
        best = n.id;
        bestTerm = n.term();
      }
    }
    return best;
  }
}
