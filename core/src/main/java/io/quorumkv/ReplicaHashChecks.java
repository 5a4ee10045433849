package io.quorumkv;

import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.Status;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Replica hash checks: every replica of a partition hashes its state as of the same
 * {@link Command.CheckHash} entry (proposed by the leader every {@link #CHECK_TICKS}, and for
 * {@link KvAdmin#replicaHashes()}); each follower reports its hash to the leader, which attributes
 * a mismatch by majority ({@link #attributeMismatch}). A replica found diverged is fenced: it
 * serves no read from its state ({@link ReadPath#serveLocal}), never campaigns, answers no client
 * write from its state ({@link Replica.Proposal#answer}) and hands away any leadership, until a
 * later check matches; the fence is kept on disk too ({@link Tombstones#fence}), and outlives a
 * restart. Runs on the hasher's, request and scheduler threads, and on the Raft loop's tick
 * ({@link #handDivergedLeadershipsAway}, {@link #proposeChecks}).
 */
final class ReplicaHashChecks {

  /** What the checks need of their node. */
  interface Node {
    long nodeId();

    /** Whether the node is running (checks stop retrying and waiting once it is not). */
    boolean running();

    /** The node's replica of partition {@code g} now, or null. */
    Replica replica(long g);

    /** The node's replicas now (live view). */
    Map<Long, Replica> replicas();

    /** Sends a request to node {@code to} within the node's request timeout. */
    CompletableFuture<byte[]> request(long to, byte[] payload);

    /** Proposes {@code c} in {@code r} and completes with its outcome once applied. */
    CompletableFuture<PartitionStateMachine.Outcome> propose(Replica r, Command c);

    /** loop: proposes {@code c} in {@code r}, nobody waiting for its outcome. */
    void proposeOnLoop(Replica r, Command c);

    /** loop: the voter to hand {@code r}'s leadership to, if any is fit. */
    OptionalLong bestTransferee(Replica r);

    /** The node's scheduler; throws {@link RejectedExecutionException} before start or once closed. */
    ScheduledExecutorService scheduler();

    /** How far each member's log matches the leader's in {@code r} (the loop's view; empty unless leading). */
    CompletableFuture<Map<Long, Status.FollowerProgress>> progress(Replica r);

    /**
     * {@code r}'s fence was set or lifted: records it durably (as {@link Replica#divergedAt} is
     * when that runs), a moment later on another thread, so that a restart keeps it, and tells the
     * replica's Raft core, on the loop, whether it may campaign ({@link NodeRuntime#syncPromotable}).
     */
    void fenceChanged(Replica r);
  }

  /** Ticks between a leader's periodic checks. */
  static final long CHECK_TICKS = 600;

  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final String who;
  private final NodeMetrics metrics;
  private final Node node;
  /** Recent replica hashes of the partitions this node leads: group -> index -> hash. */
  private final Map<Long, Map<Long, Long>> leaderHashes = new ConcurrentHashMap<>();
  /**
   * Reports that reached this leader before its own hash of their index (group -> index -> node ->
   * hash): not compared yet (the follower asks again), but a check waiting for that index counts
   * them ({@link #awaitReports}). A follower applies and hashes the entry in parallel with its
   * leader and often first: dropping its report cost the caller a second (the follower's next
   * attempt) or, with a bounded wait, the replica's hash.
   */
  private final Map<Long, Map<Long, Map<Long, Long>>> earlyReports = new ConcurrentHashMap<>();

  ReplicaHashChecks(String who, NodeMetrics metrics, Node node) {
    this.who = who;
    this.metrics = metrics;
    this.node = node;
  }

  /** A leader's answers to a follower's {@link KvRequest.GroupCommand.ReportHash}. */
  static final long HASH_UNKNOWN = 0;
  static final long HASH_MATCH = 1;
  /** The reporting replica differs from the leader, and a quorum holds the leader's hash. */
  static final long HASH_DIVERGED = 2;
  /** It differs from the leader, and too few replicas have reported to say which is wrong. */
  static final long HASH_UNDECIDED = 3;
  /**
   * Times a follower reports a hash again, a second apart, while the leader cannot tell yet: the
   * leader hashes at {@link ReplicaHasher#BYTES_PER_SECOND}, so this covers partitions of about 2 GB.
   */
  private static final int HASH_REPORT_ATTEMPTS = 30;

  /** hasher: this replica hashed its state as of a CheckHash entry. */
  void onHash(Replica r, PartitionStateMachine.ReplicaHash h) {
    if (r.isLeader()) {
      Map<Long, Long> recent = leaderHashes.computeIfAbsent(r.groupId, x -> new ConcurrentHashMap<>());
      recent.put(h.index(), h.hash());
      recent.keySet().removeIf(i -> i < h.index() - 100 * CHECK_TICKS);
      r.hashReports.keySet().removeIf(i -> i < h.index() - 100 * CHECK_TICKS);
      earlyReports.getOrDefault(r.groupId, Map.of()).keySet().removeIf(i -> i < h.index() - 100 * CHECK_TICKS);
      return;
    }
    reportHash(r, h, HASH_REPORT_ATTEMPTS);
  }

  /**
   * A follower sends its hash to its leader and acts on the verdict: a replica the leader and a
   * quorum disagree with is fenced (it serves no read from its state, see {@link ReadPath#serveLocal});
   * a later match lifts the fence. While the leader cannot tell (it has not hashed that index
   * yet, or too few replicas have reported), the report goes again a second later, a few times.
   */
  private void reportHash(Replica r, PartitionStateMachine.ReplicaHash h, int attemptsLeft) {
    long leader = r.leader;
    long nodeId = node.nodeId();
    CompletableFuture<byte[]> answer = leader == 0 || leader == nodeId
        ? CompletableFuture.failedFuture(new IllegalStateException("no leader to compare with"))
        : node.request(leader, Codec.encodeRequest(new KvRequest.Group(r.groupId,
            new KvRequest.GroupCommand.ReportHash(h.index(), h.hash(), nodeId))));
    answer.whenComplete((bytes, e) -> {
      long verdict = HASH_UNKNOWN;
      try {
        KvResponse resp = e == null ? Codec.decodeResponse(bytes) : null;
        if (resp instanceof KvResponse.AdminDone d) {
          verdict = d.value();
        } else {
          // Not the leader's "cannot tell yet" but a lost report: say so, a check waiting for it will miss it.
          log.info("{} group {}: the hash report at index {} to node {} failed ({} attempt(s) left): {}", who, r.groupId,
              h.index(), leader, attemptsLeft - 1, e != null ? e.toString() : resp);
        }
      } catch (RuntimeException malformed) {
        log.warn("{} group {}: unreadable answer to a hash report: {}", who, r.groupId, malformed.toString());
      }
      if (verdict == HASH_DIVERGED) {
        fence(r, h.index(), "the leader and a quorum hashed it differently");
      } else if (verdict == HASH_MATCH) {
        unfence(r, h.index());
      } else if (attemptsLeft > 1 && node.running() && node.replica(r.groupId) == r) {
        try {
          node.scheduler().schedule(() -> reportHash(r, h, attemptsLeft - 1), 1, TimeUnit.SECONDS);
        } catch (RejectedExecutionException closing) {
          // the node closed: nothing to report to
        }
      }
    });
  }

  /**
   * Leader, on a request thread: compares a follower's hash with its own at the same index. A
   * mismatch is attributed by majority: the follower is wrong if a quorum (this leader counted)
   * holds the leader's hash; this leader is if a quorum of the others agree on another one, and
   * then it fences itself and the tick hands its leadership away ({@link #handDivergedLeadershipsAway}).
   */
  KvResponse compareHash(Replica r, KvRequest.GroupCommand.ReportHash h) {
    Long mine = leaderHashes.getOrDefault(r.groupId, Map.of()).get(h.index());
    if (mine == null) {
      if (r.isLeader()) {
        earlyReports.computeIfAbsent(r.groupId, g -> new ConcurrentHashMap<>())
            .computeIfAbsent(h.index(), i -> new ConcurrentHashMap<>()).put(h.fromNode(), h.hash());
      }
      return new KvResponse.AdminDone(HASH_UNKNOWN);
    }
    Map<Long, Long> reports = r.hashReports.computeIfAbsent(h.index(), i -> new ConcurrentHashMap<>());
    Long before = reports.put(h.fromNode(), h.hash());
    if (mine == h.hash()) {
      r.divergedFollowers.remove(h.fromNode());
      return new KvResponse.AdminDone(HASH_MATCH);
    }
    if (before == null) {
      metrics.hashMismatches.increment();
      log.error("{} group {}: REPLICA DIVERGENCE: node {} hashed its state at index {} to {}, this leader to {}",
          who, r.groupId, h.fromNode(), h.index(), Long.toHexString(h.hash()), Long.toHexString(mine));
    }
    return switch (attributeMismatch(r.confState.voters(), node.nodeId(), mine, reports, h.hash())) {
      case REPORTER_DIVERGED -> {
        r.divergedFollowers.add(h.fromNode());
        yield new KvResponse.AdminDone(HASH_DIVERGED);
      }
      case LEADER_DIVERGED -> {
        fence(r, h.index(), "a quorum of the other replicas hashed it to " + Long.toHexString(h.hash())
            + ", this leader to " + Long.toHexString(mine));
        yield new KvResponse.AdminDone(HASH_MATCH);
      }
      case UNDECIDED -> new KvResponse.AdminDone(HASH_UNDECIDED);
    };
  }

  /** How often a check asked for by {@link KvAdmin#replicaHashes()} looks for the followers' reports. */
  private static final long REPORTS_POLL_MILLIS = 10;

  /** One partition's part of a {@link KvAdmin#replicaHashes()} answer: its hashes, or why there are none. */
  private record LedCheck(long groupId, PartitionHashes hashes, String unchecked) {}

  /**
   * Answers {@link KvRequest.CheckReplicas}: a hash check entry proposed in every partition this
   * node leads, and, per partition, the hash each replica reported for it ({@link #compareHash}
   * keeps them), collected until every member has reported or {@code deadline}, whichever comes
   * first: an answer with missing reports is worth more to the caller than a timeout.
   */
  CompletableFuture<KvResponse> checkReplicas(long deadline) {
    List<CompletableFuture<LedCheck>> checks = node.replicas().values().stream().filter(Replica::isLeader)
        .sorted(Comparator.comparingLong(r -> r.groupId)).map(r -> checkLed(r, deadline)).toList();
    return CompletableFuture.allOf(checks.toArray(CompletableFuture[]::new)).thenApply(x -> {
      List<PartitionHashes> checked = new ArrayList<>();
      Map<Long, String> unchecked = new TreeMap<>();
      for (CompletableFuture<LedCheck> f : checks) {
        LedCheck c = f.join();
        if (c.hashes() != null) {
          checked.add(c.hashes());
        } else {
          unchecked.put(c.groupId(), c.unchecked());
        }
      }
      Map<Long, Long> fenced = new TreeMap<>();
      for (Replica r : node.replicas().values()) {
        if (r.divergedAt != 0) {
          fenced.put(r.groupId, r.divergedAt);
        }
      }
      return new KvResponse.ReplicaCheck(new ReplicaHashes(node.nodeId(), checked, unchecked, fenced));
    });
  }

  /** One led partition's check: proposes the entry, then waits for the members' reports. */
  private CompletableFuture<LedCheck> checkLed(Replica r, long deadline) {
    CompletableFuture<LedCheck> out = new CompletableFuture<>();
    long waitNanos = Math.max(0, deadline - System.nanoTime());
    // A little after the deadline: an entry applied by then answers with the reports it has.
    ScheduledFuture<?> late = node.scheduler().schedule(() -> out.complete(new LedCheck(r.groupId, null,
        "the check entry was not applied and hashed here within " + TimeUnit.NANOSECONDS.toMillis(waitNanos) + " ms")),
        waitNanos + TimeUnit.MILLISECONDS.toNanos(5 * REPORTS_POLL_MILLIS), TimeUnit.NANOSECONDS);
    out.whenComplete((c, e) -> late.cancel(false));
    node.propose(r, new Command.CheckHash()).whenComplete((o, e) -> {
      if (e != null) {
        out.complete(new LedCheck(r.groupId, null, "the check failed: " + e));
      } else if (o instanceof PartitionStateMachine.Outcome.Hashed h) {
        // The hasher computes it later, off the applier (this thread): wait for it, never compute it here.
        h.job().hashed().whenComplete((mine, given) -> {
          if (given == null && late.cancel(false)) {
            awaitReports(r, mine, deadline, out); // hashed in time: the deadline is awaitReports' now
          } else if (given != null) {
            out.complete(new LedCheck(r.groupId, null, "the check's hash was given up (a newer check replaced it, "
                + "or the node is closing): " + given));
          }
        });
      } else if (o instanceof PartitionStateMachine.Outcome.Rejected rj) {
        out.complete(new LedCheck(r.groupId, null, "the check entry was not applied: " + rj.message()));
      } else {
        out.complete(new LedCheck(r.groupId, null, "the check entry applied as " + o));
      }
    });
    return out;
  }

  /**
   * How long a check that misses reports waits for the loop's view of the members' logs, to say
   * why: the slack the caller's deadline leaves past the wait (as for an entry not hashed in time).
   */
  private static final long PROGRESS_WAIT_MILLIS = 5 * REPORTS_POLL_MILLIS;

  /**
   * Completes {@code out} once every member of {@code r} reported its hash at the leader's index, or
   * at the deadline, with what the leader knew then of each member that did not report.
   */
  private void awaitReports(Replica r, PartitionStateMachine.ReplicaHash mine, long deadline,
      CompletableFuture<LedCheck> out) {
    Set<Long> members = new HashSet<>(r.confState.voters());
    members.addAll(r.confState.votersOutgoing());
    members.addAll(r.confState.learners());
    Map<Long, Long> hashes = new HashMap<>(r.hashReports.getOrDefault(mine.index(), Map.of()));
    earlyReports.getOrDefault(r.groupId, Map.of()).getOrDefault(mine.index(), Map.of()).forEach(hashes::putIfAbsent);
    long nodeId = node.nodeId();
    hashes.put(nodeId, mine.hash());
    boolean all = hashes.keySet().containsAll(members);
    if (all || System.nanoTime() - deadline >= 0 || !node.running()) {
      Set<Long> fenced = new HashSet<>(r.divergedFollowers);
      if (r.divergedAt != 0) {
        fenced.add(nodeId);
      }
      if (all) {
        out.complete(new LedCheck(r.groupId, new PartitionHashes(r.groupId, mine.index(), nodeId, members, hashes,
            fenced), null));
        return;
      }
      node.progress(r).completeOnTimeout(Map.of(), PROGRESS_WAIT_MILLIS, TimeUnit.MILLISECONDS)
          .whenComplete((progress, e) -> out.complete(new LedCheck(r.groupId, new PartitionHashes(r.groupId,
              mine.index(), nodeId, members, hashes, fenced, unreported(r, mine.index(), members, hashes,
                  e == null ? progress : Map.of())), null)));
      return;
    }
    if (!out.isDone()) {
      try {
        node.scheduler().schedule(() -> awaitReports(r, mine, deadline, out), REPORTS_POLL_MILLIS, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException closing) {
        out.complete(new LedCheck(r.groupId, null, who + " closed during the check"));
      }
    }
  }

  /**
   * Why each member of {@code r} missing from {@code hashes} did not report at {@code index}, as far
   * as this leader can tell: whether its log had acknowledged the entry, and any hash it reported at
   * another index (a later check's hash replaced the one asked for before it was computed).
   */
  private Map<Long, String> unreported(Replica r, long index, Set<Long> members, Map<Long, Long> hashes,
      Map<Long, Status.FollowerProgress> progress) {
    Map<Long, String> out = new TreeMap<>();
    for (long m : members) {
      if (hashes.containsKey(m)) {
        continue;
      }
      Status.FollowerProgress p = progress.get(m);
      long leader = r.leader;
      // A leadership that moved during the check (leader balancing, a transfer) sends the
      // replicas' reports to the new leader: this one waits for them in vain.
      String where = !r.isLeader() ? "this node no longer led the partition at the deadline (its leader now "
              + (leader == 0 ? "unknown" : "node " + leader) + "): the replica's report, if any, went there"
          : p == null ? "its log position unknown (this node's view was not available)"
          : p.matchIndex() < index ? "its log had not acknowledged the check entry (match index " + p.matchIndex()
              + ", " + p.state() + (p.recentActive() ? "" : ", not heard from within an election timeout") + ")"
          : "its log acknowledged the check entry (match index " + p.matchIndex() + "), but no hash came: not "
              + "applied and hashed there yet, or the report was lost";
      List<Long> elsewhere = new ArrayList<>();
      r.hashReports.forEach((i, byNode) -> {
        if (i != index && byNode.containsKey(m)) {
          elsewhere.add(i);
        }
      });
      earlyReports.getOrDefault(r.groupId, Map.of()).forEach((i, byNode) -> {
        if (i != index && byNode.containsKey(m) && !elsewhere.contains(i)) {
          elsewhere.add(i);
        }
      });
      elsewhere.sort(null);
      out.put(m, where + (elsewhere.isEmpty() ? "" : "; it reported hashes at index(es) "
          + elsewhere.subList(Math.max(0, elsewhere.size() - 3), elsewhere.size())));
    }
    return out;
  }

  /**
   * Forgets what {@code nodeId} reported for {@code r}, compared or early: it left the membership,
   * and a replica created there again must be judged by its own reports only.
   */
  void forgetReports(Replica r, long nodeId) {
    r.hashReports.values().forEach(byNode -> byNode.remove(nodeId));
    earlyReports.getOrDefault(r.groupId, Map.of()).values().forEach(byNode -> byNode.remove(nodeId));
  }

  /** This leader's hash of partition {@code g} at {@code index}, if it still keeps it (a repair's log). */
  OptionalLong leaderHash(long g, long index) {
    Long h = leaderHashes.getOrDefault(g, Map.of()).get(index);
    return h == null ? OptionalLong.empty() : OptionalLong.of(h);
  }

  /** Who a hash mismatch is attributed to ({@link #attributeMismatch}). */
  enum Mismatch { REPORTER_DIVERGED, LEADER_DIVERGED, UNDECIDED }

  /**
   * Attributes a reported hash that differs from the leader's by majority: the reporter diverged
   * if a quorum of {@code voters} (the leader counted) holds the leader's hash {@code mine}; the
   * leader did if a quorum of the others holds the reported one; else nobody can tell yet. Both
   * sides cannot hold a quorum, so at most one of them is ever blamed for one index.
   *
   * @param reports every hash reported for that index so far, by node, the reporter's included
   */
  static Mismatch attributeMismatch(Set<Long> voters, long leader, long mine, Map<Long, Long> reports, long reported) {
    if (voters.isEmpty()) {
      return Mismatch.UNDECIDED;
    }
    Set<Long> withLeader = new HashSet<>();
    Set<Long> withReporter = new HashSet<>();
    withLeader.add(leader);
    reports.forEach((node, hash) -> {
      if (node == leader) {
        return; // the leader's own hash is mine
      }
      if (hash.longValue() == mine) {
        withLeader.add(node);
      } else if (hash.longValue() == reported) {
        withReporter.add(node);
      }
    });
    if (NodeRuntime.holdsQuorum(withLeader, voters)) {
      return Mismatch.REPORTER_DIVERGED;
    }
    return NodeRuntime.holdsQuorum(withReporter, voters) ? Mismatch.LEADER_DIVERGED : Mismatch.UNDECIDED;
  }

  private void fence(Replica r, long index, String why) {
    if (r.divergedAt == 0) {
      log.error("{} group {}: this replica's state DIVERGED at index {} ({}): it serves no reads and does not lead "
          + "until a later hash check matches; the partition's leader replaces it "
          + "(ReplicaRepair), unless repairDivergedReplicas is off", who, r.groupId, index, why);
    }
    r.divergedAt = index;
    node.fenceChanged(r);
  }

  private void unfence(Replica r, long index) {
    if (r.divergedAt != 0 && index > r.divergedAt) {
      log.warn("{} group {}: this replica's state matched its leader's at index {}: it serves reads again",
          who, r.groupId, index);
      r.divergedAt = 0;
      node.fenceChanged(r);
    }
  }

  /** loop, each tick: a leader whose state diverged hands its leadership to another voter. */
  void handDivergedLeadershipsAway() {
    for (Replica r : node.replicas().values()) {
      if (r.divergedAt != 0 && r.isLeader() && r.raw.status().leadTransferee() == RaftConfig.NONE) {
        node.bestTransferee(r).ifPresent(to -> {
          log.warn("{} group {}: handing leadership to node {}: this replica diverged", who, r.groupId, to);
          r.raw.transferLeadership(to);
        });
      }
    }
  }

  /** loop, each tick: every {@link #CHECK_TICKS}, a check entry in every partition this node leads. */
  void proposeChecks(long ticks) {
    if (ticks % CHECK_TICKS == 0) {
      for (Replica r : node.replicas().values()) {
        // A quiesced group that took no write since its last check has nothing new to compare.
        if (r.isLeader() && !(r.quiesced && r.commitIndex <= r.hashCheckedAtCommit + 1)) {
          r.hashCheckedAtCommit = r.commitIndex;
          node.proposeOnLoop(r, new Command.CheckHash());
        }
      }
    }
  }
}
