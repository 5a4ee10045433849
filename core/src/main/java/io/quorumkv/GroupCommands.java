package io.quorumkv;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.ProposalDroppedException;
import io.quorumkv.raft.Status;
import io.quorumkv.transport.FaultInjector;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The commands a partition's leader executes ({@link KvRequest.Group}: leadership transfers,
 * membership changes, splits, merges, node states, hash checks, a follower's ReadIndex) and the
 * operator's calls ({@link AdminOp}, {@link KvAdmin}) built from them: each admin call becomes
 * group commands sent, with retries, to the leader of every partition it touches, here or on a
 * peer ({@link #groupCallRetrying}); placement sends its commands the same way.
 *
 * <p>Separate from {@link NodeRuntime} because none of it is the Raft loop's own work: it runs on
 * the caller's thread (a transport I/O thread, a client's thread, the timer for retries), and
 * what must touch a Raft core is posted to the loop ({@link Node#post}) or re-checked at every
 * tick there ({@link Node#everyTick}), exactly as it was inside the runtime.
 */
final class GroupCommands {

  /** What the commands need of their node. */
  interface Node {
    /** Whether the node is running (retries stop once it is not). */
    boolean running();

    /** The replicas this node hosts (live view). */
    Map<Long, Replica> replicas();

    /** The members' addresses this node knows, by node id (live view). */
    Map<Long, String> members();

    /** Whether {@code id} is a member of any partition, as far as this node has applied. */
    boolean isMemberAnywhere(long id);

    /** Which partition of this node holds which keys. */
    RoutingTable routing();

    /** Queues {@code task} for the Raft loop; false only when the node is stopped. */
    boolean post(Runnable task);

    /** loop: runs {@code watcher} at every tick until it returns true. */
    void everyTick(BooleanSupplier watcher);

    /** Proposes {@code c} in {@code r} (posted to the loop) and completes with its outcome once applied. */
    CompletableFuture<PartitionStateMachine.Outcome> propose(Replica r, Command c);

    /** The answer to a caller for the outcome {@code o} of a command proposed in {@code r}. */
    KvResponse toResponse(Replica r, PartitionStateMachine.Outcome o);

    /** The refusal of a replica that does not lead {@code r}'s partition, naming the leader it knows. */
    KvResponse.Failure notLeader(Replica r);

    /** The answer for a request that failed with {@code t}. */
    KvResponse failureOf(Throwable t);

    /**
     * Sends {@code req} to node {@code to} and relays its answer; {@code isWrite}: a failure after
     * it may have arrived says its outcome is unknown.
     */
    CompletableFuture<KvResponse> forward(long to, KvRequest req, long deadline, boolean isWrite);

    /** The node's scheduler; throws {@link RejectedExecutionException} before start. */
    ScheduledExecutorService scheduler();

    /** The transport's fault injector (the operator's {@link AdminOp.InjectFault}). */
    FaultInjector faults();
  }

  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final long nodeId;
  private final String who;
  private final KvNodeConfig config;
  private final PlacementDriver placement;
  private final ReadPath reads;
  private final ReplicaHashChecks hashChecks;
  /** Holds the pins an operator's transfer puts on its target's leadership. */
  private final LeaderPlacement leaders;
  /** Refuses membership changes that would race a replica repair under way. */
  private final ReplicaRepair repairs;
  private final Node node;

  GroupCommands(String who, KvNodeConfig config, PlacementDriver placement, ReadPath reads,
      ReplicaHashChecks hashChecks, LeaderPlacement leaders, ReplicaRepair repairs, Node node) {
    this.nodeId = config.nodeId();
    this.who = who;
    this.config = config;
    this.placement = placement;
    this.reads = reads;
    this.hashChecks = hashChecks;
    this.leaders = leaders;
    this.repairs = repairs;
    this.node = node;
  }

  private static CompletableFuture<KvResponse> done(KvResponse r) {
    return CompletableFuture.completedFuture(r);
  }

  // ------------------------------------------------------------------ partition leader commands

  /** Executes a partition command at this node's replica of its partition (the caller's thread). */
  CompletableFuture<KvResponse> executeGroup(KvRequest.Group g, long deadline) {
    Replica r = node.replicas().get(g.partitionId());
    if (r == null) {
      return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + " hosts no replica of partition " + g.partitionId()));
    }
    KvRequest.GroupCommand c = g.command();
    if (c instanceof KvRequest.GroupCommand.ReportHash h) {
      return done(hashChecks.compareHash(r, h));
    }
    if (!r.isLeader()) {
      return done(r.leader == 0 ? KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "no leader") : node.notLeader(r));
    }
    if (c instanceof KvRequest.GroupCommand.ReadIndex) {
      r.touch();
      CompletableFuture<KvResponse> f = new CompletableFuture<>();
      boolean posted = node.post(() -> reads.serveReadIndex(r, f));
      if (!posted) {
        f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work"));
      }
      return f;
    }
    if (c instanceof KvRequest.GroupCommand.TransferLeader t) {
      return transferLeader(r, t.toNode(), deadline);
    }
    if (c instanceof KvRequest.GroupCommand.ChangeMember m) {
      KvResponse.Failure refused = repairs.refusal(r, m);
      return refused != null ? done(refused) : changeMember(r, m, deadline);
    }
    if (c instanceof KvRequest.GroupCommand.Split s) {
      return node.propose(r, new Command.Split(s.splitKey(), s.newPartitionId())).thenApply(o -> node.toResponse(r, o));
    }
    if (c instanceof KvRequest.GroupCommand.MergeInto m) {
      return placement.mergeInto(r, m.leftPartition(), deadline);
    }
    if (c instanceof KvRequest.GroupCommand.Absorb a) {
      return node.propose(r, new Command.Merge(a.rightPartition(), a.seed())).thenApply(o -> node.toResponse(r, o));
    }
    if (c instanceof KvRequest.GroupCommand.SetNodeState n) {
      return node.propose(r, new Command.SetNodeState(n.nodeId(), n.address(), n.decommissioning()))
          .thenApply(o -> node.toResponse(r, o));
    }
    return node.propose(r, new Command.CheckHash()).thenApply(o -> node.toResponse(r, o));
  }

  private CompletableFuture<KvResponse> transferLeader(Replica r, long to, long deadline) {
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    boolean posted = node.post(() -> {
      if (!r.confState.voters().contains(to)) {
        f.complete(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
            "node " + to + " is not a voter of partition " + r.groupId));
        return;
      }
      if (r.leader == to) {
        f.complete(new KvResponse.AdminDone(0));
        return;
      }
      if (leaders.isFenced(r, to)) {
        // Fenced, it does not campaign while it knows a leader (NodeRuntime#updatePromotable): the transfer could only fail.
        f.complete(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "node " + to + "'s replica of partition "
            + r.groupId + " is fenced (its state diverged from a quorum's) and cannot lead"));
        return;
      }
      r.raw.transferLeadership(to);
      node.everyTick(() -> {
        if (r.leader == to) {
          return f.complete(new KvResponse.AdminDone(0)) || true;
        }
        if (System.nanoTime() - deadline >= 0) {
          return f.complete(new KvResponse.Failure(KvResponse.Code.TIMEOUT,
              "leadership of partition " + r.groupId + " did not move to node " + to + " in time", r.groupId, 0, "", false))
              || true;
        }
        if (!r.isLeader() && r.leader != 0 && r.leader != to) {
          return f.complete(node.notLeader(r)) || true;
        }
        return false;
      });
    });
    if (!posted) {
      f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work"));
    }
    return f;
  }

  /**
   * One membership change at this leader, idempotent: a change already in effect answers at once.
   * Promotion waits until the learner has caught up with the commit index seen when it started.
   * Called directly (past {@link ReplicaRepair#refusal}) by a repair's own steps.
   */
  CompletableFuture<KvResponse> changeMember(Replica r, KvRequest.GroupCommand.ChangeMember m, long deadline) {
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    boolean posted = node.post(() -> {
      ConfState cs = r.confState;
      long id = m.nodeId();
      boolean done = switch (m.type()) {
        case ADD_VOTER -> cs.voters().contains(id) && !cs.isJoint();
        case ADD_LEARNER -> cs.learners().contains(id) || cs.voters().contains(id);
        // The removal of a node no member, but to come back by a repair, is proposed all the same
        // (a no-op for Raft): it cancels the rebuild (ReplicaRepair#afterChange).
        case REMOVE -> !cs.voters().contains(id) && !cs.learners().contains(id) && !cs.votersOutgoing().contains(id)
            && !rebuilding(r, id);
      };
      if (done) {
        f.complete(new KvResponse.AdminDone(0));
        return;
      }
      long target = r.commitIndex;
      BooleanSupplier attempt = () -> {
        if (f.isDone()) {
          return true;
        }
        if (!r.isLeader()) {
          return f.complete(node.notLeader(r)) || true;
        }
        if (System.nanoTime() - deadline >= 0) {
          return f.complete(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "membership change of node " + id
              + " in partition " + r.groupId + " not done in time", r.groupId, 0, "", true)) || true;
        }
        if (m.type() == ConfChangeType.REMOVE && m.minVoters() > 0 && (r.confState.isJoint()
            || r.confState.voters().size() - (r.confState.voters().contains(id) ? 1 : 0) < m.minVoters())) {
          // Placement's removal of a source replica: never below the replication factor.
          return f.complete(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "removing node " + id
              + " from partition " + r.groupId + " would leave fewer than " + m.minVoters() + " voters "
              + r.confState.voters())) || true;
        }
        if (m.type() == ConfChangeType.ADD_VOTER) {
          Status.FollowerProgress pr = r.raw.status().progress().get(id);
          if (pr == null || pr.matchIndex() < target) {
            return false; // the learner is still catching up
          }
        }
        ConfChange cc = new ConfChange(List.of(new ConfChange.Single(m.type(), id)), ConfChange.Transition.AUTO,
            m.address().getBytes(StandardCharsets.UTF_8));
        long index;
        try {
          index = r.raw.proposeConfChange(cc);
        } catch (ProposalDroppedException e) {
          return false; // another change is pending: try again next tick
        }
        CompletableFuture<PartitionStateMachine.Outcome> applied = new CompletableFuture<>();
        r.proposals.put(index, new Replica.Proposal(r.term, applied));
        applied.thenAccept(o -> f.complete(node.toResponse(r, o)));
        return true;
      };
      if (!attempt.getAsBoolean()) {
        node.everyTick(attempt);
      }
    });
    if (!posted) {
      f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work"));
    }
    return f;
  }

  /** Whether a repair is to add node {@code id} back to {@code r}'s partition ({@link ReplicaRepair#afterChange}). */
  private static boolean rebuilding(Replica r, long id) {
    ReplicaRepair.Rebuild b = r.rebuilding;
    return b != null && b.node() == id;
  }

  /** Sends a partition command to the partition's leader (here or a peer). */
  private CompletableFuture<KvResponse> groupCall(long p, KvRequest.GroupCommand c, long deadline) {
    Replica r = node.replicas().get(p);
    if (r == null) {
      long to = placement.leaderOf(p);
      if (to == 0 || to == nodeId) {
        return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + " hosts no replica of partition " + p));
      }
      return node.forward(to, new KvRequest.Group(p, c), deadline, true).thenApply(resp -> {
        if (resp instanceof KvResponse.Failure f && f.code() == KvResponse.Code.NOT_LEADER) {
          placement.hintLeader(p, f.hint());
        }
        return resp;
      });
    }
    if (r.isLeader()) {
      return executeGroup(new KvRequest.Group(p, c), deadline);
    }
    long leader = r.leader;
    if (leader == 0) {
      return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "partition " + p + " has no leader right now"));
    }
    return node.forward(leader, new KvRequest.Group(p, c), deadline, true);
  }

  /** {@link #groupCall} retried with backoff on retryable failures until the deadline. */
  CompletableFuture<KvResponse> groupCallRetrying(long p, KvRequest.GroupCommand c, long deadline) {
    return groupCallRetrying(p, c, deadline, () -> null);
  }

  /**
   * As {@link #groupCallRetrying(long, KvRequest.GroupCommand, long)}, but before each retry asks
   * {@code giveUp}: a non-null answer ends the call with it (the call's target went away for good).
   */
  CompletableFuture<KvResponse> groupCallRetrying(long p, KvRequest.GroupCommand c, long deadline,
      Supplier<KvResponse> giveUp) {
    CompletableFuture<KvResponse> result = new CompletableFuture<>();
    retryGroupCall(p, c, deadline, giveUp, result, 1, false);
    return result;
  }

  /**
   * One attempt of {@link #groupCallRetrying}. {@code mayHaveApplied}: an earlier attempt may have
   * taken effect (its leader proposed the command, then lost leadership; its forwarded request was
   * lost), so the call's failure is unknown, whatever the last attempt met (as a client's call's is).
   */
  private void retryGroupCall(long p, KvRequest.GroupCommand c, long deadline, Supplier<KvResponse> giveUp,
      CompletableFuture<KvResponse> result, int attempt, boolean mayHaveApplied) {
    groupCall(p, c, deadline).whenComplete((r, e) -> {
      KvResponse resp = e != null ? node.failureOf(e) : r;
      boolean unknown = mayHaveApplied || resp instanceof KvResponse.Failure f && f.outcomeUnknown();
      KvResponse instead = resp instanceof KvResponse.Failure fl && fl.retryable() ? giveUp.get() : null;
      if (instead != null) {
        result.complete(instead);
      } else if (resp instanceof KvResponse.Failure fl && fl.retryable() && System.nanoTime() - deadline < 0
          && node.running()) {
        long delay = Math.min(200, 5L << Math.min(attempt, 6));
        try {
          node.scheduler().schedule(() -> retryGroupCall(p, c, deadline, giveUp, result, attempt + 1, unknown), delay,
              TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closed) {
          result.complete(unknown ? fl.withOutcomeUnknown() : fl);
        }
      } else {
        result.complete(unknown && resp instanceof KvResponse.Failure fl ? fl.withOutcomeUnknown() : resp);
      }
    });
  }

  // ------------------------------------------------------------------ admin

  /** Runs an operator's call received by this node (the caller's thread). */
  CompletableFuture<KvResponse> admin(AdminOp op, long deadline) {
    if (op instanceof AdminOp.TransferLeader t) {
      return transferLeaderTo(t, deadline);
    }
    if (op instanceof AdminOp.AddNode a && config.replicationFactor() > 0 && !a.learnerOnly()) {
      HostPort.parse("address", a.address());
      return placement.register(a.nodeId(), a.address(), deadline);
    }
    if (op instanceof AdminOp.Decommission d) {
      return placement.decommission(d.nodeId(), deadline);
    }
    if (op instanceof AdminOp.Merge m) {
      return placement.merge(m.key(), deadline);
    }
    if (op instanceof AdminOp.AddNode a) {
      HostPort.parse("address", a.address());
      CompletableFuture<KvResponse> f = forEachPartition(
          new KvRequest.GroupCommand.ChangeMember(ConfChangeType.ADD_LEARNER, a.nodeId(), a.address()), deadline,
          false);
      if (a.learnerOnly()) {
        return f;
      }
      return f.thenCompose(r -> r instanceof KvResponse.Failure ? done(r) : forEachPartition(
          new KvRequest.GroupCommand.ChangeMember(ConfChangeType.ADD_VOTER, a.nodeId(), a.address()), deadline,
          true));
    }
    if (op instanceof AdminOp.Promote pr) {
      return forEachPartition(new KvRequest.GroupCommand.ChangeMember(ConfChangeType.ADD_VOTER, pr.nodeId(),
          node.members().getOrDefault(pr.nodeId(), "")), deadline, false);
    }
    if (op instanceof AdminOp.RemoveNode rm) {
      if (!node.isMemberAnywhere(rm.nodeId())
          && node.replicas().values().stream().noneMatch(x -> rebuilding(x, rm.nodeId()))) {
        // Not a silent success: an operator who mistyped the id must hear that nothing happened.
        return done(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "node " + rm.nodeId()
            + " is not a member of any partition (never added, or already removed); members: "
            + new TreeSet<>(node.members().keySet())));
      }
      return forEachPartition(new KvRequest.GroupCommand.ChangeMember(ConfChangeType.REMOVE, rm.nodeId(), ""), deadline,
          false);
    }
    if (op instanceof AdminOp.Split s) {
      OptionalLong p = node.routing().route(s.splitKey());
      if (p.isEmpty()) {
        return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + " hosts no partition for the split key"));
      }
      if (!(node.routing().snapshot().get(p.getAsLong()) instanceof KeySpan.Range)) {
        return done(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "hash partitions cannot be split"));
      }
      long id;
      do {
        id = ThreadLocalRandom.current().nextLong(1L << 20, 1L << 62);
      } while (node.replicas().containsKey(id));
      return groupCallRetrying(p.getAsLong(), new KvRequest.GroupCommand.Split(s.splitKey(), id), deadline);
    }
    AdminOp.InjectFault fault = (AdminOp.InjectFault) op;
    if (fault.nodeId() == nodeId) {
      applyFault(fault.fault());
      return done(new KvResponse.AdminDone(0));
    }
    return node.forward(fault.nodeId(), new KvRequest.Admin(op), deadline, true);
  }

  /**
   * An operator's transfer: refused at once when the partition or the voter does not exist (in
   * this node's view), else run by the target node itself, which pins the partition against its
   * own leader balancing (it is the node that would hand the leadership away again) and asks the
   * partition's leader to transfer.
   */
  private CompletableFuture<KvResponse> transferLeaderTo(AdminOp.TransferLeader t, long deadline) {
    long p = t.partitionId();
    long to = t.toNode();
    Replica r = node.replicas().get(p);
    if (r == null) {
      return done(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "there is no partition " + p
          + " (partitions: " + new TreeSet<>(node.replicas().keySet()) + ")"));
    }
    Set<Long> voters = r.confState.voters();
    if (!voters.contains(to)) {
      return done(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "node " + to
          + " is not a voter of partition " + p + " (voters: " + new TreeSet<>(voters) + ")"));
    }
    if (to != nodeId) {
      return node.forward(to, new KvRequest.Admin(t), deadline, true);
    }
    long pin = System.nanoTime() + config.leaderPinDuration().toNanos();
    leaders.pin(p, pin);
    return groupCallRetrying(p, new KvRequest.GroupCommand.TransferLeader(to), deadline).thenApply(resp -> {
      if (resp instanceof KvResponse.Failure f && !f.outcomeUnknown() && f.code() != KvResponse.Code.TIMEOUT) {
        // The call changed nothing, as its answer says (a TIMEOUT is unknown to the caller: the
        // target may still take over): not even the pin, which would keep a later leadership of
        // this node that no operator placed from balancing for the pin's duration.
        leaders.unpin(p, pin);
      }
      return resp;
    });
  }

  /**
   * Runs {@code c} in each partition in turn, up to the first failure. A failure after a partition
   * (or, {@code changedBefore}, an earlier step of the call) succeeded says its outcome is unknown:
   * the call did not take effect everywhere, but it may have somewhere.
   */
  private CompletableFuture<KvResponse> forEachPartition(KvRequest.GroupCommand c, long deadline,
      boolean changedBefore) {
    CompletableFuture<KvResponse> chain = done(null);
    for (long p : new TreeSet<>(node.replicas().keySet())) {
      chain = chain.thenCompose(prev -> prev instanceof KvResponse.Failure ? done(prev)
          : groupCallRetrying(p, c, deadline).thenApply(r -> r instanceof KvResponse.Failure f
              && (prev != null || changedBefore) ? f.withOutcomeUnknown() : r));
    }
    return chain.thenApply(r -> r == null ? new KvResponse.AdminDone(0) : r);
  }

  @SuppressWarnings("unchecked")
  private void applyFault(Fault f) {
    FaultInjector fi = node.faults();
    if (f instanceof Fault.Partition p) {
      fi.partition(p.sides().toArray(Set[]::new));
    } else if (f instanceof Fault.BlockOneWay b) {
      fi.blockOneWay(b.from(), b.to());
    } else if (f instanceof Fault.DropRate d) {
      fi.dropRate(d.from(), d.to(), d.probability());
    } else if (f instanceof Fault.Delay d) {
      fi.delay(d.from(), d.to(), d.delay());
    } else {
      fi.heal();
    }
    log.info("{}: fault injected: {}", who, f);
  }
}
