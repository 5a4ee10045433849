package io.quorumkv;

import static io.quorumkv.NodeRuntime.NODE_HEARTBEAT_GROUP;
import static io.quorumkv.NodeRuntime.QUIESCE_CONTEXT;
import static io.quorumkv.NodeRuntime.holdsQuorum;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.StateRole;
import io.quorumkv.raft.Status;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Quiescence of idle partitions (docs/architecture.md, "Quiescence of idle partitions"): a leader
 * stops ticking a partition that has nothing left to do and tells its members with a quiesce
 * notice ({@link #maybeQuiesce}, {@link #onQuiesceNotice}); every node sends each peer one
 * node-level heartbeat per heartbeat interval instead ({@link #sendNodeHeartbeats}). A quiesced
 * partition wakes when, on a follower, its leader's node goes quiet, or, on the leader, a member
 * left out because its node was down is heard from again ({@link #staysQuiesced}); and whenever
 * anything asks it to work ({@link #wake}).
 *
 * <p>Separate from {@link NodeRuntime} because it is one policy with its own state (when each
 * peer's node was last heard from) that the loop only consults: whether to tick a group, and
 * whether it must wake. All of it runs on the Raft loop except {@link #heardFrom}, which the
 * transport's I/O threads call for every node-level heartbeat.
 */
final class Quiescence {

  /** What quiescence needs of its node. */
  interface Node {
    /** loop: the Raft loop's tick count. */
    long ticks();

    /** loop: whether the log sync is stalled (a stalled node quiesces nothing). */
    boolean syncStalled();

    /** The members' addresses this node knows, by node id (live view). */
    Map<Long, String> members();

    /** loop: queues {@code m} of group {@code g} for the end of the loop's turn. */
    void queueSend(long g, Message m);
  }

  private final long nodeId;
  private final KvNodeConfig config;
  private final Node node;
  /** I/O threads: System.nanoTime() of the last node-level heartbeat from each peer. */
  private final Map<Long, Long> nodeHeartbeatNanos = new ConcurrentHashMap<>();

  Quiescence(KvNodeConfig config, Node node) {
    this.nodeId = config.nodeId();
    this.config = config;
    this.node = node;
  }

  /** I/O thread: peer {@code n} sent a node-level heartbeat now. */
  void heardFrom(long n) {
    nodeHeartbeatNanos.put(n, System.nanoTime());
  }

  /** loop, each tick: every heartbeat interval, one node-level heartbeat to each peer. */
  void sendNodeHeartbeats() {
    // sent whatever this node's own quiescence setting: its peers' quiescence counts on it
    if (node.ticks() % config.heartbeatTicks() == 0) {
      for (long peer : node.members().keySet()) {
        if (peer != nodeId) {
          node.queueSend(NODE_HEARTBEAT_GROUP, new Message.Heartbeat(nodeId, peer, 0, 0, 0));
        }
      }
    }
  }

  /**
   * loop, on a tick of a quiesced group: whether it stays quiesced (and is not ticked). If not, it
   * is woken and ticks again.
   */
  boolean staysQuiesced(Replica r, long now) {
    if (r.isLeader() ? !anyNodeAlive(r.quiescedWithout, now) : nodeAlive(r.leader, now)) {
      return true;
    }
    // A leader: a member left behind because its node was down is back, catch it up. A
    // follower: the leader's node went quiet, time out as usual and elect another if need be.
    wake(r);
    return false;
  }

  /**
   * loop, on a tick of a leader: quiesces the group if it has been idle for a few heartbeats (no
   * new commit index, no read) and has nothing left to do: every member has every entry,
   * everything is applied, no read, proposal, transfer or snapshot is pending. Then tells every
   * member, which stops its election timer while this node's node-level heartbeat keeps coming.
   * Returns whether the group is now quiesced (and must not be ticked).
   *
   * <p>A member whose node sent no node-level heartbeat for an election timeout is down: it is
   * left out of "every member" (CockroachDB quiesces past members that node liveness says are
   * dead), as long as the members that have every entry are a quorum of each voter set. Otherwise
   * one down node would keep every partition it hosts awake, each heartbeating every interval. The
   * leader wakes the group when such a member's node is heard from again
   * ({@link #staysQuiesced}), to catch it up; the member's own election timeout, if it comes
   * first, wakes the group too.
   */
  boolean maybeQuiesce(Replica r, long now) {
    long ticks = node.ticks();
    long commit = r.commitIndex;
    if (r.read) {
      // Reads leave the commit index alone: a partition that is only read stays awake, so its
      // leader keeps its lease (a woken leader has none for an election timeout).
      r.read = false;
      r.activeAtTick = ticks;
      return false;
    }
    if (commit != r.activeCommit) {
      r.activeCommit = commit;
      r.activeAtTick = ticks;
      return false;
    }
    // Two heartbeat rounds at the final commit index first: the followers know it.
    if (ticks - r.activeAtTick < 2L * config.heartbeatTicks() + 1 || node.syncStalled() || r.installing
        || !r.readIndexWaiting.isEmpty() || !r.proposals.isEmpty()) {
      return false;
    }
    Status st = r.raw.status();
    long last = st.lastIndex();
    boolean idle = st.hardState().commit() == last && st.applied() == last && r.appliedIndex == last
        && st.leadTransferee() == RaftConfig.NONE && !st.progress().isEmpty();
    Set<Long> caughtUp = new HashSet<>();
    Set<Long> down = new HashSet<>();
    for (var e : st.progress().entrySet()) {
      Status.FollowerProgress p = e.getValue();
      long member = e.getKey();
      if (member == nodeId
          || (p.matchIndex() == last && p.state() == Status.ReplicationState.REPLICATE && p.inflight() == 0)) {
        caughtUp.add(member);
      } else if (!nodeAlive(member, now)) {
        down.add(member);
      } else {
        idle = false;
      }
    }
    ConfState conf = st.confState();
    idle &= holdsQuorum(caughtUp, conf.voters()) && holdsQuorum(caughtUp, conf.votersOutgoing());
    if (!idle) {
      r.activeAtTick = ticks; // look again a few ticks later
      return false;
    }
    r.quiesced = true;
    r.quiescedWithout = down;
    r.leaseUntilNanos = Long.MIN_VALUE;
    for (long peer : caughtUp) {
      if (peer != nodeId) {
        node.queueSend(r.groupId, new Message.Heartbeat(nodeId, peer, st.hardState().term(), last, QUIESCE_CONTEXT));
      }
    }
    return true;
  }

  /** loop: whether node {@code n} sent a node-level heartbeat (or a quiesce notice) within an election timeout. */
  private boolean nodeAlive(long n, long now) {
    return heardWithin(n, now, config.electionTimeout().toNanos());
  }

  /** Whether node {@code n} sent a node-level heartbeat within {@code nanos} of {@code now} (also repairs'). */
  boolean heardWithin(long n, long now, long nanos) {
    Long seen = nodeHeartbeatNanos.get(n);
    return seen != null && now - seen <= nanos;
  }

  private boolean anyNodeAlive(Set<Long> nodes, long now) {
    for (long n : nodes) {
      if (nodeAlive(n, now)) {
        return true;
      }
    }
    return false;
  }

  /**
   * loop: the leader of {@code r} says it quiesced the group. A follower that knows the sender as
   * its leader in that term and whose log ends at the notice's commit index stops ticking the
   * group. If it does not (yet), it steps the notice as a plain heartbeat first (a new term or
   * commit index arrives with it) and checks again; a follower that still does not match keeps
   * ticking, and its election timeout, stopped by nobody's heartbeat, wakes the leader in time.
   */
  void onQuiesceNotice(Replica r, long from, Message.Heartbeat h) {
    if (!followsQuiescedLeader(r.raw.status(), from, h)) {
      r.raw.step(new Message.Heartbeat(h.from(), h.to(), h.term(), h.commit(), 0));
    }
    if (config.quiesceIdleGroups() && !r.installing && followsQuiescedLeader(r.raw.status(), from, h)) {
      nodeHeartbeatNanos.put(from, System.nanoTime()); // the notice itself shows the node alive
      r.quiesced = true;
    } else if (r.quiesced) {
      wake(r);
    }
  }

  private static boolean followsQuiescedLeader(Status st, long from, Message.Heartbeat h) {
    return st.softState().role() == StateRole.FOLLOWER && st.softState().leader() == from
        && st.hardState().term() == h.term() && st.hardState().commit() == h.commit() && st.lastIndex() == h.commit();
  }

  /** loop: the group ticks again. A leader serves no lease read until it ticked one election timeout. */
  void wake(Replica r) {
    long ticks = node.ticks();
    r.quiesced = false;
    r.quiescedWithout = Set.of();
    r.activeAtTick = ticks;
    r.leaseResumesAtTick = ticks + config.electionTicks();
  }
}
