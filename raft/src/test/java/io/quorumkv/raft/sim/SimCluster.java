package io.quorumkv.raft.sim;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.SendBudget;
import io.quorumkv.raft.StateRole;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.Verdict;
import java.util.ArrayList;
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

/**
 * A deterministic Raft cluster in one thread: real {@link io.quorumkv.raft.RawNode}s over a
 * simulated network and simulated disks, with clients that record a register history.
 *
 * <p>Time is virtual (microseconds) and every random choice derives from
 * {@link SimConfig#seed()}, so a seed and the same calls replay a run bit for bit. Raft's safety
 * properties are checked as the run goes ({@link Invariants}; a violation throws
 * {@link SafetyViolation} at once); linearizability of the history is checked at the end with
 * {@link #checkHistory()}. Faults are injected with {@link #crash}, {@link #restart},
 * {@link #partition}, {@link #cutOneWay}, {@link #heal} and {@link #setFaults}; each is recorded
 * in the history as a nemesis event.
 */
public final class SimCluster implements FaultTarget {

  private static final long CLIENT_MIN_DELAY = 100;
  private static final long CLIENT_MAX_DELAY = 600;

  private final SimConfig config;
  private final EventQueue events = new EventQueue();
  private final SplittableRandom diskRandom;
  private final SplittableRandom clientNetRandom;
  private final SplittableRandom choiceRandom;
  private final Map<Long, SplittableRandom> nodeRandom = new HashMap<>();
  private final TreeMap<Long, SimNode> nodes = new TreeMap<>();
  private final SimNetwork<Message> network;
  private final Invariants invariants;
  private final HistoryRecorder history;
  private final List<SimClient> clients = new ArrayList<>();
  private final RecentValues recentValues = new RecentValues();
  private final Set<Long> removed = new HashSet<>();
  private long requestIds;
  private long readContexts;
  private long values;
  private long processes;
  private ConfState membership;
  private long membershipIndex;

  /** Builds the cluster and starts its initial voters. Clients start with {@link #startClients()}. */
  public SimCluster(SimConfig config) {
    this.config = config;
    SplittableRandom root = new SplittableRandom(config.seed());
    diskRandom = root.split();
    clientNetRandom = root.split();
    choiceRandom = root.split();
    SplittableRandom clientRandom = root.split();
    network = new SimNetwork<>(events, root.split(), Message::from, Message::to,
        m -> m instanceof Message.InstallSnapshot, this::deliver, this::cutOff,
        m -> nodes.get(m.from()).reportSnapshot(m.to(), false));
    invariants = new Invariants(events::now);
    history = new HistoryRecorder(() -> events.now() * 1_000);
    network.recordFaults(history::nemesis);
    Set<Long> voters = new HashSet<>();
    for (long id = 1; id <= config.voters(); id++) {
      voters.add(id);
    }
    membership = ConfState.ofVoters(voters);
    for (long id = 1; id <= config.voters() + config.spares(); id++) {
      nodeRandom.put(id, root.split());
      nodes.put(id, new SimNode(id, this, id <= config.voters() ? membership : ConfState.EMPTY));
    }
    for (long id = 1; id <= config.voters(); id++) {
      nodes.get(id).start();
    }
    for (int c = 0; c < config.clients(); c++) {
      clients.add(new SimClient(this, processes++, clientRandom.split(), history));
    }
  }

  // ---- running ----

  /** Virtual microseconds since the start. */
  public long now() {
    return events.now();
  }

  /** Runs every event due in the next {@code micros}. */
  @Override
  public void runFor(long micros) {
    long deadline = events.now() + micros;
    while (events.runNext(deadline)) {
      // each event checks the invariants it touches
    }
  }

  /**
   * Runs until {@code condition} holds (checked after every event), at most {@code maxMicros}.
   *
   * @return whether the condition came true in time
   */
  public boolean runUntil(BooleanSupplier condition, long maxMicros) {
    long deadline = events.now() + maxMicros;
    while (!condition.getAsBoolean()) {
      if (!events.runNext(deadline)) {
        return condition.getAsBoolean();
      }
    }
    return true;
  }

  /** Starts every client issuing random operations. */
  public void startClients() {
    clients.forEach(SimClient::start);
  }

  /** Clients finish the operation they have in flight and issue no more. */
  public void stopClients() {
    clients.forEach(SimClient::stop);
  }

  /** Whether no client has an operation in flight. */
  public boolean clientsIdle() {
    return clients.stream().allMatch(SimClient::idle);
  }

  /**
   * Liveness: each client writes once more; every write must end {@code ok} within
   * {@code maxMicros}.
   */
  public boolean finalWritesSucceed(long maxMicros) {
    clients.forEach(c -> c.finalWrite(maxMicros));
    return runUntil(this::clientsIdle, maxMicros) && clients.stream().allMatch(SimClient::finalOpSucceeded);
  }

  /** Operations completed by all clients (ok, fail or info). */
  public long completedOps() {
    return clients.stream().mapToLong(SimClient::completed).sum();
  }

  // ---- faults ----

  /** Restores every slowed disk. */
  public void fixDisks() {
    for (SimNode n : nodes.values()) {
      n.slowDisk(0);
    }
  }

  /** Asks the current leader to transfer leadership to {@code to}; false without a leader. */
  @Override
  public boolean transferLeadership(long to) {
    OptionalLong leader = leader();
    if (leader.isEmpty() || leader.getAsLong() == to) {
      return false;
    }
    history.nemesis("transfer", leader.getAsLong() + "->" + to);
    nodes.get(leader.getAsLong()).transferLeadership(to);
    return true;
  }

  // ---- membership ----

  /** Proposes a membership change at the current leader; false if there is none or it refused. */
  public boolean proposeConfChange(ConfChange change) {
    OptionalLong leader = leader();
    if (leader.isEmpty()) {
      return false;
    }
    boolean accepted = nodes.get(leader.getAsLong()).proposeConfChange(change);
    history.nemesis("conf-change", change.changes() + (accepted ? "" : " refused"));
    return accepted;
  }

  /**
   * Proposes a put of {@code key} straight at the leader, bypassing clients and history (for the
   * benchmark).
   *
   * @return whether a leader accepted it
   */
  boolean proposeAtLeader(String key, String value) {
    OptionalLong leader = leader();
    if (leader.isEmpty()) {
      return false;
    }
    return nodes.get(leader.getAsLong()).proposeDirect(
        new Command(nextRequestId(), io.quorumkv.testkit.Op.F.PUT, key, value, null).encode());
  }

  /**
   * Starts spare node {@code id} (empty, outside the group) and proposes it as a learner. It
   * learns the membership by replaying the log from the bootstrap entries, or from a snapshot.
   */
  public boolean addLearner(long id) {
    SimNode n = nodes.get(id);
    OptionalLong leader = leader();
    if (n == null || leader.isEmpty() || removed.contains(id) || membership.voters().contains(id)
        || membership.learners().contains(id)) {
      return false;
    }
    if (!n.isUp() && n.restarts() == 0) {
      n.start();
    }
    return proposeConfChange(ConfChange.of(ConfChangeType.ADD_LEARNER, id));
  }

  /** Proposes promoting learner {@code id} to voter. */
  public boolean promote(long id) {
    if (!isInSyncLearner(id)) {
      return false;
    }
    return proposeConfChange(ConfChange.of(ConfChangeType.ADD_VOTER, id));
  }

  /**
   * Whether {@code id} is a learner that has itself applied the change that made it one, the
   * condition (like etcd's "learner in sync") for making it a voter: a member that has not
   * received the log yet knows no configuration, and a quorum that needs it could stall.
   */
  public boolean isInSyncLearner(long id) {
    SimNode n = nodes.get(id);
    return membership.learners().contains(id) && n.isUp() && n.stateMachine.confState().learners().contains(id);
  }

  /** Proposes removing member {@code id} (which may be the leader). Removed ids never come back. */
  public boolean remove(long id) {
    if (!membership.voters().contains(id) && !membership.learners().contains(id)) {
      return false;
    }
    if (membership.voters().contains(id) && membership.voters().size() <= 1) {
      return false;
    }
    boolean accepted = proposeConfChange(ConfChange.of(ConfChangeType.REMOVE, id));
    if (accepted) {
      removed.add(id);
    }
    return accepted;
  }

  /**
   * Proposes replacing voter {@code out} by learner {@code in} (in sync, see
   * {@link #isInSyncLearner}) in one change, which goes through a joint configuration (thesis
   * §4.3) and leaves it automatically. {@code out} never comes back.
   */
  public boolean replace(long in, long out) {
    return isInSyncLearner(in) && proposeReplace(in, out);
  }

  /** {@link #replace} without the learner check: {@code in} may be a spare, started here. */
  boolean proposeReplace(long in, long out) {
    SimNode n = nodes.get(in);
    if (n == null || in == out || removed.contains(in) || membership.voters().contains(in)
        || !membership.voters().contains(out) || membership.isJoint()) {
      return false;
    }
    if (!n.isUp() && n.restarts() == 0) {
      n.start();
    }
    boolean accepted = proposeConfChange(new ConfChange(
        List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, in), new ConfChange.Single(ConfChangeType.REMOVE, out)),
        ConfChange.Transition.AUTO, Entry.EMPTY));
    if (accepted) {
      removed.add(out);
    }
    return accepted;
  }

  /** The membership as of the highest index any node has applied. */
  public ConfState membership() {
    return membership;
  }

  // ---- observation ----

  /** The live leader with the highest term, if any. */
  @Override
  public OptionalLong leader() {
    long best = RaftConfig.NONE;
    long bestTerm = -1;
    for (SimNode n : nodes.values()) {
      if (n.isUp() && n.softState().role() == StateRole.LEADER && n.term() > bestTerm) {
        best = n.id;
        bestTerm = n.term();
      }
    }
    return best == RaftConfig.NONE ? OptionalLong.empty() : OptionalLong.of(best);
  }

  /** A live leader that is still a voter of the latest membership. */
  public boolean hasMemberLeader() {
    OptionalLong l = leader();
    return l.isPresent() && membership.voters().contains(l.getAsLong());
  }

  @Override
  public Map<Long, SimNode> processes() {
    return nodes;
  }

  /** The highest index node {@code id}'s state machine has applied. */
  public long applied(long id) {
    return nodes.get(id).stateMachine.applied();
  }

  /** Snapshots node {@code id} received from a leader and installed. */
  public long snapshotsInstalled(long id) {
    return nodes.get(id).snapshotsInstalled();
  }

  /** The first index still in node {@code id}'s durable log (after its snapshot). */
  public long firstIndex(long id) {
    return nodes.get(id).storage.firstIndex();
  }

  /** The register value node {@code id}'s state machine holds for {@code key}. */
  public String valueAt(long id, String key) {
    return nodes.get(id).stateMachine.get(key);
  }

  /** The network, also for fine-grained faults in scenario tests. */
  @Override
  public SimNetwork<Message> network() {
    return network;
  }

  /** The client history so far. */
  public History history() {
    return history.history();
  }

  /** Records a note in the history (e.g. the schedule step being applied). */
  @Override
  public void note(String f, String value) {
    history.nemesis(f, value);
  }

  /** Checks the client history for linearizability, per key. */
  public Verdict checkHistory() {
    return new LinearizabilityChecker().check(history.history());
  }

  /** Counters for reports: virtual time, events, messages, highest committed index, leaders. */
  public String stats() {
    return "time=" + events.now() / 1000 + "ms events=" + events.executed() + " messages=" + network.sent()
        + " dropped=" + network.dropped() + " committed=" + invariants.maxCommitted() + " leaderTerms="
        + invariants.leaderTerms() + " ops=" + completedOps() + " checks=" + invariants.checks()
        + (config.reportWritten() ? " appliedStateLost=" + appliedStateLost() : "");
  }

  /** Crashes that lost applied state (applied from written, unsynced entries), over all nodes. */
  public long appliedStateLost() {
    return nodes.values().stream().mapToLong(SimNode::appliedStateLost).sum();
  }

  /** The highest index any node applied. */
  public long maxCommitted() {
    return invariants.maxCommitted();
  }

  /** Individual safety checks that passed so far. */
  public long safetyChecks() {
    return invariants.checks();
  }

  // ---- for the nodes and clients ----

  SimNode node(long id) {
    return nodes.get(id);
  }

  SimConfig config() {
    return config;
  }

  EventQueue events() {
    return events;
  }

  Invariants invariants() {
    return invariants;
  }

  RaftConfig raftConfig(long id, long applied, SendBudget sendBudget) {
    return RaftConfig.builder(id)
        .electionTick(config.electionTick())
        .heartbeatTick(config.heartbeatTick())
        .applied(applied)
        .maxSizePerMsg(config.maxSizePerMsg())
        .maxInflightMsgs(config.maxInflightMsgs())
        // a byte bound of three full messages: with small entries the count bounds the window,
        // with batches of several the bytes do
        .maxInflightBytes(3 * config.maxSizePerMsg())
        .preVote(true)
        .checkQuorum(true)
        .random(nodeRandom.get(id).split())
        .sendBudget(sendBudget)
        .build();
  }

  long tickPhase() {
    return diskRandom.nextLong(config.tickMicros());
  }

  /** How many of {@code items} unsynced writes a crash keeps (a prefix; any number from 0 to all). */
  int crashKeeps(int items) {
    return diskRandom.nextInt(items + 1);
  }

  long syncDelay() {
    return config.minSyncMicros() + diskRandom.nextLong(config.maxSyncMicros() - config.minSyncMicros() + 1);
  }

  private void deliver(Message m) {
    SimNode n = nodes.get(m.to());
    if (n != null) {
      n.receive(m);
    }
    if (m instanceof Message.InstallSnapshot) {
      // The snapshot "stream" finished: tell the leader, as a transport would.
      nodes.get(m.from()).reportSnapshot(m.to(), n != null && n.isUp());
    }
  }

  private void cutOff(Message m) {
    SimNode sender = nodes.get(m.from());
    sender.reportUnreachable(m.to());
    if (m instanceof Message.InstallSnapshot) {
      sender.reportSnapshot(m.to(), false);
    }
  }

  void confChangeApplied(long node, long index, ConfState cs) {
    if (index > membershipIndex) {
      membershipIndex = index;
      membership = cs;
    }
  }

  long nextRequestId() {
    return ++requestIds;
  }

  long nextReadContext() {
    return ++readContexts;
  }

  long nextValue() {
    return ++values;
  }

  long nextProcess() {
    return processes++;
  }

  /** Whether {@code id} is a member (voter or learner) of the latest membership. */
  boolean isMember(long id) {
    return members().contains(id);
  }

  /** Every member of the latest membership, joint parts included, in id order. */
  private List<Long> members() {
    Set<Long> all = new TreeSet<>(membership.voters());
    all.addAll(membership.learners());
    all.addAll(membership.votersOutgoing());
    all.addAll(membership.learnersNext());
    return new ArrayList<>(all);
  }

  /**
   * A random member of the latest membership, as a client that follows the membership would
   * pick (removed nodes keep stale leader hints forever).
   */
  long randomMember(SplittableRandom random) {
    List<Long> members = members();
    return members.get(random.nextInt(members.size()));
  }

  RecentValues recentValues() {
    return recentValues;
  }

  /** Client to node: the request arrives after a short delay (clients are never partitioned). */
  void send(long node, ClientRequest request) {
    events.after(clientDelay(), () -> nodes.get(node).handle(request));
  }

  /** Node to client. */
  void reply(ClientRequest request, ClientReply reply) {
    events.after(clientDelay(), () -> request.client().onReply(reply));
  }

  private long clientDelay() {
    return CLIENT_MIN_DELAY + clientNetRandom.nextLong(CLIENT_MAX_DELAY - CLIENT_MIN_DELAY + 1);
  }

  @Override
  public SplittableRandom choices() {
    return choiceRandom;
  }
}
