package io.quorumkv;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.RawNode;
import io.quorumkv.raft.StateRole;
import io.quorumkv.storage.LogStore;
import io.quorumkv.storage.StateMachineStore;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.PriorityBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * This node's replica of one partition: its Raft core, its log and state machine, and the calls
 * waiting on it.
 *
 * <p>Threads: {@link #raw} and the fields marked "loop" belong to the Raft loop thread; the state
 * machine to the applier thread; the volatile fields are published for every other thread (request
 * routing, status).
 */
final class Replica {

  final long groupId;
  final LogStore log;
  final StateMachineStore smStore;
  /** loop */
  RawNode raw;
  /** applier (replaced after a snapshot install) */
  volatile PartitionStateMachine sm;

  volatile long leader;
  /**
   * loop: the last leader this replica knew of: {@link #leader} while there is one, the one before
   * while an election runs (leader balancing counts a partition being handed over at its old
   * leader until the new one is known, see {@link LeaderPlacement}).
   */
  long lastKnownLeader;
  volatile long term;
  volatile StateRole role = StateRole.FOLLOWER;
  volatile long commitIndex;
  volatile long appliedIndex;
  volatile ConfState confState;
  volatile long lastLeaderContactNanos = System.nanoTime();
  /**
   * Published by the loop: until when ({@link System#nanoTime}) this leader's lease covers a lease
   * read without a trip through the loop; {@link Long#MIN_VALUE} when it does not.
   */
  volatile long leaseUntilNanos = Long.MIN_VALUE;

  /**
   * A replica created again after this node destroyed one of the same partition casts no vote
   * until it has applied this index (the old log's end; see {@link Tombstones}); 0 otherwise.
   */
  volatile long quarantinedBelow;

  /** loop: the term and vote of the last hard state handed to the log writer. */
  long submittedTerm;
  long submittedVote;

  /** loop: a snapshot is being installed; no Ready is taken until it is done. */
  boolean installing;
  /** loop: a leadership transfer was started because of a stalled sync. */
  boolean stallTransferStarted;
  /**
   * loop: the group is quiesced: not ticked, so a leader sends no heartbeat and a follower never
   * times out (see {@link Quiescence}). Read by other threads only for status and tests.
   */
  volatile boolean quiesced;
  /**
   * loop: on a quiesced leader, the members left behind because their nodes were down when it
   * quiesced; the group wakes when one of them is heard from again. Empty otherwise.
   */
  Set<Long> quiescedWithout = Set.of();
  /** Set by any thread that serves or starts a read on this leader; cleared by the loop's quiescence check. */
  volatile boolean read;
  /** loop: the tick of the group's last sign of activity (a new commit index, a read, a wake-up). */
  long activeAtTick;
  /** loop: the commit index seen at {@link #activeAtTick}'s last update. */
  long activeCommit = -1;
  /**
   * loop: no lease read before this tick: the group's ticks stopped while it was quiesced, so the
   * Raft core's evidence of a quorum's recent answers is as old as the quiescence.
   */
  long leaseResumesAtTick;
  /** loop: the commit index when the last replica hash check was proposed here. */
  long hashCheckedAtCommit = -1;
  /**
   * The index at which this replica's state hash was found to differ from a quorum's, or 0. While
   * set, the replica serves no read from its state, does not campaign unless its partition has
   * been leaderless for long (its Raft core is kept unpromotable: {@link NodeRuntime#syncPromotable}),
   * and, as leader, hands its leadership away
   * (ReplicaHashChecks#compareHash) and answers no client write from its state
   * ({@link Proposal#answer}). Kept on disk too, and set again when the replica opens
   * ({@link Tombstones#fencedAt}). Written by request threads (a check's verdict) and the applier
   * (opened, or cleared by a snapshot install), read by any.
   */
  volatile long divergedAt;
  /**
   * loop: ticks of this replica's Raft core since it last knew a leader in contact (a message from
   * it, a new leader learnt) or led itself; a fenced replica campaigns only once it is large
   * ({@link NodeRuntime#syncPromotable}).
   */
  int ticksWithoutLeader;
  /** loop: what its Raft core was last told ({@link RawNode#setPromotable}). */
  boolean promotable;
  /** Leader: followers' reported hashes, index -> node -> hash, to attribute a mismatch by majority. */
  final Map<Long, Map<Long, Long>> hashReports = new ConcurrentHashMap<>();
  /** Leader: followers it told they diverged (last in line for a leadership transfer, and repaired: ReplicaRepair). */
  final Set<Long> divergedFollowers = ConcurrentHashMap.newKeySet();
  /**
   * loop: a node removed to rebuild its diverged replica, to be added back (recorded by every
   * replica that applies the removal, so a later leader finishes the repair); null otherwise.
   */
  volatile ReplicaRepair.Rebuild rebuilding;
  /** applier: the index the log was last compacted through (by a compaction or a snapshot). */
  long compactedIndex;
  /** applier: bytes of the entries applied since the log was last compacted. */
  long appliedBytesSinceCompaction;
  /**
   * applier: the snapshot being taken in the background, or null. Whatever replaces or deletes
   * this replica's stored state waits for it first ({@link NodeRuntime#awaitSnapshot}).
   */
  java.util.concurrent.CompletableFuture<Void> snapshotting;
  /**
   * A follower needs a snapshot newer than the recorded one: set by the loop, cleared by the
   * snapshot thread once one is recorded (or failed), so the loop asks the applier only once.
   */
  volatile boolean snapshotWanted;
  /** Snapshot transfers to followers under way (the payload must stay until they end). */
  final java.util.concurrent.atomic.AtomicInteger snapshotsSending = new java.util.concurrent.atomic.AtomicInteger();

  /**
   * loop: client writes taken since the last Ready and their callers, proposed as one entry before
   * the next Ready (see NodeRuntime#flushWrites); their encoded size in {@link #pendingBytes}.
   */
  final List<Command.Write> pendingWrites = new ArrayList<>();
  final List<CompletableFuture<PartitionStateMachine.Outcome>> pendingCallers = new ArrayList<>();
  int pendingBytes;

  /**
   * The span and freeze the applier applied last, with the applied index they hold at (see
   * {@link AnswerAtCommit}); null before the state machine is open.
   */
  volatile AnswerAtCommit.AppliedSpan appliedSpan;
  /**
   * loop: the last index of this leader's log whose entry may change the span or freeze: every
   * entry it inherited when elected, then each non-write command it proposes. Writes proposed
   * after it are answered at commit only once the applier is past it ({@link AnswerAtCommit}).
   */
  long spanChangeBound = Long.MAX_VALUE;

  /** Proposals waiting for their entry to apply, by log index. */
  final Map<Long, Proposal> proposals = new ConcurrentHashMap<>();
  /** loop: ReadIndex requests waiting for their ReadState, by context. */
  final Map<Long, ReadWaiter> readIndexWaiting = new HashMap<>();
  /** LINEARIZABLE reads on this leader waiting for the Raft loop to ask for their read index. */
  final ConcurrentLinkedQueue<BatchedRead> readIndexQueue = new ConcurrentLinkedQueue<>();
  /** A loop task that drains {@link #readIndexQueue} is queued and has not started draining yet. */
  final AtomicBoolean readIndexPosted = new AtomicBoolean();
  /** FOLLOWER reads on this follower waiting to share the next read index asked of the leader. */
  final ReadBatcher<BatchedRead> followerReads = new ReadBatcher<>();
  /** Reads waiting for the state machine to reach their index. */
  final PriorityBlockingQueue<ReadWaiter> applyWaiting =
      new PriorityBlockingQueue<>(16, (a, b) -> Long.compare(a.index, b.index));

  Replica(long groupId, LogStore log, StateMachineStore smStore) {
    this.groupId = groupId;
    this.log = log;
    this.smStore = smStore;
    this.confState = smStore.confState();
  }

  /** Marks the partition as read from (keeps it from quiescing); a plain read first, so the hot path rarely writes. */
  void touch() {
    if (!read) {
      read = true;
    }
  }

  boolean isLeader() {
    return role == StateRole.LEADER;
  }

  /**
   * The callers of a proposed entry.
   *
   * @param term    the term the entry was proposed in: a different term at its index means it was
   *                overwritten
   * @param callers one per client write of the entry, in the entry's order (one for any other
   *                command); completed when the entry applies, or fails
   * @param knownAtCommit for each caller, whether it is answered {@link AnswerAtCommit#WRITTEN} as
   *                soon as the entry commits; null when none is
   * @param clientWrites whether the entry holds client writes (else one other command)
   */
  record Proposal(long term, List<CompletableFuture<PartitionStateMachine.Outcome>> callers, boolean[] knownAtCommit,
      boolean clientWrites) {

    Proposal(long term, CompletableFuture<PartitionStateMachine.Outcome> caller) {
      this(term, List.of(caller), null, false);
    }

    /**
     * What the callers are told of the entry, applied here as {@code applied}: that outcome,
     * unless the entry holds client writes and this replica is fenced ({@code fenced}: its state
     * diverged from a quorum's). A client write's outcome depends on the state it applies to (a
     * compareAndSet, a batch's expectations, the span, the session), and the partition's outcome is
     * the one the clean replicas computed, so a fenced replica tells its callers only that the write
     * applied with an outcome unknown here: {@link KvResponse.Code#TIMEOUT}, retryable with the same
     * sequence number. The retry reaches a clean leader (a fenced one takes no new write:
     * {@link NodeRuntime#propose}) and is answered from the client's session there
     * ({@link PartitionStateMachine}), which recorded the outcome the clean replicas computed when
     * they applied this entry.
     */
    PartitionStateMachine.Outcome answer(PartitionStateMachine.Outcome applied, boolean fenced) {
      if (!fenced || !clientWrites) {
        return applied;
      }
      return new PartitionStateMachine.Outcome.Rejected(KvResponse.Code.TIMEOUT, "the write applied, but this "
          + "replica's state diverged from the partition's, so its outcome here may be wrong; retry it");
    }

    /** Answers the callers whose outcome is known now the entry committed; returns how many. */
    int answerAtCommit() {
      int n = 0;
      for (int i = 0; i < callers.size(); i++) {
        if (knownAtCommit[i] && callers.get(i).complete(AnswerAtCommit.WRITTEN)) {
          n++;
        }
      }
      return n;
    }

    /** How many callers answered at commit (or to be) the applied outcome {@code o} contradicts. */
    int contradictions(PartitionStateMachine.Outcome o) {
      return AnswerAtCommit.contradictions(knownAtCommit, o);
    }

    /**
     * Completes every caller: each with its own write's outcome when {@code o} is a packed
     * entry's, else every one with {@code o} (a single command's outcome, or a failure of the
     * whole entry).
     */
    void complete(PartitionStateMachine.Outcome o) {
      if (o instanceof PartitionStateMachine.Outcome.Writes w) {
        if (w.each().size() != callers.size()) {
          throw new IllegalStateException("a packed entry of " + callers.size() + " writes applied as "
              + w.each().size() + " outcomes");
        }
        for (int i = 0; i < callers.size(); i++) {
          callers.get(i).complete(w.each().get(i));
        }
      } else {
        for (CompletableFuture<PartitionStateMachine.Outcome> c : callers) {
          c.complete(o);
        }
      }
    }
  }

  /** A read waiting for an index: first its ReadIndex answer, then the state machine. */
  static class ReadWaiter {
    final CompletableFuture<Long> ready = new CompletableFuture<>();
    final long startNanos = System.nanoTime();
    long index;

    ReadWaiter() {}

    ReadWaiter(long index) {
      this.index = index;
    }

    /** The ReadIndex answer arrived ({@link #index} is set); the state machine is not there yet. */
    void indexKnown() {}
  }

  /**
   * A read in a {@link ReadBatcher}.
   *
   * @param request  the Get or Scan
   * @param deadline its deadline ({@link System#nanoTime})
   * @param answer   completed with the answer
   */
  record BatchedRead(KvRequest request, long deadline, CompletableFuture<KvResponse> answer) {}
}
