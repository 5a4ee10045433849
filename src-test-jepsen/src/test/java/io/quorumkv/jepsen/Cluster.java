package io.quorumkv.jepsen;

import io.quorumkv.ClusterStatus;
import io.quorumkv.Fault;
import io.quorumkv.HashPartitioner;
import io.quorumkv.KvClient;
import io.quorumkv.OfflineReplicas;
import io.quorumkv.PartitionStatus;
import io.quorumkv.Partitioner;
import io.quorumkv.RangePartitioner;
import io.quorumkv.ReplicaHashes;
import io.quorumkv.storage.PowerLoss;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A QuorumKV cluster of real node processes on 127.0.0.1, each its own JVM running
 * {@code io.quorumkv.examples.ExampleNode} (RocksDB, Netty) from a temporary data directory, and
 * the operations the nemeses need on it: kill, restart, pause, resume, restart under a skewed
 * clock, cut links, add and remove members. {@link #close()} SIGKILLs every process it started
 * and deletes the data directories.
 */
final class Cluster implements AutoCloseable {

  /** The node main, run once per node process. */
  static final String NODE_MAIN = "io.quorumkv.examples.ExampleNode";
  /** The nodes' election timeout: ExampleNode's defaults, 10 ticks of 100 ms (the suite passes neither flag). */
  static final long ELECTION_TIMEOUT_MS = 1000;

  /** ExampleNode's hash partitions (its {@code --partitions} default; the suite passes no such flag). */
  static final int HASH_PARTITIONS = 3;

  private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(2);
  /** How long a restarted node may take to answer a status request. */
  private static final Duration RESTART_TIMEOUT = Duration.ofSeconds(30);
  /** Membership changes wait for a learner to catch up before promoting it: they get longer. */
  private static final Duration MEMBERSHIP_TIMEOUT = Duration.ofSeconds(15);
  /** Lines of each node's log quoted when the cluster does not become ready. */
  private static final int LOG_TAIL_LINES = 12;

  private final String clusterId;
  private final boolean powerCuts;
  private final Path workDir;
  private final Path logDir;
  private final Map<Long, NodeProcess> members = new LinkedHashMap<>();
  private final Map<Long, NodeProcess> everyNode = new LinkedHashMap<>();
  /** Nodes started by this run that are members no more, with why (removed, or their add failed). */
  private final Map<Long, String> departed = new HashMap<>();
  private final Map<Long, KvClient> adminClients = new HashMap<>();
  private final Map<Long, KvClient> membershipClients = new HashMap<>();
  private final Map<Long, KvClient> hashClients = new HashMap<>();
  private final List<KvClient> clients = new ArrayList<>();
  private final List<String> rangeSplits;
  private Grudge grudge;
  private long nextId;
  private volatile Deposed deposed;
  private final AtomicLong depositions = new AtomicLong();

  /**
   * A leader the depose nemesis has cut off from its peers (clients still reach it).
   *
   * @param node       the isolated node
   * @param partitions the partitions it led when it was cut off
   * @param episode    counts the depose faults of the run, from 1
   */
  record Deposed(long node, Set<Long> partitions, long episode) {}

  /**
   * @param size        initial voters, ids 1..size
   * @param rangeSplits the initial split keys of range partitioning, or empty for the node's
   *                    default hash partitioning
   * @param logDir      where each node's output goes ({@code n<id>.log})
   */
  Cluster(String clusterId, int size, List<String> rangeSplits, Path logDir) {
    this(clusterId, size, rangeSplits, logDir, false);
  }

  /**
   * @param powerCuts whether every node runs with {@link PowerLoss}'s library preloaded, so that
   *     {@link #cutPower} can take away what it has not synced
   */
  Cluster(String clusterId, int size, List<String> rangeSplits, Path logDir, boolean powerCuts) {
    this.clusterId = clusterId;
    this.powerCuts = powerCuts;
    this.rangeSplits = List.copyOf(rangeSplits);
    this.logDir = logDir;
    try {
      this.workDir = Files.createTempDirectory("quorumkv-jepsen-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (long id = 1; id <= size; id++) {
      NodeProcess node = newNode(id);
      members.put(id, node);
    }
    nextId = size + 1;
  }

  private NodeProcess newNode(long id) {
    NodeProcess node = new NodeProcess(id, "127.0.0.1:" + freePort(), workDir.resolve("n" + id),
        logDir.resolve("n" + id + ".log"));
    everyNode.put(id, node);
    return node;
  }

  /**
   * Starts every initial member and waits until each partition has a leader. A start that fails
   * (every member exited, or no leaders in time) is tried once more from scratch: the processes
   * are killed, the data directories wiped and every member gets a new port, since a port that
   * was free when picked can be taken before the node binds it. The first failure, with its
   * diagnosis, goes to {@code onRetry}: it is reported, not hidden.
   *
   * @throws IllegalStateException with the diagnosis of the second failure
   */
  void start(Duration timeout, Consumer<String> onRetry) {
    try {
      launchInitialMembers();
      awaitReady(timeout);
    } catch (IllegalStateException first) {
      onRetry.accept("the first start failed, so the cluster was started again from scratch on new ports: "
          + first.getMessage());
      synchronized (this) {
        for (KvClient c : adminClients.values()) {
          c.close();
        }
        adminClients.clear();
        for (NodeProcess n : members.values()) {
          n.kill();
          n.appendToLog("==== jepsen: killed: the cluster did not start; starting again on a new port");
          deleteTree(n.dataDir());
          members.put(n.id(), newNode(n.id()));
        }
      }
      launchInitialMembers();
      awaitReady(timeout);
    }
  }

  private synchronized void launchInitialMembers() {
    for (NodeProcess node : members.values()) {
      launch(node, false, null);
    }
  }

  // ---- membership and addresses ----

  synchronized List<Long> memberIds() {
    return new ArrayList<>(members.keySet());
  }

  synchronized NodeProcess node(long id) {
    return everyNode.get(id);
  }

  /** The members that are running and not paused. */
  synchronized List<Long> responsive() {
    List<Long> out = new ArrayList<>();
    for (NodeProcess n : members.values()) {
      if (n.isAlive() && !n.isPaused()) {
        out.add(n.id());
      }
    }
    return out;
  }

  /** Every address ever started, shuffled: a client tries them in this order, then round-robin. */
  synchronized List<String> addresses(Random rnd) {
    List<String> out = new ArrayList<>();
    for (NodeProcess n : everyNode.values()) {
      out.add(n.address());
    }
    Collections.shuffle(out, rnd);
    return out;
  }

  /** A new client over every node, closed with the cluster. */
  synchronized KvClient client(Duration timeout, List<String> addresses) {
    KvClient c = KvClient.builder().addresses(addresses).clusterId(clusterId).requestTimeout(timeout).build();
    clients.add(c);
    return c;
  }

  /** A client that talks to node {@code id} only (admin calls, status, faults, stale reads). */
  synchronized KvClient admin(long id) {
    return adminClients.computeIfAbsent(id, i -> KvClient.builder().addresses(everyNode.get(i).address())
        .clusterId(clusterId).requestTimeout(ADMIN_TIMEOUT).build());
  }

  /** Like {@link #admin} with the deadline of a membership change. */
  private synchronized KvClient membershipAdmin(long id) {
    return membershipClients.computeIfAbsent(id, i -> KvClient.builder().addresses(everyNode.get(i).address())
        .clusterId(clusterId).requestTimeout(MEMBERSHIP_TIMEOUT).build());
  }

  /**
   * Node {@code id}'s replica hash checks ({@code KvAdmin.replicaHashes}) through a client pinned to
   * it, whose deadline is {@code timeout} (the first call's for that node: the client is kept; the node
   * collects reports for three quarters of it).
   */
  ReplicaHashes replicaHashes(long id, Duration timeout) {
    KvClient c;
    synchronized (this) {
      c = hashClients.computeIfAbsent(id, i -> KvClient.builder().addresses(everyNode.get(i).address())
          .clusterId(clusterId).requestTimeout(timeout).build());
    }
    return c.replicaHashes();
  }

  String clusterId() {
    return clusterId;
  }

  /** Where the node logs go (and other per-node diagnostics of the run). */
  Path logDir() {
    return logDir;
  }

  /** Whether the nodes use range partitioning (so partitions can be split). */
  boolean rangePartitioned() {
    return !rangeSplits.isEmpty();
  }

  /** The nodes' partitioning, as ExampleNode builds it from the flags this cluster passes. */
  Partitioner partitioner() {
    return rangeSplits.isEmpty() ? HashPartitioner.of(HASH_PARTITIONS) : RangePartitioner.of(rangeSplits.toArray(String[]::new));
  }

  /** Every node this run started, members or not (their logs, for a check that reads them). */
  synchronized List<NodeProcess> everyNode() {
    return new ArrayList<>(everyNode.values());
  }

  /** The leader the depose nemesis has isolated now, or null. */
  Deposed deposed() {
    return deposed;
  }

  /** Publishes (node != 0) or withdraws (node == 0) the isolated leader of a depose fault. */
  void depose(long node, Set<Long> partitions) {
    deposed = node == 0 ? null : new Deposed(node, Set.copyOf(partitions), depositions.incrementAndGet());
  }

  // ---- status ----

  /** Each responsive member's own view; members that do not answer in time are left out. */
  Map<Long, ClusterStatus> statuses() {
    return statuses(new HashMap<>());
  }

  /** Like {@link #statuses()}, and records in {@code errors} why each member left out did not answer. */
  private Map<Long, ClusterStatus> statuses(Map<Long, String> errors) {
    Map<Long, ClusterStatus> out = new LinkedHashMap<>();
    for (long id : responsive()) {
      try {
        out.put(id, admin(id).status());
        errors.remove(id);
      } catch (RuntimeException e) {
        // not answering now: that is what faults do
        errors.put(id, e.toString());
      }
    }
    return out;
  }

  /**
   * The member that leads the most partitions by its own account, or 0 when none answers as
   * leader.
   */
  long leader() {
    return statuses().values().stream()
        .filter(s -> s.leaderCount() > 0)
        .max(Comparator.comparingLong(ClusterStatus::leaderCount))
        .map(ClusterStatus::nodeId).orElse(0L);
  }

  /** Partition ids and their leaders according to node {@code id}'s view (leader 0 = unknown). */
  Map<Long, Long> leaders(long id) {
    Map<Long, Long> out = new LinkedHashMap<>();
    for (PartitionStatus p : admin(id).status().partitions()) {
      out.put(p.partitionId(), p.leader());
    }
    return out;
  }

  /**
   * Waits until every responsive member knows a leader for every partition it hosts (a member
   * that was removed from the cluster and dropped its replicas counts as ready).
   *
   * @throws IllegalStateException if that does not happen in time, or at once when every member
   *     has exited; the message has the last views and, per member, its process state, why it
   *     last did not answer and the end of its log, so a run that never started says why
   */
  void awaitReady(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<Long, String> errors = new HashMap<>();
    String last = "no member answered";
    while (System.nanoTime() < deadline) {
      Map<Long, ClusterStatus> views = statuses(errors);
      List<Long> responsive = responsive();
      boolean ready = !views.isEmpty() && views.keySet().containsAll(responsive);
      for (ClusterStatus s : views.values()) {
        // A node removed from the cluster (the membership nemesis) keeps running, hosts nothing,
        // and no longer lists itself as a member: it is ready as it is. A node that lists itself
        // and hosts nothing has not loaded or been given its partitions yet.
        boolean removed = s.partitions().isEmpty() && !s.members().containsKey(s.nodeId());
        ready &= removed || (!s.partitions().isEmpty() && s.partitions().stream().allMatch(p -> p.leader() != 0));
      }
      if (ready) {
        return;
      }
      last = views.toString();
      if (memberIds().stream().noneMatch(id -> node(id).isAlive())) {
        throw new IllegalStateException("cluster not ready: every member exited; " + diagnosis(last, errors));
      }
      sleep(250);
    }
    throw new IllegalStateException("cluster not ready after " + timeout.toSeconds() + " s; " + diagnosis(last, errors));
  }

  /** Each member's status as it answers now, why the others do not, and the end of each log. */
  String describeMembers() {
    Map<Long, String> errors = new HashMap<>();
    return diagnosis(statuses(errors).toString(), errors);
  }

  private String diagnosis(String lastViews, Map<Long, String> errors) {
    StringBuilder b = new StringBuilder("last views: ").append(lastViews);
    for (long id : memberIds()) {
      NodeProcess n = node(id);
      b.append("\n    ").append(n).append(", last status error: ").append(errors.getOrDefault(id, "none"))
          .append(", end of ").append(n.log().getFileName()).append(':');
      for (String line : n.logTail(LOG_TAIL_LINES)) {
        b.append("\n      | ").append(line);
      }
    }
    return b.toString();
  }

  // ---- process faults ----

  synchronized void kill(long id) {
    everyNode.get(id).kill();
  }

  /**
   * Cuts the power of member {@code id}: it loses every write it has not synced and stops (see
   * {@link PowerLoss}); {@link #restart} brings it back on what is left.
   *
   * @return what happened, for the history
   */
  synchronized String cutPower(long id) {
    if (!powerCuts) {
      throw new IllegalStateException("this cluster's nodes run without the power-cut library");
    }
    return everyNode.get(id).cutPower();
  }

  /**
   * Changes the value of {@code key} in the replica of member {@code id} that holds it, offline,
   * behind Raft's back ({@link OfflineReplicas#rewrite}); the node must be down. Says so in its log.
   */
  OfflineReplicas.Rewrite rewriteOffline(long id, String key, String value) {
    NodeProcess node;
    synchronized (this) {
      node = everyNode.get(id);
      if (node.isAlive()) {
        throw new IllegalStateException("n" + id + " is running: its data can only be changed while it is down");
      }
    }
    OfflineReplicas.Rewrite w = OfflineReplicas.rewrite(node.dataDir(), clusterId, id, partitioner(), key, value);
    node.appendToLog("==== jepsen: while n" + id + " was down, the diverge nemesis changed \"" + key + "\" in its replica of "
        + "partition " + w.partition() + " from \"" + w.before() + "\" to \"" + w.after() + "\" behind Raft's back "
        + "(applied index " + w.appliedIndex() + " left as it was)");
    return w;
  }

  /** Starts a member that is down, with a normal clock; reapplies the current partition to it. */
  String restart(long id) {
    return restart(id, null, Map.of());
  }

  /**
   * (Re)starts member {@code id} (killing it first if running), under libfaketime when
   * {@code faketime} is not null, and reapplies the current network partition to it once it
   * answers (fault rules live in the process, so a restart forgets them).
   *
   * @return how long the new incarnation took to answer, or that it did not, for the history
   */
  String restart(long id, String faketime, Map<String, String> env) {
    NodeProcess node;
    synchronized (this) {
      node = everyNode.get(id);
      node.kill();
      launch(node, false, faketime == null ? null : new Launch(faketime, env));
    }
    String answered = awaitAnswer(node, RESTART_TIMEOUT);
    reapplyGrudge(id);
    return answered;
  }

  /** Waits until {@code node} answers a status request; says how long that took, or that it did not. */
  private String awaitAnswer(NodeProcess node, Duration timeout) {
    long t0 = System.nanoTime();
    long deadline = t0 + timeout.toNanos();
    while (System.nanoTime() < deadline && node.isAlive()) {
      try {
        admin(node.id()).status();
        return "answering after " + (System.nanoTime() - t0) / 1_000_000 + " ms";
      } catch (RuntimeException e) {
        sleep(200);
      }
    }
    return node.isAlive() ? "NOT answering after " + timeout.toSeconds() + " s" : "EXITED (see its log)";
  }

  synchronized void pause(long id) {
    everyNode.get(id).pause();
  }

  synchronized void resume(long id) {
    everyNode.get(id).resume();
  }

  // ---- network faults ----

  /**
   * Cuts the links of {@code g} (replacing the previous partition) on every member that
   * answers.
   *
   * @return members that could not be told (down or paused); they get the rules when restarted
   */
  List<Long> partition(Grudge g) {
    synchronized (this) {
      grudge = g;
    }
    List<Long> missed = new ArrayList<>();
    for (long id : memberIds()) {
      if (!injectAll(id, true)) {
        missed.add(id);
      }
    }
    return missed;
  }

  /** Removes every network fault on every member; returns members that could not be told. */
  List<Long> healNetwork() {
    synchronized (this) {
      grudge = null;
    }
    List<Long> missed = new ArrayList<>();
    for (long id : memberIds()) {
      if (node(id).isAlive() && !tryInject(id, new Fault.Heal())) {
        missed.add(id);
      }
    }
    return missed;
  }

  private void reapplyGrudge(long id) {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (System.nanoTime() < deadline && node(id).isAlive()) {
      Grudge g;
      synchronized (this) {
        g = grudge;
      }
      if (g == null || injectAll(id, false)) {
        return;
      }
      sleep(200);
    }
  }

  /** Heals node {@code id}'s rules (if {@code healFirst}) and tells it every cut that concerns it. */
  private boolean injectAll(long id, boolean healFirst) {
    Grudge g;
    synchronized (this) {
      g = grudge;
    }
    if (!node(id).isAlive() || node(id).isPaused()) {
      return false;
    }
    if (healFirst && !tryInject(id, new Fault.Heal())) {
      return false;
    }
    if (g == null) {
      return true;
    }
    for (Grudge.Link link : g.cutsOf(id)) {
      if (!tryInject(id, new Fault.BlockOneWay(link.from(), link.to()))) {
        return false;
      }
    }
    return true;
  }

  private boolean tryInject(long id, Fault fault) {
    try {
      admin(id).injectFault(id, fault);
      return true;
    } catch (RuntimeException e) {
      return false;
    }
  }

  // ---- membership changes ----

  /** How long a failed add waits for a partition to list the new node before it stops the node. */
  private static final Duration ADD_SETTLE = Duration.ofSeconds(5);

  /**
   * Starts a fresh node with a new id and, once it answers, asks the cluster (through a member
   * that answers) to add it as a voter. The add is one membership change per partition, and a
   * call that failed with an unknown outcome may have made some of them (or make them after it
   * gave up): if within {@link #ADD_SETTLE} a partition lists the node, it stays, as a member.
   * Otherwise the new process is stopped again. (It used to be stopped whenever the call failed:
   * combined-5-1 of session 23's sweep ended with n6 a voter of partition 1 and not running,
   * which the replica hash check could only report as a hash that did not come in time.)
   *
   * @return the new node, and what became of a call that failed
   * @throws RuntimeException from {@code addNode} when no partition took the node
   */
  String addNode() {
    NodeProcess node;
    synchronized (this) {
      node = newNode(nextId++);
      launch(node, true, null);
    }
    // like an operator: add the node once it is up and answering
    if (!awaitAnswer(node, RESTART_TIMEOUT).startsWith("answering")) {
      node.kill();
      synchronized (this) {
        departed.put(node.id(), "stopped by the harness: it did not answer after it started");
      }
      throw new IllegalStateException("the new node n" + node.id() + " did not answer within " + RESTART_TIMEOUT.toSeconds() + " s");
    }
    // One attempt: the request is routed to the leaders by whichever member receives it.
    String note = "";
    List<Long> via = responsive();
    via.remove(Long.valueOf(node.id()));
    try {
      if (via.isEmpty()) {
        throw new IllegalStateException("no member answers");
      }
      membershipAdmin(via.get(0)).addNode(node.id(), node.address());
    } catch (RuntimeException e) {
      Set<Long> listing = awaitListed(node.id(), ADD_SETTLE);
      if (listing.isEmpty()) {
        node.kill();
        synchronized (this) {
          departed.put(node.id(), "stopped by the harness after its add failed (" + e + ")");
        }
        throw e;
      }
      note = " (the call failed: " + e + "; partition(s) " + listing + " list it as a member: kept running)";
    }
    synchronized (this) {
      members.put(node.id(), node);
    }
    reapplyGrudge(node.id());
    return "n" + node.id() + note;
  }

  /**
   * Waits (at most {@code timeout}) until some other member lists {@code id} as a voter or learner of a
   * partition.
   *
   * @return those partitions, in that member's view; empty if none did in time
   */
  private Set<Long> awaitListed(long id, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      for (Map.Entry<Long, ClusterStatus> view : statuses().entrySet()) {
        Set<Long> listing = new TreeSet<>();
        for (PartitionStatus p : view.getValue().partitions()) {
          if (view.getKey() != id && (p.voters().contains(id) || p.learners().contains(id))) {
            listing.add(p.partitionId());
          }
        }
        if (!listing.isEmpty()) {
          return listing;
        }
      }
      if (System.nanoTime() - deadline >= 0) {
        return Set.of();
      }
      sleep(250);
    }
  }

  /**
   * What the harness knows of node {@code id}: its process (running, paused, down and how) and
   * whether it is a member, for a check that could not hear from it.
   */
  synchronized String describeNode(long id) {
    NodeProcess n = everyNode.get(id);
    if (n == null) {
      return "n" + id + " was not started by this run";
    }
    return n + (members.containsKey(id) ? ", a member" : ", not a member: " + departed.getOrDefault(id, "unknown why"));
  }

  /**
   * Asks the cluster to remove member {@code id}; once it is out, stops its process.
   *
   * @throws RuntimeException from {@code removeNode} when no member accepted the change
   */
  void removeNode(long id) {
    List<Long> via = responsive();
    via.remove(Long.valueOf(id));
    if (via.isEmpty()) {
      throw new IllegalStateException("no other member answers");
    }
    try {
      membershipAdmin(via.get(0)).removeNode(id); // one attempt, as for addNode
    } catch (RuntimeException e) {
      // The outcome may be unknown: the change may still commit. Ask the cluster.
      if (!outOfEveryGroup(id)) {
        throw e;
      }
    }
    synchronized (this) {
      members.remove(id);
      departed.put(id, "removed by the membership nemesis");
      everyNode.get(id).kill();
    }
  }

  /**
   * Whether some other member that knows a leader for each of its partitions lists {@code id} in
   * none of them (the view of a member that lags may be old, so one up-to-date view decides).
   */
  private boolean outOfEveryGroup(long id) {
    for (Map.Entry<Long, ClusterStatus> view : statuses().entrySet()) {
      List<PartitionStatus> parts = view.getValue().partitions();
      if (view.getKey() != id && !parts.isEmpty() && parts.stream().allMatch(p -> p.leader() != 0)
          && parts.stream().noneMatch(p -> p.voters().contains(id) || p.learners().contains(id))) {
        return true;
      }
    }
    return false;
  }

  // ---- healing and shutdown ----

  /**
   * Undoes every fault: resumes paused members, restarts dead or clock-skewed ones with a normal
   * clock, and heals the network on every member.
   *
   * @return what was done, for the history
   */
  String healAll() {
    List<String> done = new ArrayList<>();
    for (long id : memberIds()) {
      NodeProcess n = node(id);
      if (n.isPaused()) {
        resume(id);
        done.add("resumed n" + id);
      }
      if (!n.isAlive() || n.faketime() != null) {
        done.add((n.isAlive() ? "restarted with a normal clock n" : "restarted n") + id);
        synchronized (this) {
          n.kill();
          launch(n, false, null);
        }
      }
    }
    synchronized (this) {
      grudge = null;
    }
    deposed = null;
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    List<Long> missed = healNetwork();
    while (!missed.isEmpty() && System.nanoTime() < deadline) {
      sleep(250);
      missed = healNetwork();
    }
    done.add(missed.isEmpty() ? "healed the network" : "could not heal the network of " + missed);
    return String.join(", ", done);
  }

  /** SIGKILLs every node process this cluster started and deletes the data directories. */
  @Override
  public void close() {
    List<NodeProcess> nodes;
    synchronized (this) {
      for (KvClient c : clients) {
        c.close();
      }
      for (KvClient c : adminClients.values()) {
        c.close();
      }
      for (KvClient c : membershipClients.values()) {
        c.close();
      }
      for (KvClient c : hashClients.values()) {
        c.close();
      }
      nodes = new ArrayList<>(everyNode.values());
    }
    RuntimeException failure = null;
    for (NodeProcess n : nodes) {
      try {
        n.kill();
      } catch (RuntimeException e) {
        failure = e;
      }
    }
    deleteTree(workDir);
    if (failure != null) {
      throw failure;
    }
  }

  // ---- launching ----

  private record Launch(String faketime, Map<String, String> env) {}

  private void launch(NodeProcess node, boolean join, Launch clock) {
    List<String> cmd = new ArrayList<>(List.of(javaBinary(),
        "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
        // On its first OutOfMemoryError a node prints a thread dump and a class histogram of its
        // heap into its log (SIGQUIT with PrintClassHistogram): what filled the heap, not only
        // where the last allocation failed. The suite sends no SIGQUIT otherwise.
        "-XX:+PrintClassHistogram", "-XX:OnOutOfMemoryError=kill -3 %p; sleep 2",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        "-cp", classpath(), NODE_MAIN));
    cmd.addAll(nodeArgs(node, join));
    Map<String, String> env = new HashMap<>(clock == null ? Map.of() : clock.env());
    if (powerCuts) {
      try {
        // what survives is drawn at each cut; the seed is in the node's log
        PowerLoss.environment(node.dataDir(), PowerLoss.Mode.RANDOM, System.nanoTime() ^ node.id())
            .forEach((k, v) -> env.merge(k, v, (a, b) -> a + ":" + b)); // LD_PRELOAD lists both
      } catch (IOException e) {
        throw new UncheckedIOException("cannot build the power-cut library", e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    node.start(cmd, env, clock == null ? null : clock.faketime());
  }

  /** The command-line flags of ExampleNode for {@code node}. */
  private List<String> nodeArgs(NodeProcess node, boolean join) {
    StringBuilder peers = new StringBuilder();
    for (NodeProcess p : members.values()) {
      if (p.id() != node.id()) {
        peers.append(peers.length() == 0 ? "" : ",").append(p.id()).append('=').append(p.address());
      }
    }
    List<String> args = new ArrayList<>(List.of(
        "--id", Long.toString(node.id()),
        "--listen", node.address(),
        "--peers", peers.toString(),
        "--data-dir", node.dataDir().toString(),
        "--cluster-id", clusterId,
        "--metrics-port", "-1",
        // the node stops itself when the test JVM is gone, so a killed Maven run leaves none behind
        "--parent-pid", Long.toString(ProcessHandle.current().pid())));
    if (join) {
      args.add("--join");
    }
    if (!rangeSplits.isEmpty()) {
      args.addAll(List.of("--range-splits", String.join(",", rangeSplits)));
    }
    return args;
  }

  private static String javaBinary() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** The test classpath: Surefire's real one (its own JVM may run from a manifest-only jar). */
  private static String classpath() {
    return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root, e);
    }
  }
}
