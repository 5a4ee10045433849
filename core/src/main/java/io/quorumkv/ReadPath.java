package io.quorumkv;

import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.ReadState;
import io.quorumkv.storage.MemoryRead;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.StampedLock;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The read path of one node: how a get or scan of a partition hosted here is answered at its
 * {@link ReadConsistency} level, from the read index (or lease) to the answer read from the
 * replica's applied state. It owns the batching of ReadIndex requests (one per Raft-loop turn on
 * a leader, one outstanding per replica on a follower), lease reads and their after-the-read lease
 * check, follower and {@code STALE} reads, the wait for the state machine to reach a read's index,
 * and the checks around reading the state (the keys still the replica's, the replica still here).
 * {@link NodeRuntime} routes each request here and hands over the Raft core's {@link ReadState}s
 * and the applier's progress.
 *
 * <p>Threads, and what runs on each:
 * <ul>
 *   <li><b>any request thread</b> (a transport I/O thread, a caller of {@link KvNode}):
 *       {@link #leaderRead}, {@link #followerRead} and {@link #readLocal}. A lease read whose state
 *       is applied, and a {@code STALE} read, are served right there when the record is in
 *       memory; other reads are queued or posted.</li>
 *   <li><b>the Raft loop</b>: asking the Raft core for read indexes ({@link #startLeaderBatch},
 *       {@link #serveReadIndex}), the lease check of a lease read that had to go through the loop,
 *       {@link #releaseReadStates}. It serves the reads it releases from memory, never from disk.</li>
 *   <li><b>the applier</b>: {@link #releaseApplied} once it applied entries or installed a
 *       snapshot. The reads it releases are served on the read pool, never on the applier, so no
 *       write's answer waits behind a read ({@link #servesInPlace}).</li>
 *   <li><b>the read pool</b>: reads whose records may be on disk, and scans
 *       ({@link #serveLocalOrFailure}).</li>
 * </ul>
 * The replica's read queues are in {@link Replica} (their own thread rules are noted there).
 */
final class ReadPath {

  /**
   * What the read path needs of its node's Raft loop and request routing. {@link NodeRuntime}
   * implements it over its own state; the read path keeps no reference to the runtime.
   */
  interface Node {
    /**
     * Queues client work for the Raft loop; false when refused (stopped, or the inbox over its
     * bound). While the calling thread dispatches a multi, the task is collected into the multi's
     * one loop task instead.
     */
    boolean postExternal(Runnable task);

    /** As {@link #postExternal}, but posted on its own at once, never collected into a multi's task. */
    boolean postUncollected(Runnable task);

    /** loop: whether lease reads of {@code r} may be served at all now (no loop pause, stall or quiescence in the way). */
    boolean leaseUsable(Replica r);

    /** When ({@link System#nanoTime}) the loop's next tick is due: a lease valid now holds until then. */
    long nextTickNanos();

    /** loop: the index a lease read of {@code r} must find applied (the Raft core's commit index, published). */
    long leaseReadIndex(Replica r);

    /** The applier's thread (null before the node started). */
    Thread applierThread();

    /** The refusal naming {@code r}'s leader as this node knows it. */
    KvResponse.Failure notLeader(Replica r);

    /** The answer to a request that failed with {@code t}. */
    KvResponse failureOf(Throwable t);

    /** Sends {@code req} to node {@code to} and returns its answer (a failure if it cannot). */
    CompletableFuture<KvResponse> forward(long to, KvRequest req, long deadline, boolean isWrite);
  }

  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final long nodeId;
  private final String who;
  private final NodeMetrics metrics;
  /** For the test hook {@link NodeRuntime.Overrides#beforeRead}. */
  private final NodeRuntime.Overrides overrides;
  /** The node's replicas: a replica no longer there was removed (its reads fail, see {@link #stillHosted}). */
  private final Map<Long, Replica> replicas;
  /** The read pool: reads that may wait for the disk. */
  private final Executor readPool;
  private final Node node;
  /**
   * How many times a get reads the state optimistically before it reads it under the store's state
   * lock (on the read pool) or hands it to the read pool (on a thread that must not block): each
   * retry means a commit of the partition became visible during the read.
   */
  private static final int OPTIMISTIC_READS = 3;
  /** The context of each ReadIndex request this node makes (any group). */
  private final AtomicLong nextReadContext = new AtomicLong(1);

  ReadPath(long nodeId, NodeMetrics metrics, NodeRuntime.Overrides overrides, Map<Long, Replica> replicas,
      Executor readPool, Node node) {
    this.nodeId = nodeId;
    this.who = "node " + nodeId;
    this.metrics = metrics;
    this.overrides = overrides;
    this.replicas = replicas;
    this.readPool = readPool;
    this.node = node;
  }

  /**
   * A read on the leader: lease if asked and valid, else ReadIndex (no clock assumption). A lease
   * read whose state is applied and in memory is answered on the calling thread (a network I/O
   * thread), without a hand-off; other reads share ReadIndex requests ({@link #queueForReadIndex}).
   */
  CompletableFuture<KvResponse> leaderRead(Replica r, KvRequest inner, ReadConsistency level, long deadline) {
    r.touch();
    long published = r.leaseUntilNanos;
    if (level == ReadConsistency.LEASE && published != Long.MIN_VALUE && System.nanoTime() - published < 0) {
      // No trip through the loop: every write acknowledged before this read is at most the
      // commit index, which the loop publishes before the lease (leaseReadIndex) and before it
      // hands the entries to the applier.
      long commit = r.commitIndex;
      if (r.appliedIndex >= commit) {
        KvResponse answer = serveFromMemory(r, inner, ReadConsistency.LEASE);
        if (answer != null) {
          return keepIfInLease(r, inner, published, answer, deadline);
        }
      }
      CompletableFuture<KvResponse> f = new CompletableFuture<>();
      Replica.ReadWaiter w = new Replica.ReadWaiter(commit);
      w.ready.whenComplete((applied, e) -> serveLease(r, inner, published, e, f, deadline));
      awaitApplied(r, w);
      return f;
    }
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    if (level != ReadConsistency.LEASE) {
      queueForReadIndex(r, new Replica.BatchedRead(inner, deadline, f));
      return f;
    }
    boolean posted = node.postExternal(() -> {
      if (!r.isLeader()) {
        f.complete(node.notLeader(r));
        return;
      }
      if (node.leaseUsable(r) && r.raw.hasValidLease()) {
        long until = node.nextTickNanos();
        Replica.ReadWaiter w = new Replica.ReadWaiter(node.leaseReadIndex(r));
        w.ready.whenComplete((applied, e) -> serveLease(r, inner, until, e, f, deadline));
        awaitApplied(r, w);
        return;
      }
      queueForReadIndex(r, new Replica.BatchedRead(inner, deadline, f));
    });
    if (!posted) {
      f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work"));
    }
    return f;
  }

  /**
   * Queues a read on this leader for a clock-free read index. The reads queued until the Raft loop
   * gets to them share one ReadIndex request (one share of a heartbeat round) and are released
   * together: one loop task per batch, not per read. Rounds of earlier batches may still be in
   * flight; a read never joins one of them, since its batch's request is made after it arrived.
   */
  private void queueForReadIndex(Replica r, Replica.BatchedRead read) {
    r.readIndexQueue.add(read);
    // Posted directly, never collected with a multi's loop tasks: the flag must be cleared here if
    // the post is refused, or no read of this replica would post again.
    if (r.readIndexPosted.compareAndSet(false, true) && !node.postUncollected(() -> startLeaderBatch(r))) {
      r.readIndexPosted.set(false);
      failQueuedReads(r, KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work"));
    }
  }

  /** Answers every read still queued for a read index of {@code r} (the node closes, the replica goes). */
  private static void failQueuedReads(Replica r, KvResponse failure) {
    for (Replica.BatchedRead b; (b = r.readIndexQueue.poll()) != null; ) {
      b.answer().complete(failure);
    }
  }

  /** loop: asks the Raft core for one read index for every read queued so far. */
  private void startLeaderBatch(Replica r) {
    r.readIndexPosted.set(false); // before draining: a read queued after the drain posts again
    List<Replica.BatchedRead> batch = new ArrayList<>();
    for (Replica.BatchedRead b; (b = r.readIndexQueue.poll()) != null; ) {
      batch.add(b);
    }
    if (batch.isEmpty()) {
      return;
    }
    countBatch(batch);
    Replica.ReadWaiter w = new Replica.ReadWaiter();
    w.ready.whenComplete((applied, e) -> serveBatch(r, batch, ReadConsistency.LINEARIZABLE, e));
    if (replicas.get(r.groupId) != r) {
      w.ready.completeExceptionally(new NotLeaderNow(KvResponse.Failure.of(KvResponse.Code.NO_LEADER,
          "the replica of partition " + r.groupId + " on " + who + " was removed")));
      return;
    }
    if (!r.isLeader()) {
      w.ready.completeExceptionally(new NotLeaderNow(node.notLeader(r)));
      return;
    }
    requestReadIndex(r, w);
  }

  /**
   * A follower's batch's read index: once it is known (or can never be), the replica's next batch
   * may ask for its own. Either happens once; the batch is served when the state machine reaches
   * the index.
   */
  private static final class BatchWaiter extends Replica.ReadWaiter {
    private final AtomicBoolean finished = new AtomicBoolean();
    private final ReadBatcher<Replica.BatchedRead> batcher;
    private final Consumer<List<Replica.BatchedRead>> startNext;

    BatchWaiter(ReadBatcher<Replica.BatchedRead> batcher, Consumer<List<Replica.BatchedRead>> startNext) {
      this.batcher = batcher;
      this.startNext = startNext;
      ready.whenComplete((applied, e) -> indexKnown()); // failed, or applied without indexKnown
    }

    @Override
    void indexKnown() {
      if (finished.compareAndSet(false, true)) {
        batcher.done(startNext);
      }
    }
  }

  /** A batched read's answer when the node found it is not the partition's leader (not an error). */
  private static final class NotLeaderNow extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final transient KvResponse answer;

    NotLeaderNow(KvResponse answer) {
      super("not the leader", null, false, false);
      this.answer = answer;
    }
  }

  /**
   * A follower read: the leader's clock-free read index, then a local read once applied. Reads
   * arriving together share one request to the leader ({@link ReadBatcher}).
   */
  CompletableFuture<KvResponse> followerRead(Replica r, KvRequest inner, long deadline) {
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    r.followerReads.add(new Replica.BatchedRead(inner, deadline, f), batch -> startFollowerBatch(r, batch));
    return f;
  }

  private void startFollowerBatch(Replica r, List<Replica.BatchedRead> batch) {
    countBatch(batch);
    BatchWaiter w = new BatchWaiter(r.followerReads, b -> startFollowerBatch(r, b));
    w.ready.whenComplete((applied, e) -> serveBatch(r, batch, ReadConsistency.FOLLOWER, e));
    long leader = r.leader;
    if (leader == RaftConfig.NONE) {
      w.ready.completeExceptionally(new NotLeaderNow(
          KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "partition " + r.groupId + " has no leader right now")));
      return;
    }
    long deadline = Long.MAX_VALUE;
    for (Replica.BatchedRead b : batch) {
      deadline = Math.min(deadline, b.deadline()); // the answer is useless to every read after the first expires
    }
    node.forward(leader, new KvRequest.Group(r.groupId, new KvRequest.GroupCommand.ReadIndex()), deadline, false)
        .whenComplete((resp, e) -> {
          if (e != null) {
            w.ready.completeExceptionally(e);
          } else if (resp instanceof KvResponse.AdminDone d) {
            w.index = d.value();
            w.indexKnown();
            awaitApplied(r, w);
          } else {
            w.ready.completeExceptionally(new NotLeaderNow(resp));
          }
        });
  }

  private void countBatch(List<Replica.BatchedRead> batch) {
    metrics.readBatches.increment();
    metrics.batchedReads.increment(batch.size());
  }

  /**
   * Serves a batch of reads whose read index is applied (or fails them all): on this thread those
   * whose records are in memory (see {@link #servesInPlace}), the rest in one read-pool task.
   * (Serving half of a large batch on the read pool, as a large multi is, took a third of the Raft
   * loop's CPU per read at 256 callers but served no more: benchmarks.md, finding 55.)
   */
  private void serveBatch(Replica r, List<Replica.BatchedRead> batch, ReadConsistency level, Throwable e) {
    if (e != null) {
      Throwable cause = Await.unwrap(e);
      KvResponse failure = cause instanceof NotLeaderNow n ? n.answer : node.failureOf(cause);
      batch.forEach(b -> b.answer().complete(failure));
      return;
    }
    List<Replica.BatchedRead> rest = batch;
    if (servesInPlace()) {
      rest = null;
      for (Replica.BatchedRead b : batch) {
        KvResponse answer = serveFromMemory(r, b.request(), level);
        if (answer != null) {
          b.answer().complete(answer);
        } else {
          if (rest == null) {
            rest = new ArrayList<>();
          }
          rest.add(b);
        }
      }
      if (rest == null) {
        return;
      }
    }
    List<Replica.BatchedRead> onPool = rest;
    try {
      readPool.execute(() -> {
        for (Replica.BatchedRead b : onPool) {
          b.answer().complete(serveLocalOrFailure(r, b.request(), level));
        }
      });
    } catch (RejectedExecutionException closed) {
      KvResponse failure = KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is closed");
      onPool.forEach(b -> b.answer().complete(failure));
    }
  }

  /**
   * Whether a read whose state is applied may be served on this thread when its record is in
   * memory: on any thread but the applier, which releases reads as it applies and would delay every
   * write's answer for them. (A Raft loop or I/O thread reading from memory never waits for the disk.)
   */
  private boolean servesInPlace() {
    return Thread.currentThread() != node.applierThread();
  }

  /** {@link #serveLocal} from memory only (null: not in memory), with a storage failure answered as one. */
  private KvResponse serveFromMemory(Replica r, KvRequest inner, ReadConsistency level) {
    try {
      return serveLocal(r, inner, level, true);
    } catch (RuntimeException e) {
      return node.failureOf(e);
    }
  }

  /** Serves a read whose state is applied (or fails it): here if it may and is in memory, else on the read pool. */
  private void serveAfter(Replica r, KvRequest inner, ReadConsistency level, Throwable e, CompletableFuture<KvResponse> f) {
    if (e != null) {
      f.complete(node.failureOf(e));
      return;
    }
    if (servesInPlace()) {
      KvResponse answer = serveFromMemory(r, inner, level);
      if (answer != null) {
        f.complete(answer);
        return;
      }
    }
    serveOnPool(r, inner, level, f);
  }

  private void serveOnPool(Replica r, KvRequest inner, ReadConsistency level, CompletableFuture<KvResponse> f) {
    try {
      readPool.execute(() -> f.complete(serveLocalOrFailure(r, inner, level)));
    } catch (RejectedExecutionException closed) {
      f.complete(KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is closed"));
    }
  }

  /**
   * Serves a lease read whose lease was found valid until {@code leaseUntilNanos}, and keeps the
   * answer only if the state was read before then (see {@link #keepIfInLease}).
   */
  private void serveLease(Replica r, KvRequest inner, long leaseUntilNanos, Throwable e, CompletableFuture<KvResponse> f,
      long deadline) {
    CompletableFuture<KvResponse> read = new CompletableFuture<>();
    serveAfter(r, inner, ReadConsistency.LEASE, e, read);
    // Completes once the state was read, so the clock read in keepIfInLease is past the moment of the read.
    read.thenCompose(resp -> keepIfInLease(r, inner, leaseUntilNanos, resp, deadline))
        .whenComplete((x, err) -> f.complete(err != null ? node.failureOf(err) : x));
  }

  /**
   * A lease read's answer, read from the state with a lease found valid until
   * {@code leaseUntilNanos}: kept only if the state was read before then. A check before reading
   * is not enough: a process paused (SIGSTOP, a long GC) between the check and the read wakes up
   * with a lease that lapsed while it slept, when another leader may already have taken writes.
   * Checking after the read proves the read happened inside the lease, whenever the pause fell. A
   * read that missed it goes through ReadIndex instead (no clock assumption). Call only once the
   * state was read.
   */
  private CompletableFuture<KvResponse> keepIfInLease(Replica r, KvRequest inner, long leaseUntilNanos, KvResponse answer,
      long deadline) {
    if (answer instanceof KvResponse.Failure || System.nanoTime() - leaseUntilNanos < 0) {
      return CompletableFuture.completedFuture(answer);
    }
    metrics.leaseReadsFallenBack.increment();
    return leaderRead(r, inner, ReadConsistency.LINEARIZABLE, deadline);
  }

  /** A STALE read: answered on the calling thread when its state is in memory, else on the read pool. */
  CompletableFuture<KvResponse> readLocal(Replica r, KvRequest inner, ReadConsistency level) {
    long applied = r.appliedIndex;
    if (applied < r.quarantinedBelow) {
      // Created again after this node destroyed a replica of the partition (see Tombstones): until
      // it holds what its predecessor did, its reads would go back from the ones that served.
      return CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "partition " + r.groupId
          + "'s replica here was created again and has applied " + applied + " of the " + r.quarantinedBelow
          + " entries its predecessor held; read elsewhere or later"));
    }
    KvResponse answer = serveFromMemory(r, inner, level);
    if (answer != null) {
      return CompletableFuture.completedFuture(answer);
    }
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    serveOnPool(r, inner, level, f);
    return f;
  }

  /** {@link #serveLocal}, with a failure of the storage answered as one rather than left hanging. */
  private KvResponse serveLocalOrFailure(Replica r, KvRequest inner, ReadConsistency level) {
    try {
      return serveLocal(r, inner, level, false);
    } catch (RuntimeException e) {
      return node.failureOf(e);
    }
  }

  /**
   * Reads this replica's applied state, after checking the keys are still its own. With
   * {@code memoryOnly} (on a thread that must not wait for the disk) a Get is answered only if its
   * record is in memory and a Scan never: then it returns null, and the caller reads on the pool.
   */
  private KvResponse serveLocal(Replica r, KvRequest inner, ReadConsistency level, boolean memoryOnly) {
    if (memoryOnly && !(inner instanceof KvRequest.Get)) {
      return null;
    }
    if (r.divergedAt != 0) {
      // A replica known to hold other state than a quorum's answers nothing from it: the client
      // goes to the leader (or waits for one that is not this replica).
      long leader = r.leader;
      return leader != RaftConfig.NONE && leader != nodeId ? node.notLeader(r)
          : KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "partition " + r.groupId + ": the replica on node "
              + nodeId + " diverged from a quorum's state at index " + r.divergedAt + " and serves no reads");
    }
    PartitionStateMachine sm = r.sm;
    KeySpan span = sm.span();
    if (sm.frozenInto() != 0) {
      return KvResponse.Failure.of(KvResponse.Code.WRONG_PARTITION,
          "partition " + r.groupId + " is merging into partition " + sm.frozenInto());
    }
    if (inner instanceof KvRequest.Get g) {
      if (span == null || !span.owns(g.key())) {
        return KvResponse.Failure.of(KvResponse.Code.WRONG_PARTITION, "the key moved (split) from partition " + r.groupId);
      }
      Duration since = Duration.ZERO;
      if (level == ReadConsistency.STALE && !r.isLeader()) {
        since = Duration.ofNanos(System.nanoTime() - r.lastLeaderContactNanos);
      }
      // The index of the state read, exactly: taken with the state under one optimistic read of
      // the store's state lock, which the store holds for writing while it makes a commit's state
      // and index visible. r.appliedIndex will not do: the applier raises it after the write, and
      // a split or hash entry writes the entries before it on their own (commitPrefix).
      StampedLock lock = sm.stateLock();
      Optional<byte[]> value = null;
      long applied = 0;
      for (int attempt = 0; attempt < OPTIMISTIC_READS && value == null; attempt++) {
        if (attempt > 0) {
          metrics.readsIndexRetried.increment();
        }
        long stamp = lock.tryOptimisticRead();
        if (stamp == 0) {
          Thread.onSpinWait(); // a commit is being made visible: one unsynced write
          continue;
        }
        applied = sm.storedIndex();
        beforeRead(r);
        if (memoryOnly) {
          if (!(sm.getInMemory(g.key()) instanceof MemoryRead.Found found)) {
            metrics.readsFromDisk.increment();
            return null;
          }
          value = found.value();
        } else {
          value = sm.get(g.key());
        }
        if (!lock.validate(stamp)) {
          value = null; // a commit became visible meanwhile: the value may be newer than applied
        }
      }
      if (value == null) {
        if (memoryOnly) {
          return null; // no blocking here: on the read pool, which may hold the applier back for one read
        }
        metrics.readsIndexLocked.increment();
        long stamp = lock.readLock();
        try {
          applied = sm.storedIndex();
          value = sm.get(g.key());
        } finally {
          lock.unlockRead(stamp);
        }
      }
      // Again: a split applied since the check, or a snapshot installed, may have deleted it here.
      // A split or merge replaces the span object, so the very span checked above still owns the
      // key: only a changed span is asked again (a hash span would hash the key a second time).
      if (sm.superseded() || sm.span() != span && !sm.span().owns(g.key())) {
        return movedDuringRead(r, sm, "key " + new String(g.key(), StandardCharsets.UTF_8), applied);
      }
      return stillHosted(r, new KvResponse.Read(new ReadResult(value, level, r.groupId, nodeId, applied, since)));
    }
    KvRequest.Scan s = (KvRequest.Scan) inner;
    byte[] from = s.from();
    byte[] to = s.to();
    if (span instanceof KeySpan.Range range) {
      if (!holds(range, from, to)) {
        return KvResponse.Failure.of(KvResponse.Code.WRONG_PARTITION,
            "the scanned range is no longer all in partition " + r.groupId + " " + range.describe());
      }
    } else if (span == null) {
      return KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "partition " + r.groupId + " is not initialised here");
    }
    long applied = r.appliedIndex; // for the log only: a scan reports no index
    beforeRead(r);
    List<KeyValue> entries = sm.scan(from, to, s.limit());
    if (sm.superseded() || span instanceof KeySpan.Range && !(sm.span() instanceof KeySpan.Range now && holds(now, from, to))) {
      return movedDuringRead(r, sm, "scan " + new KeySpan.Range(from, to).describe(), applied);
    }
    return stillHosted(r, new KvResponse.Scanned(entries));
  }

  /** Whether {@code range} holds all of {@code [from, to)}. */
  private static boolean holds(KeySpan.Range range, byte[] from, byte[] to) {
    byte[][] c = range.clamp(from, to);
    return c != null && Arrays.equals(c[0], from) && Arrays.equals(c[1], to);
  }

  /**
   * The answer to a read whose keys were in the replica's span when it checked, and no longer were
   * once it had read them: a split applied meanwhile moved them to the new partition, and deletes
   * them from this one when it is written, so the read may have found them gone. The applier
   * changes the span before it writes that deletion, so a read that saw the deletion sees the new
   * span when it looks again after reading. Likewise a snapshot installed meanwhile (on a follower)
   * replaced the store under the read's state machine {@code sm}, whose span may still own keys the
   * installed state no longer holds (a split this replica missed); {@code sm} is marked before the
   * store changes. Refused as a read arriving after the split is, and retried by the frontend
   * against the new partition. (Until 2026-11-28 it was answered, at any read level: a get said
   * "absent" for a key that held a value, a scan missed keys; {@code ReadPathTest}. A Jepsen run
   * whose {@code LINEARIZABLE} get answered nil is the suspected case, see docs/status.md.)
   */
  private KvResponse movedDuringRead(Replica r, PartitionStateMachine sm, String what, long applied) {
    metrics.readsMovedDuringRead.increment();
    String why = sm.superseded() ? "a snapshot install replaced the state" : "a split moved its keys away";
    log.info("{} group {}: a read ({}) checked its span at applied index {}, and {} before it read them "
        + "(span now {}); refused", who, r.groupId, what, applied, why, r.sm.span() == null ? "none" : r.sm.span().describe());
    return KvResponse.Failure.of(KvResponse.Code.WRONG_PARTITION,
        "partition " + r.groupId + " changed while the key was read (" + why + ")");
  }

  /** Runs the test hook {@link NodeRuntime.Overrides#beforeRead}, if set. */
  private void beforeRead(Replica r) {
    LongConsumer hook = overrides.beforeRead;
    if (hook != null) {
      hook.accept(r.groupId);
    }
  }

  /**
   * A read's answer, unless the replica was destroyed meanwhile (removed or merged away): its store
   * may then have been deleted under the read. The replica leaves {@link #replicas} before its store
   * is deleted, so a replica still there after the read was read whole.
   */
  private KvResponse stillHosted(Replica r, KvResponse answer) {
    return replicas.get(r.groupId) == r ? answer : KvResponse.Failure.of(KvResponse.Code.NO_LEADER,
        "the replica of partition " + r.groupId + " on " + who + " was removed during the read");
  }


  // ------------------------------------------------------------------ read indexes and the applier

  /** loop: asks the Raft core for a clock-free read index for {@code w}, answered in a later {@link ReadState}. */
  private void requestReadIndex(Replica r, Replica.ReadWaiter w) {
    long ctx = nextReadContext.getAndIncrement();
    r.readIndexWaiting.put(ctx, w);
    r.raw.readIndex(ctx, false);
  }

  /**
   * loop: answers {@code f} with a clock-free read index of {@code r}, this leader's half of a
   * follower read on another node ({@link KvRequest.GroupCommand.ReadIndex}).
   */
  void serveReadIndex(Replica r, CompletableFuture<KvResponse> f) {
    if (!r.isLeader()) {
      f.complete(node.notLeader(r));
      return;
    }
    requestReadIndex(r, new ReadIndexOnly(f));
  }

  /** A ReadIndex waiter answered with the confirmed index itself (for a follower read elsewhere). */
  private static final class ReadIndexOnly extends Replica.ReadWaiter {
    ReadIndexOnly(CompletableFuture<KvResponse> answer) {
      ready.whenComplete((x, e) -> answer.complete(e != null
          ? KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "leadership lost")
          : new KvResponse.AdminDone(index)));
    }
  }

  /** loop: hands the read indexes the Raft core confirmed (a Ready's {@link ReadState}s) to their reads. */
  void releaseReadStates(Replica r, List<ReadState> states) {
    for (ReadState rs : states) {
      Replica.ReadWaiter w = r.readIndexWaiting.remove(rs.context());
      if (w != null) {
        metrics.readIndexLatency.record(System.nanoTime() - w.startNanos, TimeUnit.NANOSECONDS);
        w.index = rs.index();
        w.indexKnown();
        awaitApplied(r, w);
      }
    }
  }

  /** Releases {@code w} once {@code r}'s state machine has applied its index: now, or when the applier gets there. */
  private void awaitApplied(Replica r, Replica.ReadWaiter w) {
    if (r.appliedIndex >= w.index) {
      w.ready.complete(r.appliedIndex);
      return;
    }
    r.applyWaiting.add(w);
    releaseApplied(r); // the applier may have moved on meanwhile
  }

  /**
   * Releases the reads of {@code r} whose index its state machine has reached: on the applier once
   * it applied entries or installed a snapshot, and on whichever thread queued a waiter.
   */
  static void releaseApplied(Replica r) {
    long applied = r.appliedIndex;
    while (true) {
      Replica.ReadWaiter w = r.applyWaiting.peek();
      if (w == null || w.index > applied) {
        return;
      }
      if (r.applyWaiting.remove(w)) {
        w.ready.complete(applied);
      }
    }
  }

  /**
   * Fails every read of {@code r} still waiting (the node closes, or the replica goes): those
   * waiting for the Raft core's read index (each with a {@code cause} of its own), for their index
   * to be applied (one {@code cause} for all), and those queued for the loop to ask for an index
   * (answered {@code queued}).
   */
  static void failWaiting(Replica r, Supplier<? extends RuntimeException> cause, KvResponse queued) {
    r.readIndexWaiting.values().forEach(w -> w.ready.completeExceptionally(cause.get()));
    r.readIndexWaiting.clear();
    RuntimeException t = cause.get();
    for (Replica.ReadWaiter w; (w = r.applyWaiting.poll()) != null; ) {
      w.ready.completeExceptionally(t);
    }
    failQueuedReads(r, queued);
  }
}
