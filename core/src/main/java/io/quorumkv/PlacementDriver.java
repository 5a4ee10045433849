package io.quorumkv;

import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where replicas live, decided by the cluster itself (no separate placement service).
 *
 * <p>Every node keeps a <b>directory</b> of the partitions it does not host, polled from its peers
 * once per election timeout ({@link KvRequest.Directory}): their spans route requests to nodes that
 * host the keys, and their memberships tell a replica that it was removed while it could not hear
 * about it. With a replication factor, the leader of partition 1 (which keeps the placement
 * registry) also <b>drives</b> replica moves. A move is a sequence of single membership changes,
 * each decided afresh from the partition's committed configuration as its leader reports it, never
 * from intent kept in memory:
 *
 * <ol>
 *   <li>a learner on a node that is not alive or is decommissioning is removed (rollback);</li>
 *   <li>a learner is promoted to voter once caught up (the leader waits for its match index);</li>
 *   <li>with more voters than the factor, one is removed: a decommissioning one, else one that is
 *       down, else the most loaded; the leader refuses it if fewer than the factor would remain;</li>
 *   <li>with fewer voters than the factor, a learner is added on the least loaded node;</li>
 *   <li>otherwise, a move starts (a learner is added) when a voter is on a decommissioning node, or
 *       when the busiest voter's node holds two replicas more than the least loaded node.</li>
 * </ol>
 *
 * A crash of any node at any step leaves a configuration from which the next round, on whichever
 * node then leads partition 1, goes on or rolls back. At most one partition is in motion at a time,
 * cluster-wide, and each partition has at most one change in flight.
 *
 * <p>Threads: {@link #onTick} and the completions it posts run on the Raft loop; the directory is
 * published (volatile) for request threads.
 */
final class PlacementDriver {

  /** Placement's own registry and the driver live with this partition (it always exists). */
  static final long REGISTRY_PARTITION = 1;
  /** A node that answered none of this many poll rounds is taken for down. */
  static final int ALIVE_ROUNDS = 3;
  /** An empty replica no leader has contacted for this many election timeouts is dropped. */
  static final int ABANDONED_ELECTIONS = 10;
  /**
   * Poll rounds a merge still waits, once a quorum of the frozen partition's voters applied the
   * freeze, for the other members to report it ({@link #awaitFreezeApplied}).
   */
  static final int FREEZE_GRACE_ROUNDS = 2;

  private final NodeRuntime node;
  private final long nodeId;
  private final KvNodeConfig config;
  private final NodeMetrics metrics;
  private final String who;
  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final long pollTicks;

  /** Every peer's last report, by node; replaced at each poll round. */
  private volatile Map<Long, KvResponse.DirectoryReport> reports = Map.of();
  /** Nodes that answered one of the last {@link #ALIVE_ROUNDS} poll rounds, and this one. */
  private volatile Set<Long> alive = Set.of();
  /** loop: the last round each node answered in. */
  private final Map<Long, Long> lastAnswered = new HashMap<>();
  /** loop: partitions with a membership change of this driver in flight. */
  private final Set<Long> inFlight = new HashSet<>();
  /** Leaders learned from NOT_LEADER hints since the last poll. */
  private final Map<Long, Long> leaderHints = new ConcurrentHashMap<>();
  /** loop */
  private boolean polling;
  /** loop: poll rounds completed. */
  private long rounds;
  /**
   * loop: each peer's last full report and the poll it answered: what a {@link KvResponse.DirectoryUnchanged}
   * answer stands for.
   */
  private final Map<Long, HeldReport> held = new HashMap<>();
  /**
   * The full report this node last sent each peer, for that peer's poll numbered {@code round}:
   * what a poll that holds that round is answered "unchanged" against. Any request thread.
   */
  private final Map<Long, SentReport> sent = new ConcurrentHashMap<>();

  private record HeldReport(long round, KvResponse.DirectoryReport report) {}

  /** {@code asked}: System.nanoTime() of the peer's latest poll; an asker silent for long is forgotten. */
  private record SentReport(long round, byte[] encoded, long asked) {}

  /**
   * A peer that has not polled for this many election timeouts (it polls every one) is forgotten:
   * a node removed from the cluster, or a client-like asker, no longer pins a copy of the report
   * (at 1,000 partitions, tens of KB each). Should it poll again, it gets the full report.
   */
  static final int FORGET_SILENT_ASKER_TIMEOUTS = 10;
  /** Frozen partitions whose merge this node is driving ({@link #mergeInto}); any thread. */
  private final Set<Long> merging = ConcurrentHashMap.newKeySet();
  /**
   * Absorbed partition to the partition that absorbed it, as of the last poll round (local
   * replicas' applied state and the peers' answers); for request threads.
   */
  private volatile Map<Long, Long> absorbed = Map.of();
  /** loop: the preferred leaders each peer last reported, by node. */
  private Map<Long, Set<Long>> peerPreferredLeaders = Map.of();
  /** The peers among those whose set differs from this node's. */
  private volatile Map<Long, Set<Long>> preferredLeadersMismatch = Map.of();
  /** A poll round has compared the preferred leaders. */
  private volatile boolean preferredLeadersCompared;
  /** loop: conditions checked after every poll round (decommissions waiting to complete). */
  private final List<java.util.function.BooleanSupplier> afterRound = new ArrayList<>();

  PlacementDriver(NodeRuntime node, KvNodeConfig config, NodeMetrics metrics) {
    this.node = node;
    this.metrics = metrics;
    this.nodeId = config.nodeId();
    this.config = config;
    this.who = "node " + nodeId;
    this.pollTicks = Math.max(5, config.electionTicks());
  }

  // ------------------------------------------------------------------ directory

  /** loop: polls the peers every election timeout; drives moves with the answers. */
  void onTick(long ticks) {
    if (ticks % pollTicks != 0 || polling) {
      return;
    }
    destroyRemovedReplicas(Map.of());
    Set<Long> peers = new TreeSet<>(node.memberIds());
    for (Replica r : node.replicas().values()) {
      ConfState cs = r.confState;
      peers.addAll(cs.voters());
      peers.addAll(cs.votersOutgoing());
      peers.addAll(cs.learners());
      peers.addAll(cs.learnersNext());
    }
    peers.remove(nodeId);
    polling = true;
    held.keySet().retainAll(peers);
    long silentSince = System.nanoTime() - FORGET_SILENT_ASKER_TIMEOUTS * config.electionTimeout().toNanos();
    sent.values().removeIf(s -> s.asked() - silentSince < 0);
    long round = rounds + 1; // unique and rising: one poll at a time, and rounds counts the completed ones
    Map<Long, KvResponse.DirectoryReport> answers = new ConcurrentHashMap<>();
    Map<Long, HeldReport> fresh = new ConcurrentHashMap<>();
    List<CompletableFuture<?>> calls = new ArrayList<>();
    Duration timeout = config.electionTimeout();
    for (long peer : peers) {
      HeldReport h = held.get(peer);
      byte[] request = Codec.encodeRequest(new KvRequest.Directory(round, h == null ? 0 : h.round()));
      // Bounded here too: a request lost by a faulty network may never complete on its own.
      calls.add(node.request(peer, request, timeout).orTimeout(timeout.toMillis() * 2, TimeUnit.MILLISECONDS)
          .handle((bytes, e) -> {
            if (e == null) {
              try {
                KvResponse answer = Codec.decodeResponse(bytes);
                if (answer instanceof KvResponse.DirectoryReport d) {
                  answers.put(peer, d);
                  fresh.put(peer, new HeldReport(round, d));
                } else if (answer instanceof KvResponse.DirectoryUnchanged && h != null) {
                  answers.put(peer, h.report());
                }
              } catch (IllegalArgumentException bad) {
                log.warn("{}: bad directory answer from node {}: {}", who, peer, bad.getMessage());
              }
            }
            return null;
          }));
    }
    CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> node.post(() -> {
      polling = false;
      held.putAll(fresh);
      onReports(Map.copyOf(answers));
    }));
  }

  /**
   * The encoded answer to a peer's directory poll: {@link KvResponse.DirectoryUnchanged} when this
   * node's report is, byte for byte, the one it sent for the poll the peer says it holds, else the
   * full report (remembered against the poll's round). A request from a client, or without a round,
   * gets the full report. Any request thread.
   */
  byte[] answerDirectory(long from, KvRequest.Directory poll) {
    byte[] full = Codec.encodeResponse(report());
    if (poll.round() == 0 || from == io.quorumkv.transport.RequestHandler.EXTERNAL_CLIENT) {
      return full;
    }
    boolean[] unchanged = new boolean[1];
    long now = System.nanoTime();
    sent.compute(from, (peer, last) -> {
      if (last != null && poll.heldRound() == last.round() && Arrays.equals(last.encoded(), full)) {
        unchanged[0] = true;
        return new SentReport(last.round(), last.encoded(), now); // it goes on holding that round's report
      }
      return new SentReport(poll.round(), full, now);
    });
    if (unchanged[0]) {
      metrics.directoryAnswersUnchanged.increment();
      return UNCHANGED;
    }
    metrics.directoryAnswersFull.increment();
    return full;
  }

  /** Whether this node still keeps the report it last sent {@code peer} (tests). */
  boolean remembersReportSentTo(long peer) {
    return sent.containsKey(peer);
  }

  private static final byte[] UNCHANGED = Codec.encodeResponse(new KvResponse.DirectoryUnchanged());

  /** loop */
  private void onReports(Map<Long, KvResponse.DirectoryReport> answers) {
    reports = answers;
    rounds++;
    answers.keySet().forEach(id -> lastAnswered.put(id, rounds));
    Set<Long> up = new HashSet<>();
    lastAnswered.forEach((id, round) -> {
      if (rounds - round < ALIVE_ROUNDS) {
        up.add(id); // a slow answer or two (a loaded machine) is not a dead node
      }
    });
    up.add(nodeId);
    alive = Set.copyOf(up);
    leaderHints.clear();
    Map<Long, KeySpan> remote = new HashMap<>();
    Map<Long, Long> absorbedBy = absorbedBy(answers);
    for (KvResponse.DirectoryReport d : answers.values()) {
      d.addresses().forEach((id, address) -> {
        // Without placement every member is in every partition and its address comes with its
        // membership change: an answer to a poll sent before a removal applied here must not bring
        // the removed node back (AdminScenariosTest saw it on a busy machine).
        if (id != nodeId && node.memberAddress(id).isEmpty()
            && (config.replicationFactor() > 0 || node.isMemberAnywhere(id))) {
          node.learnAddress(id, address);
        }
      });
      for (KvResponse.ReplicaReport x : d.replicas()) {
        // An absorbed partition never serves again: a peer's answer sent before it learned the
        // merge must not route its keys there (a call pinned to it would retry until its deadline).
        if (x.span().length > 0 && !x.frozen() && !absorbedBy.containsKey(x.partitionId())) {
          remote.merge(x.partitionId(), PartitionStateMachine.decodeSpan(x.span()), (a, b) -> a);
        }
      }
    }
    absorbed = Map.copyOf(absorbedBy); // before the routes: whoever sees the new routes knows this too
    node.routing().replaceRemote(remote);
    comparePreferredLeaders(answers);
    destroyRemovedReplicas(answers);
    destroyMergedReplicas(absorbedBy);
    resumeMerges();
    afterRound.removeIf(java.util.function.BooleanSupplier::getAsBoolean);
    Replica registry = node.replicas().get(REGISTRY_PARTITION);
    if (rounds >= 2 && registry != null && registry.isLeader()) {
      if (config.replicationFactor() > 0) {
        drive(registry);
      }
      if (config.mergeBelowKeys() > 0 && inFlight.isEmpty()) {
        driveMerges();
      }
    }
  }

  /**
   * loop: records the preferred leaders each peer answered with, and logs (once per peer and set)
   * a peer whose set differs from this node's. A peer's set counts until it answers with another
   * or stops being a member: a peer that is merely slow to answer still balances by its own set.
   */
  private void comparePreferredLeaders(Map<Long, KvResponse.DirectoryReport> answers) {
    Set<Long> mine = config.preferredLeaders();
    Map<Long, Set<Long>> known = new TreeMap<>(peerPreferredLeaders);
    known.keySet().retainAll(node.memberIds());
    answers.forEach((peer, d) -> d.preferredLeaders().ifPresent(set -> known.put(peer, set)));
    Map<Long, Set<Long>> mismatch = new TreeMap<>();
    known.forEach((peer, set) -> {
      if (!set.equals(mine)) {
        mismatch.put(peer, set);
        if (!set.equals(preferredLeadersMismatch.get(peer))) {
          log.error("{}: node {} has preferred leaders {} but this node has {}: every node must be given the same "
              + "set; until they agree this node ignores its preference and balances leaderships over every voter",
              who, peer, new TreeSet<>(set), new TreeSet<>(mine));
        }
      }
    });
    if (mismatch.isEmpty() && !preferredLeadersMismatch.isEmpty()) {
      log.info("{}: every peer now has the preferred leaders {} of this node; acting on them again", who,
          new TreeSet<>(mine));
    }
    peerPreferredLeaders = Map.copyOf(known);
    preferredLeadersMismatch = Map.copyOf(mismatch);
    preferredLeadersCompared = true;
  }

  /**
   * The preferred leaders to balance leaderships by: this node's ({@link KvNodeConfig#preferredLeaders})
   * once a poll round found no peer with another set, else none (every voter). Acting on sets that
   * differ would hand leaderships back and forth between nodes that each prefer the other.
   */
  Set<Long> preferredLeadersInForce() {
    return preferredLeadersCompared && preferredLeadersMismatch.isEmpty() ? config.preferredLeaders() : Set.of();
  }

  /** The peers whose preferred leaders differ from this node's: peer id to its set (any thread). */
  Map<Long, Set<Long>> preferredLeadersMismatch() {
    return preferredLeadersMismatch;
  }

  /** This node's replicas, for a peer's directory. */
  KvResponse.DirectoryReport report() {
    List<KvResponse.ReplicaReport> out = new ArrayList<>();
    boolean countsKeys = config.mergeBelowKeys() > 0; // only merges need them: a scan per replica
    for (Replica r : new TreeMap<>(node.replicas()).values()) {
      // Applied index first: the membership read after it is as of that index or later.
      long applied = r.appliedIndex;
      ConfState cs = r.confState;
      PartitionStateMachine sm = r.sm;
      KeySpan span = sm.span();
      // Outside a joint configuration (nearly always) the sets are taken as they are, uncopied.
      Set<Long> voters = cs.votersOutgoing().isEmpty() ? cs.voters() : union(cs.voters(), cs.votersOutgoing());
      Set<Long> learners = cs.learnersNext().isEmpty() ? cs.learners() : union(cs.learners(), cs.learnersNext());
      out.add(new KvResponse.ReplicaReport(r.groupId, span == null ? new byte[0] : PartitionStateMachine.encodeSpan(span),
          r.leader, r.term, applied, countsKeys && span != null ? sm.countKeys(config.mergeBelowKeys()) : 0,
          sm.frozenInto() != 0, voters, learners, span instanceof KeySpan.Range ? sm.absorbed() : Set.of()));
    }
    Map<Long, String> addresses = new TreeMap<>();
    for (long id : node.memberIds()) {
      String a = node.memberAddress(id);
      if (!a.isEmpty()) {
        addresses.put(id, a);
      }
    }
    Set<Long> fenced = new TreeSet<>();
    node.replicas().values().stream().filter(r -> r.divergedAt != 0).forEach(r -> fenced.add(r.groupId));
    return new KvResponse.DirectoryReport(nodeId, out, addresses, Optional.of(config.preferredLeaders()), fenced);
  }

  /**
   * The node to send a request for partition {@code p} to, when this node hosts no replica of it:
   * its leader as last reported (or hinted), else any voter; 0 when unknown.
   */
  long leaderOf(long p) {
    Long hinted = leaderHints.get(p);
    return hinted != null ? hinted : leaderOfReported(p);
  }

  /**
   * The leader of partition {@code p} with the highest term in the peers' last reports, else a node
   * that reported itself a voter of it; 0 when no report names one.
   */
  long leaderOfReported(long p) {
    long anyVoter = 0;
    long bestTerm = -1;
    long leader = 0;
    for (KvResponse.DirectoryReport d : reports.values()) {
      Optional<KvResponse.ReplicaReport> found = d.replica(p);
      if (found.isEmpty()) {
        continue;
      }
      KvResponse.ReplicaReport x = found.get();
      if (x.leader() != 0 && x.term() > bestTerm) {
        bestTerm = x.term();
        leader = x.leader();
      }
      if (anyVoter == 0 && x.voters().contains(d.nodeId())) {
        anyVoter = d.nodeId();
      }
    }
    return leader != 0 ? leader : anyVoter;
  }

  /** Records a leader named by a NOT_LEADER answer, until the next poll. */
  void hintLeader(long p, long leader) {
    if (leader != 0) {
      leaderHints.put(p, leader);
    }
  }

  /**
   * Whether node {@code id} is known to hold no replica, from the last poll round: it reported none
   * itself (it deletes a replica only once it has applied, or seen committed, its removal) and no
   * report or local replica lists it; or, if it did not answer (it may be down), every partition
   * known has a report from its leader and none lists it.
   */
  boolean isDrained(long id) {
    if (hostsAnything(id)) {
      return false;
    }
    Map<Long, KvResponse.DirectoryReport> last = reports;
    if (id == nodeId || last.containsKey(id)) {
      return true;
    }
    Set<Long> partitions = new TreeSet<>(node.replicas().keySet());
    last.values().forEach(d -> d.replicas().forEach(x -> partitions.add(x.partitionId())));
    Map<Long, View> views = views();
    return partitions.stream().allMatch(views::containsKey);
  }

  /** Whether any replica of any partition, as far as this node knows, is on {@code id}. */
  boolean hostsAnything(long id) {
    for (Replica r : node.replicas().values()) {
      if (NodeRuntime.isMember(r.confState, id)) {
        return true;
      }
    }
    for (KvResponse.DirectoryReport d : reports.values()) {
      if (d.nodeId() == id && d.replicas().stream().anyMatch(x -> !x.voters().isEmpty())) { // empty ones hold nothing
        return true;
      }
      for (KvResponse.ReplicaReport x : d.replicas()) {
        if (x.voters().contains(id) || x.learners().contains(id)) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * Whether node {@code id} answered the last poll round without a replica of partition {@code g}
   * that holds a membership: its replica was destroyed (or never made). False without an answer.
   * A repair adds a node back only then ({@link ReplicaRepair}): the old replica would carry on.
   */
  boolean reportsNoReplica(long id, long g) {
    KvResponse.DirectoryReport d = reports.get(id);
    return d != null && d.replica(g).map(x -> x.voters().isEmpty() && x.learners().isEmpty()).orElse(true);
  }

  /**
   * With a replication factor, the node to move a diverged replica of {@code r}'s partition to
   * ({@link ReplicaRepair}): up by the last poll rounds, not a member of the partition, holding no
   * replica of it, not decommissioning (as far as this node knows the registry), the least loaded;
   * empty without a factor (every node hosts every partition) or without such a node.
   */
  OptionalLong repairTarget(Replica r) {
    if (config.replicationFactor() <= 0) {
      return OptionalLong.empty();
    }
    Replica registry = node.replicas().get(REGISTRY_PARTITION);
    Map<Long, PartitionStateMachine.RegisteredNode> registered =
        registry != null ? registry.sm.registeredNodes() : Map.of();
    Map<Long, Integer> load = replicasPerNode(views().values());
    return alive.stream()
        .filter(id -> !NodeRuntime.isMember(r.confState, id) && !node.memberAddress(id).isEmpty()
            && reportsNoReplica(id, r.groupId)
            && !(registered.containsKey(id) && registered.get(id).decommissioning()))
        .min(Comparator.<Long>comparingInt(id -> load.getOrDefault(id, 0)).thenComparing(id -> id))
        .map(OptionalLong::of).orElse(OptionalLong.empty());
  }

  /** Completed poll rounds (tests wait for fresh ones). */
  long rounds() {
    return rounds;
  }

  // ------------------------------------------------------------------ admin

  /** Records a node as active in the registry: the driver then moves replicas onto it. */
  CompletableFuture<KvResponse> register(long id, String address, long deadline) {
    return node.commands().groupCallRetrying(REGISTRY_PARTITION,
        new KvRequest.GroupCommand.SetNodeState(id, address, false), deadline);
  }

  /** Records the node as decommissioning, then waits until it holds no replica. */
  CompletableFuture<KvResponse> decommission(long id, long deadline) {
    if (config.replicationFactor() <= 0) {
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
          "decommission needs a replication factor; this cluster hosts every partition on every node (use removeNode)"));
    }
    if (!hostsAnything(id) && node.memberAddress(id).isEmpty()) {
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
          "node " + id + " is not a member"));
    }
    return node.commands().groupCallRetrying(REGISTRY_PARTITION,
        new KvRequest.GroupCommand.SetNodeState(id, node.memberAddress(id), true), deadline).thenCompose(r -> {
          if (r instanceof KvResponse.Failure) {
            return CompletableFuture.completedFuture(r);
          }
          CompletableFuture<KvResponse> f = new CompletableFuture<>();
          boolean posted = node.post(() -> {
            long since = rounds;
            afterRound.add(() -> {
              if (rounds > since + 1 && isDrained(id)) {
                return f.complete(new KvResponse.AdminDone(0)) || true;
              }
              if (System.nanoTime() - deadline >= 0) {
                return f.complete(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "node " + id
                    + " still holds replicas; they are being moved off it", 0, 0, "", true)) || true;
              }
              return false;
            });
          });
          if (!posted) {
            // The registry entry is written: the decommission took effect and its moves go on
            // without this node, so the failure must not say "certainly not done".
            f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " recorded node " + id
                + " as decommissioning but is closing, so it cannot wait for the moves off it")
                .withOutcomeUnknown());
          }
          return f;
        });
  }

  // ------------------------------------------------------------------ removed replicas

  /**
   * loop: drops the replicas this node no longer belongs to. A replica whose membership lacks this
   * node (it applied its own removal) goes once it has handed any leadership over, its leader
   * has been silent for an election timeout, and every voter of that membership reported it
   * applied the removal too ({@link #votersAppliedRemoval}). A leader that still replicates to it
   * counts it as a member: that leader has not applied the removal yet (its disk is slow), or the node was added
   * back and the replica installed a snapshot taken while it was out, with the entry adding it
   * back to follow. Destroying it then would make its successor start empty while that leader
   * keeps its record of what the old replica acknowledged, and sends it a commit index past its
   * log (which the Raft core refuses: see docs/testing.md, "Limits"). A replica that never heard of its
   * removal (it was cut off, and the others ignore it from then on) learns it from a peer's report:
   * the peer's committed membership, as of an applied index at or past everything this replica's
   * log holds, does not include this node. Destroying keeps a tombstone (term, vote, last index), so
   * a replica created again later for the same partition never votes with a log that forgot what
   * this one acknowledged (see {@link NodeRuntime#destroyReplica}).
   */
  private void destroyRemovedReplicas(Map<Long, KvResponse.DirectoryReport> answers) {
    for (Replica r : List.copyOf(node.replicas().values())) {
      if (r.isLeader() || r.installing) {
        continue;
      }
      ConfState cs = r.confState;
      long silentNanos = System.nanoTime() - r.lastLeaderContactNanos;
      if (!isEmpty(cs) && !NodeRuntime.isMember(cs, nodeId) && silentNanos > config.electionTimeout().toNanos()
          && votersAppliedRemoval(nodeId, r.groupId, cs, answers)) {
        node.destroyReplica(r, "applied its own removal");
        continue;
      }
      if (isEmpty(cs) && r.appliedIndex == 0 && silentNanos > config.electionTimeout().toNanos() * ABANDONED_ELECTIONS) {
        // Created empty when a leader contacted this node, never filled, and that leader is silent
        // since: it was a stale leader (a replica moved away or merged meanwhile).
        node.destroyReplica(r, "empty, and no leader has contacted it for " + ABANDONED_ELECTIONS + " election timeouts");
        continue;
      }
      for (KvResponse.DirectoryReport d : answers.values()) {
        Optional<KvResponse.ReplicaReport> x = d.replica(r.groupId);
        if (x.isPresent() && !x.get().voters().isEmpty() && !lists(x.get(), nodeId)) {
          long lastIndex = r.raw.status().lastIndex(); // only here: a status copies the progress of every peer
          if (x.get().appliedIndex() >= lastIndex) {
            node.destroyReplica(r, "node " + d.nodeId() + " applied a membership without it at index "
                + x.get().appliedIndex() + " (this replica's log ends at " + lastIndex + ")");
            break;
          }
        }
      }
    }
  }

  /**
   * Whether every voter of {@code cs} (node {@code nodeId}'s membership without it) answered this
   * round with a membership without that node: it applied the removal too. Until then it may still
   * count that node as a voter and need its vote (it crashed before it learned the removal
   * committed), and only the removed node's replica, whose log may be longer than that voter's,
   * can bring it up to date (the Raft core's campaign of a removed member; SimRegressionTest). A
   * destroyed replica could not: the group would stay leaderless. A voter that is down keeps the
   * replica until it is back.
   */
  static boolean votersAppliedRemoval(long nodeId, long groupId, ConfState cs,
      Map<Long, KvResponse.DirectoryReport> answers) {
    for (long voter : union(cs.voters(), cs.votersOutgoing())) {
      KvResponse.DirectoryReport d = answers.get(voter);
      Optional<KvResponse.ReplicaReport> x = d == null ? Optional.empty() : d.replica(groupId);
      if (x.isEmpty() || lists(x.get(), nodeId)) {
        return false;
      }
    }
    return true;
  }


  /** Whether the reported membership has {@code nodeId}, as a voter or a learner. */
  private static boolean lists(KvResponse.ReplicaReport x, long nodeId) {
    return x.voters().contains(nodeId) || x.learners().contains(nodeId);
  }

  private static boolean isEmpty(ConfState cs) {
    return cs.voters().isEmpty() && cs.learners().isEmpty() && cs.votersOutgoing().isEmpty();
  }

  // ------------------------------------------------------------------ merges

  /**
   * Merges the range partition holding {@code key} into its left-hand neighbour: asks the right
   * one's leader to freeze it and have the left one absorb it ({@link #mergeInto}).
   *
   * @return {@link KvResponse.AdminDone} with the id of the partition that now holds the keys
   */
  CompletableFuture<KvResponse> merge(byte[] key, long deadline) {
    java.util.OptionalLong right = node.routing().route(key);
    Map<Long, KeySpan> spans = node.routing().snapshot();
    Map<Long, Long> retired = absorbed;
    if (right.isPresent() && retired.containsKey(right.getAsLong())) {
      right = java.util.OptionalLong.empty(); // a replica here not dropped yet: as good as gone
    }
    if (right.isPresent() && spans.get(right.getAsLong()) instanceof KeySpan.HashSlot) {
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
          "hash partitions cannot be merged"));
    }
    if (right.isEmpty() || !(spans.get(right.getAsLong()) instanceof KeySpan.Range range)) {
      // A gap in this node's table, not a wrong key: right after a merge dropped its replica of the
      // retired partition, a node that hosts none of the merged one knows it from its next poll.
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.NO_LEADER,
          "no partition is known here to hold the key yet"));
    }
    if (range.start().length == 0) {
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
          "partition " + right.getAsLong() + " " + range.describe() + " has no left-hand neighbour"));
    }
    long left = 0;
    for (Map.Entry<Long, KeySpan> e : spans.entrySet()) {
      // A peer's report may predate a merge that retired the partition it names (two spans then
      // end here); a hosted partition's span is as of this node's applied state.
      if (e.getValue() instanceof KeySpan.Range l && java.util.Arrays.equals(l.end(), range.start())
          && !retired.containsKey(e.getKey()) && (left == 0 || node.routing().isLocal(e.getKey()))) {
        left = e.getKey();
      }
    }
    if (left == 0) {
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.NO_LEADER,
          "the left-hand neighbour of " + range.describe() + " is not known here yet"));
    }
    long l = left;
    long rp = right.getAsLong();
    // Once a poll says the right partition was absorbed, its keys are merged: this call's merge or
    // an earlier one (routed by a poll answer older than that). Deciding again would merge the
    // absorber on into its own left neighbour: this is a retried call's answer.
    return node.commands().groupCallRetrying(rp, new KvRequest.GroupCommand.MergeInto(left), deadline,
        () -> absorbed.containsKey(rp) ? new KvResponse.AdminDone(absorberOf(rp)) : null)
        .thenApply(resp -> resp instanceof KvResponse.AdminDone d
            ? new KvResponse.AdminDone(d.value() != 0 ? d.value() : l) : resp);
  }

  /**
   * On the leader of the right-hand partition {@code r}: freezes it (an entry of its log: every
   * write ordered before is in the frozen state, every write after is refused, retryably), waits
   * until its members have applied the freeze (every one, or a quorum of voters after a grace:
   * {@link #awaitFreezeApplied}), then has {@code left}'s leader apply a merge entry carrying that
   * state. Retried calls are harmless:
   * a second freeze into the same partition yields the same state, and a merge already applied is a
   * no-op. If the left partition refuses (it is no longer the neighbour), the freeze is undone.
   * A call that fails otherwise leaves the partition frozen; its leader tries again
   * ({@link #resumeMerges}).
   */
  CompletableFuture<KvResponse> mergeInto(Replica r, long left, long deadline) {
    merging.add(r.groupId);
    CompletableFuture<KvResponse> done = freezeAndMerge(r, left, deadline);
    done.whenComplete((resp, e) -> merging.remove(r.groupId));
    return done;
  }

  /**
   * {@link #mergeInto}'s work. A left partition that was itself merged away meanwhile (absorbed)
   * never serves again: the call was decided from a view older than that merge (a stale poll
   * answer), and would retry it until its deadline, and every resumed merge after it too, the
   * right range staying frozen for good. Its absorber is the left-hand neighbour now, so the merge
   * goes there: a freeze into the retired partition is undone first, then made again into the
   * absorber. Undoing that freeze is safe: the retired partition's own freeze was committed before
   * it was absorbed, so every leader it could have since applies it first, and a frozen partition
   * refuses every merge entry (a lagging replica of it commits nothing), so the state
   * frozen for it can never be absorbed, unless it already was: a partition absorbed before its
   * absorber was merged on is recorded as absorbed by the last one too, and is never thawed.
   */
  private CompletableFuture<KvResponse> freezeAndMerge(Replica r, long left, long deadline) {
    long holder = absorberOf(r.groupId);
    if (holder != r.groupId) {
      return CompletableFuture.completedFuture(new KvResponse.AdminDone(holder)); // merged already
    }
    long into = absorberOf(left);
    long frozen = r.sm.frozenInto();
    CompletableFuture<PartitionStateMachine.Outcome> thawed = CompletableFuture.completedFuture(null);
    if (frozen != 0 && frozen != into && absorberOf(frozen) != frozen) {
      log.info("{} group {}: frozen for a merge into partition {}, since merged into partition {}; thawing to merge "
          + "into partition {}", who, r.groupId, frozen, absorberOf(frozen), into);
      thawed = node.propose(r, new Command.Freeze(0));
    }
    return thawed.thenCompose(t -> t instanceof PartitionStateMachine.Outcome.Rejected
        ? CompletableFuture.completedFuture(node.toResponse(r, t))
        : node.propose(r, new Command.Freeze(into)).thenCompose(o -> {
          if (!(o instanceof PartitionStateMachine.Outcome.Frozen f)) {
            return CompletableFuture.completedFuture(node.toResponse(r, o));
          }
          log.info("{} group {}: frozen for a merge into partition {} at index {}", who, r.groupId, into, f.index());
          return awaitFreezeApplied(r, f.index(), deadline).thenCompose(waited -> waited != null
              ? CompletableFuture.completedFuture(waited)
              : absorberOf(into) != into ? freezeAndMerge(r, into, deadline)
              : node.commands().groupCallRetrying(into, new KvRequest.GroupCommand.Absorb(r.groupId, f.seed()),
                  deadline, () -> absorberOf(into) != into ? RETIRED : null)
              .thenCompose(resp -> {
                if (resp instanceof KvResponse.Failure && absorberOf(into) != into) {
                  return freezeAndMerge(r, into, deadline); // merged away meanwhile: on to its absorber
                }
                if (resp instanceof KvResponse.Failure fl && fl.code() == KvResponse.Code.INVALID_ARGUMENT) {
                  log.info("{} group {}: merge into partition {} refused ({}); thawing", who, r.groupId, into,
                      fl.message());
                  return node.propose(r, new Command.Freeze(0)).thenApply(x -> (KvResponse) fl);
                }
                return CompletableFuture.completedFuture(resp);
              })).thenApply(PlacementDriver::mergeGoesOn);
        }));
  }

  /**
   * The answer of a merge call whose freeze applied: a failure then (leadership lost while waiting
   * for the members, the left partition unreachable, the deadline) does not undo the freeze, and
   * the partition's leader drives the merge on ({@link #resumeMerges}), so its outcome is unknown.
   * Only a refusal by the left partition ({@code INVALID_ARGUMENT}, after which the freeze is
   * undone) says the merge did not happen.
   */
  private static KvResponse mergeGoesOn(KvResponse resp) {
    return resp instanceof KvResponse.Failure fl && fl.code() != KvResponse.Code.INVALID_ARGUMENT
        ? fl.withOutcomeUnknown() : resp;
  }

  /** A call's answer when its partition was merged away (absorbed) under it; never sent to a client. */
  private static final KvResponse RETIRED = KvResponse.Failure.of(KvResponse.Code.NO_LEADER,
      "the partition was merged into another meanwhile");

  /**
   * The partition holding partition {@code p}'s keys now: {@code p} itself, or the one that
   * absorbed it (through every later merge), as of the last poll round.
   */
  long absorberOf(long p) {
    Map<Long, Long> known = absorbed;
    long at = p;
    for (int i = 0; i <= known.size() && known.containsKey(at); i++) {
      at = known.get(at);
    }
    return known.containsKey(at) ? p : at; // a cycle cannot be (ids are never reused): no absorber then
  }

  /**
   * Completes with null once every member of the frozen partition (voters and learners, as this
   * leader knows them) has applied the freeze entry at {@code freezeIndex}, as its node's last
   * directory report says, or once a quorum of its voters (of each configuration, when joint) has
   * and {@link #FREEZE_GRACE_ROUNDS} more poll rounds brought no report from the rest; else with
   * why not (retryable) when leadership is lost or the deadline passes. Only then may the left
   * partition absorb the state.
   *
   * <p>Why a quorum is enough. The freeze is committed, so every leader the partition can ever have
   * again holds it in its log and applies it before it serves anything (leader completeness: a
   * member holding the entry votes for no log without it, and one whose replica was destroyed keeps
   * a tombstone, so it is not re-created to vote). A member that missed it therefore takes no
   * write, serves no read but a {@link ReadConsistency#STALE} one from its stale state (a
   * linearizable, lease or follower read needs the leader, or to apply past the leader's commit
   * index, freeze included) and is not promoted (a learner only once caught up, through the
   * leader). Once it hears of the merge, from its own replica of the absorbing partition (the merge
   * entry, or a snapshot with its record) or from a peer's directory report, it drops the replica
   * with a tombstone ({@link #destroyMergedReplicas}): the absorbed-id record, not this wait, is
   * what keeps it from staying for good. So a member that is down or cut off no longer holds the
   * merge, and the right range's writes, up. The grace keeps the healthy case as it was: a member
   * that is up reports the freeze within a round or two, and its replica is frozen before the left
   * one absorbs it.
   */
  private CompletableFuture<KvResponse> awaitFreezeApplied(Replica r, long freezeIndex, long deadline) {
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    long[] quorumSince = {-1}; // the poll round by which a quorum had applied it
    boolean posted = node.post(() -> node.everyTick(() -> {
      if (f.isDone()) {
        return true;
      }
      if (!r.isLeader() || node.replicas().get(r.groupId) != r) {
        return f.complete(KvResponse.Failure.of(KvResponse.Code.NOT_LEADER,
            "leadership of partition " + r.groupId + " lost while waiting for its members to apply the freeze")) || true;
      }
      Set<Long> waiting = membersWithoutFreeze(r, freezeIndex);
      if (waiting.isEmpty()) {
        return f.complete(null) || true;
      }
      if (quorumApplied(r.confState, waiting)) {
        if (quorumSince[0] < 0) {
          quorumSince[0] = rounds;
        } else if (rounds - quorumSince[0] >= FREEZE_GRACE_ROUNDS) {
          log.info("{} group {}: nodes {} have not applied the freeze (index {}) in {} poll rounds; a quorum has, so "
              + "the merge goes on: they drop their replicas once they learn of it", who, r.groupId, waiting,
              freezeIndex, FREEZE_GRACE_ROUNDS);
          return f.complete(null) || true;
        }
      }
      if (System.nanoTime() - deadline >= 0) {
        return f.complete(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "partition " + r.groupId
            + " is frozen, but nodes " + waiting + " have not applied the freeze (index " + freezeIndex
            + ") yet; the merge goes on later", r.groupId, 0, "", true)) || true;
      }
      return false;
    }));
    if (!posted) {
      f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work"));
    }
    return f;
  }

  /**
   * Whether the voters not in {@code waiting} are a majority of {@code cs}'s voters, and of its
   * outgoing voters too in a joint configuration: a quorum of every configuration that decides.
   */
  static boolean quorumApplied(ConfState cs, Set<Long> waiting) {
    return majorityOutside(cs.voters(), waiting)
        && (cs.votersOutgoing().isEmpty() || majorityOutside(cs.votersOutgoing(), waiting));
  }

  private static boolean majorityOutside(Set<Long> voters, Set<Long> waiting) {
    return voters.stream().filter(id -> !waiting.contains(id)).count() > voters.size() / 2;
  }

  /** loop: the members of {@code r}'s partition not yet known to have applied entry {@code index}. */
  private Set<Long> membersWithoutFreeze(Replica r, long index) {
    ConfState cs = r.confState;
    Set<Long> waiting = new TreeSet<>();
    for (long id : union(union(cs.voters(), cs.votersOutgoing()), union(cs.learners(), cs.learnersNext()))) {
      if (id == nodeId) {
        if (r.appliedIndex < index) {
          waiting.add(id);
        }
        continue;
      }
      KvResponse.DirectoryReport d = reports.get(id);
      Optional<KvResponse.ReplicaReport> x = d == null ? Optional.empty() : d.replica(r.groupId);
      if (x.isEmpty() || x.get().appliedIndex() < index) {
        waiting.add(id);
      }
    }
    return waiting;
  }

  /**
   * loop: the leader of a partition frozen for a merge that is not being driven (the call that
   * froze it failed, or an earlier leader made it) drives it again: the freeze must not stay
   * (writes to its keys are refused meanwhile).
   */
  private void resumeMerges() {
    for (Replica r : List.copyOf(node.replicas().values())) {
      long into = r.sm.frozenInto();
      if (into != 0 && r.isLeader() && !r.installing && !merging.contains(r.groupId)) {
        log.info("{} group {}: resuming its merge into partition {}", who, r.groupId, into);
        long deadline = System.nanoTime() + config.electionTimeout().multipliedBy(20).toNanos();
        mergeInto(r, into, deadline);
      }
    }
  }

  /**
   * loop: absorbed partition to the partition that absorbed it, as a local replica's applied state
   * or a peer's answer this round records it.
   */
  private Map<Long, Long> absorbedBy(Map<Long, KvResponse.DirectoryReport> answers) {
    Map<Long, Long> absorbedBy = new HashMap<>();
    for (Replica r : node.replicas().values()) {
      if (r.sm.span() instanceof KeySpan.Range) {
        r.sm.absorbed().forEach(p -> absorbedBy.put(p, r.groupId));
      }
    }
    for (KvResponse.DirectoryReport d : answers.values()) {
      for (KvResponse.ReplicaReport x : d.replicas()) {
        x.absorbed().forEach(p -> absorbedBy.putIfAbsent(p, x.partitionId()));
      }
    }
    return absorbedBy;
  }

  /**
   * loop: a replica of a partition that another partition's applied state records as absorbed
   * (a replica here, or one a peer reported this round) was merged: its state lives on in that
   * partition, so it goes, whether or not it learned its own freeze. Absorbed is final: a partition
   * merged never serves again (its merge is never refused later, so never thawed), while a
   * partition that merely looks covered by another's span might be.
   */
  private void destroyMergedReplicas(Map<Long, Long> absorbedBy) {
    for (Replica r : List.copyOf(node.replicas().values())) {
      Long into = absorbedBy.get(r.groupId);
      if (into != null && !r.installing) {
        node.destroyReplica(r, "merged into partition " + into + " (its applied state records it)");
      }
    }
  }

  /**
   * loop, on the leader of the registry partition: merges one pair of adjacent small ranges, when
   * no replica move and no other merge is under way.
   */
  private void driveMerges() {
    Map<Long, KvResponse.ReplicaReport> byLeader = new TreeMap<>();
    List<KvResponse.DirectoryReport> all = new ArrayList<>(reports.values());
    all.add(report());
    for (KvResponse.DirectoryReport d : all) {
      for (KvResponse.ReplicaReport x : d.replicas()) {
        KvResponse.ReplicaReport known = byLeader.get(x.partitionId());
        if (x.leader() == d.nodeId() && (known == null || x.term() > known.term())) {
          byLeader.put(x.partitionId(), x);
        }
      }
    }
    int factor = config.replicationFactor();
    for (KvResponse.ReplicaReport x : byLeader.values()) {
      if (x.frozen() || !x.learners().isEmpty() || (factor > 0 && x.voters().size() != factor)) {
        return; // a move or a merge is under way
      }
    }
    for (KvResponse.ReplicaReport left : byLeader.values()) {
      if (left.span().length == 0 || !(PartitionStateMachine.decodeSpan(left.span()) instanceof KeySpan.Range l)
          || l.end().length == 0 || left.keyCount() >= config.mergeBelowKeys()) {
        continue;
      }
      for (KvResponse.ReplicaReport right : byLeader.values()) {
        if (right.span().length > 0 && PartitionStateMachine.decodeSpan(right.span()) instanceof KeySpan.Range r
            && java.util.Arrays.equals(r.start(), l.end()) && right.keyCount() < config.mergeBelowKeys()) {
          long rp = right.partitionId();
          inFlight.add(rp);
          log.info("{}: placement: merging partition {} {} ({} keys) into partition {} {} ({} keys)", who, rp,
              r.describe(), right.keyCount(), left.partitionId(), l.describe(), left.keyCount());
          long deadline = System.nanoTime() + config.electionTimeout().multipliedBy(20).toNanos();
          node.commands().groupCallRetrying(rp, new KvRequest.GroupCommand.MergeInto(left.partitionId()), deadline)
              .whenComplete((resp, e) -> node.post(() -> inFlight.remove(rp)));
          return;
        }
      }
    }
  }

  // ------------------------------------------------------------------ the driver

  /** One partition as its leader reported it. */
  private record View(long partitionId, long leader, Set<Long> voters, Set<Long> learners) {
    boolean inMotion(int factor) {
      return !learners.isEmpty() || voters.size() != factor;
    }
  }

  /** loop, on the leader of the registry partition: at most one change per round. */
  private void drive(Replica registry) {
    int factor = config.replicationFactor();
    Map<Long, PartitionStateMachine.RegisteredNode> registered = registry.sm.registeredNodes();
    registered.forEach((id, n) -> {
      if (id != nodeId && !n.address().isEmpty() && !node.memberIds().contains(id)) {
        node.learnAddress(id, n.address());
      }
    });
    Map<Long, View> views = views();
    Map<Long, Integer> load = replicasPerNode(views.values());
    Set<Long> nodes = new TreeSet<>(load.keySet());
    registered.forEach((id, n) -> nodes.add(id));
    Set<Long> draining = new TreeSet<>();
    registered.forEach((id, n) -> {
      if (n.decommissioning()) {
        draining.add(id);
      }
    });
    Set<Long> up = alive;
    List<Long> eligible = nodes.stream().filter(id -> !draining.contains(id) && up.contains(id)).toList();
    Comparator<Long> lightest = Comparator.<Long>comparingInt(id -> load.getOrDefault(id, 0)).thenComparing(id -> id);

    // Partitions already in motion go on (or roll back) first; no new move starts meanwhile.
    boolean anyInMotion = false;
    for (View v : views.values()) {
      if (!v.inMotion(factor)) {
        continue;
      }
      anyInMotion = true;
      if (inFlight.contains(v.partitionId())) {
        continue;
      }
      for (long learner : v.learners()) {
        if (!eligible.contains(learner)) {
          change(v, ConfChangeType.REMOVE, learner, 0, "roll back: the learner's node is down or decommissioning");
          return;
        }
        change(v, ConfChangeType.ADD_VOTER, learner, 0, "promote the caught-up learner");
        return;
      }
      if (v.voters().size() > factor) {
        // A fenced voter first: a repair's move (ReplicaRepair) whose leader changed is finished so.
        long source = v.voters().stream()
            .max(Comparator.<Long>comparingInt(id -> fenced(id, v.partitionId()) ? 3
                    : draining.contains(id) ? 2 : up.contains(id) ? 0 : 1)
                .thenComparingInt(id -> load.getOrDefault(id, 0)).thenComparing(id -> id))
            .orElseThrow();
        change(v, ConfChangeType.REMOVE, source, factor, "remove the source replica");
        return;
      }
      Optional<Long> target = eligible.stream().filter(id -> !v.voters().contains(id)).min(lightest);
      if (target.isPresent()) {
        change(v, ConfChangeType.ADD_LEARNER, target.get(), 0, "below the replication factor");
        return;
      }
    }
    if (anyInMotion || !inFlight.isEmpty()) {
      return;
    }
    // Start one move: off a decommissioning (or dead) voter first, else from the busiest node.
    View best = null;
    long bestTarget = 0;
    int bestGain = 0;
    for (View v : views.values()) {
      Optional<Long> target = eligible.stream().filter(id -> !v.voters().contains(id)).min(lightest);
      if (target.isEmpty()) {
        continue;
      }
      int targetLoad = load.getOrDefault(target.get(), 0);
      int gain = 0;
      for (long voter : v.voters()) {
        int g = draining.contains(voter) ? 1_000_000 : load.getOrDefault(voter, 0) - targetLoad - 1;
        gain = Math.max(gain, g);
      }
      if (gain > bestGain) {
        best = v;
        bestTarget = target.get();
        bestGain = gain;
      }
    }
    if (best != null) {
      change(best, ConfChangeType.ADD_LEARNER, bestTarget, 0,
          bestGain >= 1_000_000 ? "move a replica off a decommissioning node" : "balance replicas");
    }
  }

  /** Whether node {@code id} reported (or, this node, holds) its replica of partition {@code p} fenced. */
  boolean fenced(long id, long p) {
    if (id == nodeId) {
      Replica r = node.replicas().get(p);
      return r != null && r.divergedAt != 0;
    }
    KvResponse.DirectoryReport d = reports.get(id);
    return d != null && d.fenced().contains(p);
  }

  /** Every partition's membership as its leader reports it (this node's own if it leads). */
  private Map<Long, View> views() {
    Map<Long, View> views = new TreeMap<>();
    Map<Long, Long> terms = new HashMap<>();
    for (KvResponse.DirectoryReport d : reports.values()) {
      for (KvResponse.ReplicaReport x : d.replicas()) {
        if (x.leader() == d.nodeId() && x.term() > terms.getOrDefault(x.partitionId(), -1L)) {
          terms.put(x.partitionId(), x.term());
          views.put(x.partitionId(), new View(x.partitionId(), d.nodeId(), x.voters(), x.learners()));
        }
      }
    }
    for (Replica r : node.replicas().values()) {
      if (r.isLeader() && r.term >= terms.getOrDefault(r.groupId, -1L)) {
        ConfState cs = r.confState;
        views.put(r.groupId, new View(r.groupId, nodeId, union(cs.voters(), cs.votersOutgoing()),
            union(cs.learners(), cs.learnersNext())));
      }
    }
    return views;
  }

  /** How many replicas (voters and learners) each node holds in {@code views}. */
  private static Map<Long, Integer> replicasPerNode(Collection<View> views) {
    Map<Long, Integer> load = new HashMap<>();
    for (View v : views) {
      union(v.voters(), v.learners()).forEach(id -> load.merge(id, 1, Integer::sum));
    }
    return load;
  }

  private static Set<Long> union(Set<Long> a, Set<Long> b) {
    Set<Long> out = new TreeSet<>(a);
    out.addAll(b);
    return out;
  }

  /** loop: one membership change, sent to the partition's leader; the next round looks again. */
  private void change(View v, ConfChangeType type, long target, int minVoters, String why) {
    long p = v.partitionId();
    inFlight.add(p);
    log.info("{}: placement: partition {} {} node {} ({}); voters {} learners {}", who, p, type, target, why,
        v.voters(), v.learners());
    long deadline = System.nanoTime() + config.electionTimeout().multipliedBy(20).toNanos();
    String address = node.memberAddress(target);
    node.commands()
        .groupCallRetrying(p, new KvRequest.GroupCommand.ChangeMember(type, target, address, minVoters), deadline)
        .whenComplete((resp, e) -> node.post(() -> {
          inFlight.remove(p);
          if (e != null || resp instanceof KvResponse.Failure) {
            log.info("{}: placement: partition {} {} node {} not done: {}", who, p, type, target,
                e != null ? e.toString() : resp);
          }
        }));
  }
}
