package io.quorumkv;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.ProposalDroppedException;
import io.quorumkv.raft.Status;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Automatic repair of a replica whose state diverged: the leader of a partition replaces a
 * follower its hash checks found diverged by majority ({@link Replica#divergedFollowers}, see
 * {@link ReplicaHashChecks#attributeMismatch}) with a fresh replica, through ordinary membership
 * changes. No log or hard state is wiped in place: a voter that forgot entries it acknowledged
 * would break Raft's safety; the diverged replica leaves the membership instead, and a new one is
 * rebuilt from the leader's log or a snapshot.
 *
 * <ul>
 *   <li><b>Move</b> (a replication factor, and another eligible node exists, {@link
 *       PlacementDriver#repairTarget}): a learner is added on that node, and once caught up one
 *       joint-consensus change promotes it and removes the diverged voter. The voter count never
 *       drops.</li>
 *   <li><b>Rebuild</b> (replication factor 0, where every node already hosts every partition, or
 *       no other eligible node): the diverged voter is removed, its node destroys the old replica
 *       (keeping its tombstone, so the replica created again is quarantined, {@link Tombstones}),
 *       then it is added back as a learner, rebuilt, and promoted once caught up. The partition
 *       runs with one voter fewer meanwhile. The removal entry says it is a rebuild
 *       ({@link #REBUILD_CONTEXT}), so every replica that applies it records that the node is to
 *       come back, in memory ({@link Replica#rebuilding}) and in its partition's state ({@link
 *       PartitionStateMachine#rebuild}): whichever replica leads later, also after every voter
 *       restarted, finishes the repair. A later membership change other than the repair's own
 *       cancels it ({@link #afterChange}).</li>
 * </ul>
 *
 * A repair starts only when attribution is certain (the leader's and a quorum's hashes agree
 * against the follower's), the leader is not fenced itself, no membership change is under way,
 * and every other voter is up (its node heard from within three heartbeat intervals), caught up (its
 * match index at the commit index) and reported this leader's hash at the index where the
 * diverged one did not (so none diverged too: two at once point to something systematic, a
 * hashing bug or a bad release, which is an operator's call): a repair never takes a partition
 * closer to unavailability than a single crash would. At most one repair is under way per
 * partition and per leading node, and a node starts at most one per {@link #SPACING_TICKS}: a bug
 * in hashing that blamed every partition's replicas at once must not churn the cluster. While a
 * repair is under way the leader refuses (retryably) other membership changes that would race it:
 * any during a move, and the re-adding of the node being rebuilt before its old replica is gone.
 *
 * <p>Threads: {@link #onTick} and {@link #onMembershipChange} run on the Raft loop; {@link
 * #refusal} on request threads; the completions of the calls post back to the loop.
 */
final class ReplicaRepair {

  /** What repairs need of their node. */
  interface Node {
    long nodeId();

    /** The node's replicas now (live view). */
    Map<Long, Replica> replicas();

    /** loop: the Raft loop's tick count. */
    long ticks();

    /** Queues {@code task} for the Raft loop; false only when the node is stopped. */
    boolean post(Runnable task);

    /** The members' addresses this node knows, by node id (live view). */
    Map<Long, String> members();

    /** One membership change at this node's leader replica {@code r} ({@link GroupCommands}). */
    CompletableFuture<KvResponse> changeMember(Replica r, KvRequest.GroupCommand.ChangeMember m, long deadline);
  }

  /** The prefix of a removal's context that says the removed node is to be added back at the address that follows. */
  static final String REBUILD_CONTEXT = "rebuild:";
  /** Ticks between two repairs started by one node (the hash check period: one repair per check round). */
  static final long SPACING_TICKS = ReplicaHashChecks.CHECK_TICKS;
  /** Election timeouts a step of a repair may take before it is given up (logged; the next round looks again). */
  private static final int STEP_ELECTIONS = 20;
  /** Election timeouts a move may take in all before it is given up, and placement takes over. */
  private static final int MOVE_ELECTIONS = 100;

  /**
   * A rebuild under way, as the removal entry of the diverged node recorded it.
   *
   * @param node    the node whose replica is rebuilt
   * @param address its advertised address, to add it back with
   */
  record Rebuild(long node, String address) {}

  /**
   * A move under way (leader's memory only: a later leader leaves the learner to placement, which
   * promotes it and then removes a fenced voter first, {@link KvResponse.DirectoryReport#fenced}).
   */
  private record Move(long diverged, long target, long deadline) {}

  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final String who;
  private final KvNodeConfig config;
  private final NodeMetrics metrics;
  private final PlacementDriver placement;
  private final Quiescence quiescence;
  private final ReplicaHashChecks hashChecks;
  private final Node node;
  /** A voter whose node was heard from within this long is up: three heartbeat intervals. */
  private final long upNanos;
  /** loop: moves this node leads, by partition. */
  private final Map<Long, Move> moves = new HashMap<>();
  /** loop: partitions with a membership call of a repair in flight. */
  private final Set<Long> calling = new HashSet<>();
  /** loop: the tick this node last started a repair. */
  private long lastStartTick = Long.MIN_VALUE / 2;
  /** Why a diverged follower of each partition led here is not being repaired now (tests, logs). */
  private final Map<Long, String> waiting = new ConcurrentHashMap<>();
  /** Partitions whose moves are under way, for request threads ({@link #refusal}). */
  private final Set<Long> moving = ConcurrentHashMap.newKeySet();

  ReplicaRepair(String who, KvNodeConfig config, NodeMetrics metrics, PlacementDriver placement,
      Quiescence quiescence, ReplicaHashChecks hashChecks, Node node) {
    this.who = who;
    this.config = config;
    this.metrics = metrics;
    this.placement = placement;
    this.quiescence = quiescence;
    this.hashChecks = hashChecks;
    this.node = node;
    this.upNanos = config.tickInterval().multipliedBy(3L * config.heartbeatTicks()).toNanos();
  }

  /** Whether {@code cc} removes a node to rebuild its replica ({@link #REBUILD_CONTEXT}). */
  static boolean isRebuild(ConfChange cc) {
    return new String(cc.context(), StandardCharsets.UTF_8).startsWith(REBUILD_CONTEXT);
  }

  /**
   * The rebuild pending once membership change {@code cc} applied (leading to {@code cs}), given
   * the one pending before it ({@code pending}, or null). Every replica applies this rule, both in
   * memory ({@link Replica#rebuilding}) and in its partition's state ({@link
   * PartitionStateMachine#rebuild}, durable with the applied index): so whichever replica leads
   * later, also after every voter restarted, knows a node is to come back, and finishes the repair.
   *
   * <p>A rebuild's removal ({@link #REBUILD_CONTEXT}) starts one. The repair's own steps, adding
   * that node as a learner and promoting it (and the empty change that leaves a joint
   * configuration), carry it on; the promotion that makes it a voter ends it. Any other change
   * ends it too: an operator's decision (or placement's) about the partition's membership comes
   * after the repair's and overrides it. An operator who removes the node being rebuilt, while it
   * is out or as a learner, does not see it come back ({@link GroupCommands#changeMember} then
   * proposes the removal of a node that is no member, a no-op for Raft, which records that).
   *
   * <p>A split hands the rebuild pending on to the child, in its initial state ({@code
   * PartitionStateMachine#split}): the child starts with the parent's membership, without the
   * node, so the node is to come back there too, and the child's own leader adds it back (the node
   * created no replica of the child: it was no member of the parent at the split, {@code
   * NodeRuntime#createChild}). A merge changes no membership: the absorbing partition keeps its own
   * rebuild, and the retired partition's ends with it, its keys joining a partition whose
   * membership is its own (at replication factor 0 the node is a voter there, unless that
   * partition rebuilds it too or an operator removed it).
   */
  static Rebuild afterChange(Rebuild pending, ConfChange cc, ConfState cs) {
    if (isRebuild(cc)) {
      String address = new String(cc.context(), StandardCharsets.UTF_8).substring(REBUILD_CONTEXT.length());
      long removed = cc.changes().stream().filter(s -> s.type() == ConfChangeType.REMOVE).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("a rebuild's change removes no node: " + cc)).nodeId();
      return new Rebuild(removed, address);
    }
    if (pending == null) {
      return null;
    }
    boolean repairsOwn = cc.changes().stream().allMatch(s -> s.nodeId() == pending.node()
        && (s.type() == ConfChangeType.ADD_LEARNER || s.type() == ConfChangeType.ADD_VOTER));
    if (!repairsOwn) {
      return null;
    }
    return cs.voters().contains(pending.node()) && !cs.isJoint() ? null : pending;
  }

  /**
   * loop, on every replica as a membership change is handed to the applier: a removal drops the
   * node's divergence record (a replica created for it again starts unfenced); the rebuild pending
   * follows {@link #afterChange}. A leader counts a repair done when the rebuilt node is a voter
   * again, or when a diverged voter (by its own hash checks, or as its node reports) leaves
   * otherwise: its replacement joined first (a move, finished by this leader or by placement after
   * a leadership change).
   */
  void onMembershipChange(Replica r, ConfChange cc, ConfState cs) {
    Rebuild before = r.rebuilding;
    Rebuild after = afterChange(before, cc, cs);
    r.rebuilding = after;
    for (ConfChange.Single s : cc.changes()) {
      if (s.type() == ConfChangeType.REMOVE) {
        boolean diverged = r.divergedFollowers.remove(s.nodeId()) | placement.fenced(s.nodeId(), r.groupId);
        hashChecks.forgetReports(r, s.nodeId());
        if (!isRebuild(cc) && diverged && r.isLeader()) {
          done(r, s.nodeId(), "removed, its replacement a voter already");
        }
      }
    }
    if (before != null && after == null && r.isLeader()) {
      if (cs.voters().contains(before.node())) {
        done(r, before.node(), "rebuilt on its node");
      } else {
        log.warn("{} group {}: the rebuild of node {}'s replica ends unfinished: a membership change other than "
            + "the repair's came first ({}); voters {}, learners {}", who, r.groupId, before.node(), cc.changes(),
            cs.voters(), cs.learners());
      }
    }
  }

  /**
   * Request thread: why this leader refuses the membership change {@code m} of {@code r} now, or
   * null. During a move every other change waits (placement would promote the learner and remove
   * a voter of its own choosing); during a rebuild, adding the rebuilt node back waits for the
   * repair, which does it once the node's old replica is gone (added back earlier, the old replica
   * would carry on with its wrong state).
   */
  KvResponse.Failure refusal(Replica r, KvRequest.GroupCommand.ChangeMember m) {
    Rebuild b = r.rebuilding;
    String why = moving.contains(r.groupId) ? "a replica repair (move) is under way in partition " + r.groupId
        : b != null && b.node() == m.nodeId() && m.type() != ConfChangeType.REMOVE
        ? "node " + b.node() + "'s replica of partition " + r.groupId + " is being rebuilt by a repair" : null;
    return why == null ? null : new KvResponse.Failure(KvResponse.Code.TIMEOUT, why + "; try again later", r.groupId,
        0, "", false);
  }

  /** Why a diverged follower of partition {@code g} is not being repaired by this node now, or null (tests). */
  String waitingFor(long g) {
    return waiting.get(g);
  }

  /** Where a repair of {@code r}'s partition would move a replica now, if anywhere (tests). */
  OptionalLong moveTarget(Replica r) {
    return placement.repairTarget(r);
  }

  /** loop, each tick: every partition this node leads takes its repair a step on, or starts one. */
  void onTick() {
    moves.keySet().removeIf(g -> {
      Replica r = node.replicas().get(g);
      return r == null || !r.isLeader();
    });
    moving.retainAll(moves.keySet());
    for (Replica r : node.replicas().values()) {
      if (!r.isLeader() || r.installing || calling.contains(r.groupId)) {
        continue;
      }
      Rebuild b = r.rebuilding;
      Move m = moves.get(r.groupId);
      if (b != null) {
        rebuildStep(r, b);
      } else if (m != null) {
        moveStep(r, m);
      } else if (config.repairDivergedReplicas() && !r.divergedFollowers.isEmpty()) {
        maybeStart(r);
      } else if (!waiting.isEmpty()) {
        waiting.remove(r.groupId);
      }
    }
  }

  /** loop: starts a repair of a diverged follower of {@code r} if it is certain and costs no availability. */
  private void maybeStart(Replica r) {
    ConfState cs = r.confState;
    long diverged = new TreeSet<>(r.divergedFollowers).stream().filter(cs.voters()::contains).findFirst().orElse(0L);
    String why = diverged == 0 ? "the followers found diverged are not voters" : blocker(r, cs, diverged);
    if (why != null) {
      if (!why.equals(waiting.put(r.groupId, why))) {
        log.warn("{} group {}: the replica of node {} diverged, not repaired yet: {}", who, r.groupId, diverged, why);
      }
      return;
    }
    waiting.remove(r.groupId);
    lastStartTick = node.ticks();
    metrics.replicaRepairs.increment();
    OptionalLong target = placement.repairTarget(r);
    log.error("{} group {}: REPLICA REPAIR: replacing node {}'s replica, which diverged ({}): {}", who, r.groupId,
        diverged, evidence(r, diverged), target.isPresent() ? "moving it to node " + target.getAsLong()
            : "removing it, then adding its node back to rebuild it");
    if (target.isPresent()) {
      long deadline = System.nanoTime() + config.electionTimeout().multipliedBy(MOVE_ELECTIONS).toNanos();
      moves.put(r.groupId, new Move(diverged, target.getAsLong(), deadline));
      moving.add(r.groupId);
      call(r, ConfChangeType.ADD_LEARNER, target.getAsLong(), address(target.getAsLong()), 0);
    } else {
      // At least the other voters remain: refused if the membership changed meanwhile.
      call(r, ConfChangeType.REMOVE, diverged, REBUILD_CONTEXT + address(diverged), cs.voters().size() - 1);
    }
  }

  /** loop: why a repair of {@code diverged} in {@code r} must not start now, or null. */
  private String blocker(Replica r, ConfState cs, long diverged) {
    if (r.divergedAt != 0) {
      return "this leader's own state diverged (it hands its leadership away)";
    }
    if (cs.isJoint() || !cs.learners().isEmpty() || !cs.learnersNext().isEmpty()) {
      return "a membership change is under way";
    }
    if (cs.voters().size() < 3) {
      return "fewer than 3 voters";
    }
    long ticks = node.ticks();
    if (!moves.isEmpty() || node.replicas().values().stream().anyMatch(x -> x.isLeader() && x.rebuilding != null)) {
      return "another repair led by this node is under way";
    }
    if (ticks - lastStartTick < SPACING_TICKS) {
      return "this node started a repair less than " + SPACING_TICKS + " ticks ago (at most one per check period)";
    }
    if (address(diverged).isEmpty()) {
      return "node " + diverged + "'s address is not known here";
    }
    long index = divergedIndex(r, diverged);
    if (index == 0) {
      return "no mismatching hash of node " + diverged + " is kept";
    }
    long mine = hashChecks.leaderHash(r.groupId, index).orElseThrow();
    Map<Long, Long> reported = r.hashReports.getOrDefault(index, Map.of());
    Status st = r.raw.status();
    long now = System.nanoTime();
    List<Long> others = new TreeSet<>(cs.voters()).stream().filter(v -> v != node.nodeId() && v != diverged).toList();
    for (long v : others) {
      // Heard within a few heartbeats, not an election timeout: a rebuild's removal commits with
      // the diverged voter's acknowledgement, so a voter that died just before would leave the
      // smaller membership without a quorum. A late heartbeat only delays the repair.
      if (!quiescence.heardWithin(v, now, upNanos)) {
        return "voter " + v + " is not up";
      }
    }
    for (long v : others) {
      Status.FollowerProgress pr = st.progress().get(v);
      if (pr == null || pr.matchIndex() < r.commitIndex) {
        return "voter " + v + " is not caught up";
      }
    }
    for (long v : others) {
      // Positive evidence that v is sound: its hash at that index is this leader's (one diverged
      // too says something systematic is wrong, a hashing bug or a bad release: an operator's call).
      Long theirs = reported.get(v);
      if (theirs == null || theirs != mine) {
        return "voter " + v + (theirs == null ? " has not reported" : " did not report") + " this leader's hash at index "
            + index;
      }
    }
    return null;
  }

  /** The latest index at which {@code id} reported a hash that differs from this leader's, or 0. */
  private long divergedIndex(Replica r, long id) {
    long index = 0;
    for (Map.Entry<Long, Map<Long, Long>> e : r.hashReports.entrySet()) {
      Long theirs = e.getValue().get(id);
      OptionalLong mine = hashChecks.leaderHash(r.groupId, e.getKey());
      if (theirs != null && mine.isPresent() && theirs != mine.getAsLong() && e.getKey() > index) {
        index = e.getKey();
      }
    }
    return index;
  }

  /** loop: the next step of a rebuild of {@code b.node()}, decided from the committed membership. */
  private void rebuildStep(Replica r, Rebuild b) {
    ConfState cs = r.confState;
    long id = b.node();
    if (cs.isJoint()) {
      return;
    }
    if (cs.voters().contains(id)) {
      r.rebuilding = null; // promoted while this replica was not leading, or by a snapshot past it
      return;
    }
    if (cs.learners().contains(id)) {
      call(r, ConfChangeType.ADD_VOTER, id, b.address(), 0); // waits until the learner caught up
      return;
    }
    int factor = config.replicationFactor();
    if (factor > 0 && cs.voters().size() + cs.learners().size() >= factor) {
      r.rebuilding = null;
      log.warn("{} group {}: the rebuild of node {}'s replica ends: the partition has its {} replicas again", who,
          r.groupId, id, factor);
      return;
    }
    if (!placement.reportsNoReplica(id, r.groupId)) {
      waiting.put(r.groupId, "node " + id + " still holds its removed replica (or has not answered a poll)");
      return; // its destruction waits for its leader's silence and the voters' applied removal (PlacementDriver)
    }
    waiting.remove(r.groupId);
    log.warn("{} group {}: node {} dropped its diverged replica; adding it back to rebuild it", who, r.groupId, id);
    call(r, ConfChangeType.ADD_LEARNER, id, b.address(), 0);
  }

  /** loop: the next step of a move, decided from the committed membership. */
  private void moveStep(Replica r, Move m) {
    ConfState cs = r.confState;
    if (cs.isJoint()) {
      return;
    }
    boolean targetVoter = cs.voters().contains(m.target());
    boolean divergedMember = NodeRuntime.isMember(cs, m.diverged());
    if (targetVoter && !divergedMember) {
      endMove(r); // counted as its removal applied (onMembershipChange)
      return;
    }
    if (System.nanoTime() - m.deadline() >= 0 || !NodeRuntime.isMember(cs, m.target())) {
      endMove(r);
      log.warn("{} group {}: the move of node {}'s diverged replica to node {} is given up (voters {}, learners {}); "
          + "the next check finds it again", who, r.groupId, m.diverged(), m.target(), cs.voters(), cs.learners());
      return;
    }
    if (targetVoter) {
      call(r, ConfChangeType.REMOVE, m.diverged(), "", cs.voters().size() - 1);
      return;
    }
    Status.FollowerProgress pr = r.raw.status().progress().get(m.target());
    if (pr == null || pr.matchIndex() < r.commitIndex) {
      return; // the learner is catching up
    }
    // One joint change: the new replica becomes a voter as the diverged one leaves.
    ConfChange cc = new ConfChange(List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, m.target()),
        new ConfChange.Single(ConfChangeType.REMOVE, m.diverged())), ConfChange.Transition.AUTO,
        address(m.target()).getBytes(StandardCharsets.UTF_8));
    try {
      r.raw.proposeConfChange(cc);
      log.info("{} group {}: repair: promoting node {} and removing node {} in one joint change", who, r.groupId,
          m.target(), m.diverged());
    } catch (ProposalDroppedException e) {
      // another change is pending: the next tick looks again
    }
  }

  private String address(long id) {
    return node.members().getOrDefault(id, "");
  }

  private void endMove(Replica r) {
    moves.remove(r.groupId);
    moving.remove(r.groupId);
  }

  private void done(Replica r, long id, String how) {
    metrics.replicaRepairsDone.increment();
    log.warn("{} group {}: REPLICA REPAIR done: node {}'s diverged replica was replaced ({}); voters {}", who,
        r.groupId, id, how, r.confState.voters());
  }

  /** loop: one membership change of a repair at this leader; the next tick after it ends looks again. */
  private void call(Replica r, ConfChangeType type, long id, String address, int minVoters) {
    long g = r.groupId;
    calling.add(g);
    long deadline = System.nanoTime() + config.electionTimeout().multipliedBy(STEP_ELECTIONS).toNanos();
    node.changeMember(r, new KvRequest.GroupCommand.ChangeMember(type, id, address, minVoters), deadline)
        .whenComplete((resp, e) -> {
          if (e != null || resp instanceof KvResponse.Failure) {
            log.warn("{} group {}: repair: {} node {} not done: {}", who, g, type, id, e != null ? e.toString() : resp);
          }
          if (!node.post(() -> calling.remove(g))) {
            calling.remove(g); // stopped: no loop left to race
          }
        });
  }

  /** The index and hashes of {@code node}'s latest reported divergence from this leader, for the log. */
  private String evidence(Replica r, long id) {
    long index = divergedIndex(r, id);
    return "at index " + index + " it hashed to " + Long.toHexString(r.hashReports.get(index).get(id))
        + ", this leader to " + Long.toHexString(hashChecks.leaderHash(r.groupId, index).getAsLong());
  }
}
