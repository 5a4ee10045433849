package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's storage: one database serving every Raft group on the node (multi-raft), with a
 * {@link LogStore} and a {@link StateMachineStore} per group. Open it with
 * {@link #openRocksDb} (production) or {@link #openInMemory} (simulation and tests; same
 * contract, plus {@link MemoryDisk#crash()}).
 *
 * <p>Opening checks, and refuses with a {@link StorageStartupException} naming the problem: the
 * data directory's lock (one engine per directory, across processes), its cluster id, node id and
 * format version, and for every group that the log has no gap, that the state machine is neither
 * behind its own snapshot nor ahead of the log, and every record's checksum. An interrupted
 * snapshot install is finished.
 *
 * <p>Writes that must be durable go through {@link #write(LogBatch)} or, for group commit,
 * {@link GroupCommitLogWriter}. If a write fails (fsync error, full disk) the engine goes into the
 * failed state for good: see {@link StorageFailedException}. {@link #syncMonitor()} exposes every
 * sync's latency and the age of the one in progress, to detect a stalled disk.
 *
 * <p>Thread-safe. {@link #close()} after every other call has returned.
 */
public final class StorageEngine implements AutoCloseable {

  /** The on-disk format this code writes and reads. */
  public static final int FORMAT_VERSION = 1;

  private static final Logger LOG = LoggerFactory.getLogger(StorageEngine.class);

  private final Backend backend;
  private final BlobStore blobs;
  private final StorageOptions options;
  private final String clusterId;
  private final Runnable onClose;
  private final ConcurrentHashMap<Long, Group> groups = new ConcurrentHashMap<>();
  private final SyncMonitor syncMonitor = new SyncMonitor();
  /**
   * Serialises log writes and the publication of log views, which happens in write order. A
   * pipelined round (see {@link #writeRound}) is written under it and published under it later,
   * after a sync made without it.
   */
  private final ReentrantLock writeLock = new ReentrantLock();
  /** Signalled (under writeLock) when rounds are published or failed. */
  private final Condition roundsSettled = writeLock.newCondition();
  /** Serialises syncs, so the sync monitor times one at a time; taken after writeLock, never before. */
  private final ReentrantLock syncLock = new ReentrantLock();
  /** Pipelined rounds written and not yet published, in write order (under writeLock). */
  private final ArrayDeque<Round> unpublished = new ArrayDeque<>();
  /** Sequence numbers of the last round written and the last published (written under writeLock). */
  private long writtenRounds;
  private volatile long publishedRounds;
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  private long discardedSinceReclaim;
  private volatile boolean closed;

  StorageEngine(
      Backend backend, BlobStore blobs, String clusterId, StorageOptions options,
      Runnable onClose) {
    this.backend = backend;
    this.blobs = blobs;
    this.clusterId = clusterId;
    this.options = options;
    this.onClose = onClose;
    try {
      new Recovery(this).run();
    } catch (RuntimeException e) {
      closeQuietly();
      throw e;
    }
  }

  /**
   * Opens (creating if needed) the RocksDB-backed storage of a node in {@code dir}.
   *
   * @param dir       the node's data directory; holds META, a lock file, {@code db/} and
   *                  {@code snapshots/}
   * @param clusterId the cluster this node belongs to; a directory of another cluster is refused
   * @param options   tuning, and this node's id
   * @throws StorageStartupException if the directory is locked, foreign, of an unknown format or
   *                                 inconsistent
   */
  public static StorageEngine openRocksDb(Path dir, String clusterId, StorageOptions options) {
    return RocksBackend.openEngine(dir, clusterId, options);
  }

  /**
   * Opens the in-memory storage on a simulated disk. The disk keeps what was synced across
   * {@link MemoryDisk#crash()}; reopening runs the same checks as {@link #openRocksDb}.
   */
  public static StorageEngine openInMemory(
      MemoryDisk disk, String clusterId, StorageOptions options) {
    return disk.openEngine(clusterId, options);
  }

  /** The cluster id recorded in this node's data. */
  public String clusterId() {
    return clusterId;
  }

  /** The options this engine was opened with. */
  public StorageOptions options() {
    return options;
  }

  /**
   * The bound of one group's entry cache now: an equal share of the node's bound among the groups
   * this engine holds, at most the per-group bound.
   */
  long entryCacheBytesPerGroup() {
    return Math.min(options.entryCacheBytes(), options.nodeEntryCacheBytes() / Math.max(1, groups.size()));
  }

  /** The log of {@code groupId} (empty for a group never written). */
  public LogStore log(long groupId) {
    return group(groupId).log;
  }

  /** The state machine of {@code groupId}. */
  public StateMachineStore stateMachine(long groupId) {
    return group(groupId).stateMachine;
  }

  /**
   * A new empty batch of state machine applies, for staging several applies (of one group or
   * many) into one atomic write: see {@link ApplyBatch}.
   */
  public ApplyBatch newApplyBatch() {
    return new ApplyBatch(this);
  }

  /** A new empty batch. */
  public LogBatch newLogBatch() {
    return new LogBatch();
  }

  /**
   * Writes a batch with one fsync and publishes it to readers when the fsync returned.
   *
   * @throws IllegalArgumentException if the batch does not fit the logs (nothing is written)
   * @throws StorageFailedException   if the engine is failed, or the write failed
   */
  public void write(LogBatch batch) {
    RuntimeException error = commit(List.of(batch)).get(0);
    if (error != null) {
      throw error;
    }
  }

  /**
   * Creates a group with its initial membership, durably. Every initial member of a new group
   * bootstraps it with the same voters (see {@link io.quorumkv.raft.RawNode}).
   *
   * @throws IllegalStateException if the group already has a log, hard state or state
   */
  public void bootstrap(long groupId, ConfState initial) {
    bootstrap(List.of(groupId), initial);
  }

  /**
   * Creates several groups with the same initial membership in one synced write: after a crash
   * either all of them exist or none does (a node's first start creates all its initial groups so,
   * since a node that finds any group at start does not create the others).
   *
   * @throws IllegalStateException if any of the groups already has a log, hard state or state
   *                               (nothing is written)
   */
  public void bootstrap(Collection<Long> groupIds, ConfState initial) {
    List<Group> created = new ArrayList<>();
    for (long id : groupIds) {
      created.add(group(id));
    }
    writeLock.lock();
    try {
      checkUsable(() -> "bootstrap groups " + groupIds);
      settle();
      for (Group g : created) {
        if (!g.logView.isEmpty() || !g.smView.isEmpty()) {
          throw new IllegalStateException("group " + g.id + " already exists");
        }
      }
      try (Backend.Batch b = backend.newBatch()) {
        for (Group g : created) {
          byte[] key = Keys.meta(g.id, Keys.CONF_STATE);
          b.put(Backend.Cf.META, key, Codec.confState(key, 0, initial));
        }
        syncedWrite(b, 0, 0, 0);
      }
      for (Group g : created) {
        g.smView = new SmView(0, 0, 0, initial);
      }
    } finally {
      writeLock.unlock();
    }
  }

  /** Ids of the groups that have any data on this node, in order. */
  public Set<Long> groups() {
    Set<Long> ids = new TreeSet<>();
    for (Group g : groups.values()) {
      if (!g.logView.isEmpty() || !g.smView.isEmpty()) {
        ids.add(g.id);
      }
    }
    return ids;
  }

  /** Deletes every record and snapshot of a group, durably (a partition moved away). */
  public void deleteGroup(long groupId) {
    Group g = group(groupId);
    writeLock.lock();
    try {
      checkUsable(() -> "delete group " + groupId);
      settle();
      try (Backend.Batch b = backend.newBatch()) {
        byte[] from = Keys.group(groupId);
        byte[] to = Keys.group(groupId + 1);
        for (Backend.Cf cf : Backend.Cf.values()) {
          b.deleteRange(cf, from, to);
        }
        syncedWrite(b, 0, 0, 0);
      }
      g.cache.clear();
      g.logView = LogView.EMPTY;
      g.smView = SmView.EMPTY;
      deleteBlobsBelow(groupId, Long.MAX_VALUE);
      backend.reclaim(Backend.Cf.LOG, Keys.group(groupId), Keys.group(groupId + 1));
      backend.reclaim(Backend.Cf.STATE, Keys.group(groupId), Keys.group(groupId + 1));
    } finally {
      writeLock.unlock();
    }
  }

  /** Sync latency and stall detection. */
  public SyncMonitor syncMonitor() {
    return syncMonitor;
  }

  /** The error that put the engine into the failed state, if it is failed. */
  public Optional<Throwable> failure() {
    return Optional.ofNullable(failure.get());
  }

  /**
   * Bytes of log entries held in memory by all groups' entry caches (as counted by
   * {@link io.quorumkv.raft.Entry#sizeBytes()}): at most {@link StorageOptions#nodeEntryCacheBytes()},
   * and less when the driver lets go of entries it no longer needs
   * ({@link LogStore#dropCachedEntriesThrough}). For metrics and tests.
   */
  public long entryCacheBytes() {
    long total = 0;
    for (Group g : groups.values()) {
      total += g.cache.bytes();
    }
    return total;
  }

  /** Bytes the engine's database occupies on disk (RocksDB: SST and WAL files). */
  public long diskBytes() {
    return backend.diskBytes();
  }

  /** Table-file bytes the database has written since it opened (see {@link SstWrites}). */
  public SstWrites sstWrites() {
    return backend.sstWrites();
  }

  /** Closes the database and frees its native resources; idempotent. */
  @Override
  public void close() {
    writeLock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      roundsSettled.signalAll();
      for (Group g : groups.values()) {
        g.unpin();
      }
      closeQuietly();
    } finally {
      writeLock.unlock();
    }
  }

  private void closeQuietly() {
    try {
      backend.close();
    } finally {
      onClose.run();
    }
  }

  // ------------------------------------------------------------------ internals

  Group group(long groupId) {
    Keys.checkGroup(groupId);
    return groups.computeIfAbsent(groupId, id -> new Group(this, id));
  }

  Backend backend() {
    return backend;
  }

  BlobStore blobs() {
    return blobs;
  }

  /** Refuses {@code what} (described only when refused) once closed or failed. */
  void checkUsable(Supplier<String> what) {
    if (closed) {
      throw new IllegalStateException("storage engine is closed (" + what.get() + ")");
    }
    Throwable f = failure.get();
    if (f != null) {
      throw new StorageFailedException("storage failed earlier; refusing to " + what.get(), f);
    }
  }

  /** Puts the engine into the failed state; the first failure wins and is logged loudly. */
  StorageFailedException fail(String what, Throwable cause) {
    if (failure.compareAndSet(null, cause)) {
      LOG.error("storage FAILED while trying to {}; every further write will be refused", what,
          cause);
    }
    return new StorageFailedException("storage failed while trying to " + what, failure.get());
  }

  /**
   * Returns once every log write made so far has been published (or has failed): readers that
   * found the database ahead of the published view wait here instead of spinning through a sync.
   * A synced write publishes before it releases the write lock; a pipelined round is written
   * under it and published after its sync, so the wait is for the rounds written before the call.
   */
  void awaitCommitInProgress() {
    writeLock.lock();
    try {
      long target = writtenRounds;
      while (publishedRounds < target && failure.get() == null && !closed) {
        // bounded: an unsynced write failing elsewhere fails the engine without signalling
        roundsSettled.await(50, TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      writeLock.unlock();
    }
  }

  /**
   * A synced write, under the write lock: timed by the sync monitor; any error fails the engine.
   * It makes the pipelined rounds written before it durable too, so it publishes them.
   */
  void syncedWrite(Backend.Batch batch, int batchCount, int entries, long bytes) {
    syncAndPublish(() -> backend.write(batch, true), "sync a write of ", batchCount, entries, bytes);
  }

  /**
   * Under the write lock: makes every pipelined round written so far durable and published, so
   * an operation that reads and replaces published views directly starts from the written log.
   */
  private void settle() {
    if (writtenRounds == publishedRounds) {
      return;
    }
    int batchCount = 0;
    int entries = 0;
    long bytes = 0;
    for (Round r : unpublished) {
      batchCount += r.batches;
      entries += r.entries;
      bytes += r.bytes;
    }
    syncAndPublish(backend::sync, "sync ", batchCount, entries, bytes);
  }

  /**
   * Under the write lock: runs {@code sync}, timed; on success publishes every round written so
   * far, on failure fails the engine and every unpublished round, and throws.
   */
  private void syncAndPublish(Runnable sync, String what, int batchCount, int entries, long bytes) {
    Throwable error = timedSync(sync, batchCount, entries, bytes);
    if (error != null) {
      StorageFailedException f = fail(what + entries + " log entries", error);
      failUnpublished(f);
      throw f;
    }
    publishThrough(writtenRounds);
  }

  /** Runs a sync (or synced write) under the sync lock, timed; returns its error, if any. */
  private Throwable timedSync(Runnable sync, int batchCount, int entries, long bytes) {
    syncLock.lock();
    try {
      long start = syncMonitor.begin();
      try {
        sync.run();
      } catch (RuntimeException | Error e) {
        syncMonitor.end(start, batchCount, entries, bytes, e);
        return e;
      }
      syncMonitor.end(start, batchCount, entries, bytes, null);
      return null;
    } finally {
      syncLock.unlock();
    }
  }

  /** An unsynced write (state machine): ordered after earlier synced log writes. */
  void unsyncedWrite(Backend.Batch batch, Supplier<String> what) {
    try {
      backend.write(batch, false);
    } catch (RuntimeException | Error e) {
      throw fail(what.get(), e);
    }
  }

  /**
   * Validates each batch against the logs as the batches before it leave them, writes the valid
   * ones with one sync, then publishes the new log views. Returns, per batch, null when written or
   * the reason it was not.
   */
  List<RuntimeException> commit(List<LogBatch> batches) {
    writeLock.lock();
    try {
      return Arrays.asList(writeRoundLocked(batches, null, true).errors);
    } finally {
      writeLock.unlock();
    }
  }

  /**
   * The write stage of a pipelined log writer: validates each batch against the logs as every
   * batch written before it leaves them (published or not), writes the valid ones with one
   * unsynced write, then runs their {@code onWritten} (may be null, or hold nulls) in order. The
   * round's views are published by {@link #awaitDurable} once a sync covers it. Never throws: the
   * returned round carries each batch's error.
   */
  Round writeRound(List<LogBatch> batches, List<Runnable> onWritten) {
    writeLock.lock();
    try {
      return writeRoundLocked(batches, onWritten, false);
    } catch (RuntimeException e) {
      LOG.error("log writer could not write {} batches", batches.size(), e);
      return Round.failed(batches.size(), e);
    } finally {
      writeLock.unlock();
    }
  }

  private Round writeRoundLocked(List<LogBatch> batches, List<Runnable> onWritten, boolean sync) {
    Round r = new Round(batches.size());
    try {
      checkUsable(() -> "write to the log");
    } catch (RuntimeException e) {
      Arrays.fill(r.errors, e);
      return r;
    }
    try (Backend.Batch wb = backend.newBatch()) {
      for (int i = 0; i < batches.size(); i++) {
        LogBatch batch = batches.get(i);
        Map<Long, LogView> local = new HashMap<>();
        List<PendingWrite> pending = new ArrayList<>();
        List<Runnable> cached = new ArrayList<>();
        List<Runnable> after = new ArrayList<>();
        try {
          for (LogBatch.Op op : batch.ops()) {
            long id = op.groupId();
            // the latest written view: earlier rounds may still wait for their sync
            LogView cur = local.getOrDefault(id, r.views.getOrDefault(id, group(id).writtenView()));
            local.put(id, plan(op, cur, pending, cached, after));
          }
          for (Map.Entry<Long, LogView> e : local.entrySet()) {
            LogView v = e.getValue();
            if (v.hardState().commit() > v.lastIndex()) {
              throw new IllegalArgumentException(
                  "group " + e.getKey() + ": hard state commit " + v.hardState().commit()
                      + " is past the last log index " + v.lastIndex());
            }
          }
        } catch (IllegalArgumentException e) {
          r.errors[i] = e;
          continue;
        }
        for (PendingWrite p : pending) {
          p.addTo(wb);
        }
        r.views.putAll(local);
        r.cacheUpdates.addAll(cached);
        r.afterWrite.addAll(after);
        r.entries += batch.entryCount();
        r.bytes += batch.entryBytes();
        r.batches++;
      }
      if (r.batches == 0) {
        return r;
      }
      if (sync) {
        try {
          if (!wb.isEmpty()) {
            syncedWrite(wb, r.batches, r.entries, r.bytes);
          } else {
            settle(); // its views build on the rounds written before: those must be durable
          }
        } catch (StorageFailedException e) {
          r.failValid(e);
          return r;
        }
        r.seq = ++writtenRounds;
        unpublished.add(r);
        publishThrough(r.seq);
        return r;
      }
      if (!wb.isEmpty()) {
        try {
          backend.write(wb, false);
        } catch (RuntimeException | Error e) {
          r.failValid(fail("write " + r.entries + " log entries", e));
          return r;
        }
      }
      r.seq = ++writtenRounds;
      unpublished.add(r);
      for (Map.Entry<Long, LogView> e : r.views.entrySet()) {
        group(e.getKey()).written = e.getValue();
      }
      if (onWritten != null) {
        // under the write lock: a sync failure fails the engine under it too, so no callback
        // runs once the failure is known
        for (int i = 0; i < batches.size(); i++) {
          Runnable callback = onWritten.get(i);
          if (r.errors[i] == null && callback != null) {
            try {
              callback.run();
            } catch (RuntimeException e) {
              LOG.warn("onWritten callback threw; ignored", e);
            }
          }
        }
      }
      return r;
    }
  }

  /**
   * The sync stage of a pipelined log writer: one sync covering {@code rounds} (written by
   * {@link #writeRound}, in order), then publishes every round written up to the last of them, in
   * write order. Afterwards each round's errors say which batches are durable and published; a
   * failed sync fails the engine and every round not yet published.
   */
  void awaitDurable(List<Round> rounds) {
    Round last = null;
    int batchCount = 0;
    int entries = 0;
    long bytes = 0;
    for (Round r : rounds) {
      if (r.seq > 0) {
        last = r;
        batchCount += r.batches;
        entries += r.entries;
        bytes += r.bytes;
      }
    }
    if (last == null) {
      return;
    }
    Throwable error = null;
    boolean synced = false;
    // a failed engine syncs nothing more: what it has not published fails
    if (failure.get() == null && !closed && publishedRounds < last.seq) {
      error = timedSync(backend::sync, batchCount, entries, bytes);
      synced = error == null;
    }
    writeLock.lock();
    try {
      if (error != null) {
        failUnpublished(fail("sync " + entries + " log entries", error));
      } else if (synced) {
        publishThrough(last.seq);
      } else if (publishedRounds < last.seq) {
        Throwable f = failure.get();
        failUnpublished(f != null
            ? new StorageFailedException("storage failed before the log was synced", f)
            : new IllegalStateException("storage engine is closed (sync the log)"));
      }
    } finally {
      writeLock.unlock();
    }
  }

  /** Under the write lock: publishes the rounds through {@code seq}, in write order. */
  private void publishThrough(long seq) {
    while (!unpublished.isEmpty() && unpublished.peekFirst().seq <= seq) {
      Round r = unpublished.pollFirst();
      // the caches first: a reader of a new view then finds its entries cached
      r.cacheUpdates.forEach(Runnable::run);
      for (Map.Entry<Long, LogView> e : r.views.entrySet()) {
        Group g = group(e.getKey());
        g.logView = e.getValue();
        if (g.written == e.getValue()) {
          g.written = null; // no later round changed it: written and published agree
        }
      }
      r.afterWrite.forEach(Runnable::run);
      publishedRounds = r.seq;
    }
    roundsSettled.signalAll();
  }

  /** Under the write lock: fails every round not published (they are not durable). */
  private void failUnpublished(RuntimeException error) {
    for (Round r : unpublished) {
      r.failValid(error);
      for (Long id : r.views.keySet()) {
        group(id).written = null;
      }
    }
    unpublished.clear();
    roundsSettled.signalAll();
  }

  /** One write of the log writer: its batches' outcome, and what to publish once durable. */
  static final class Round {
    /** Per batch: null when written (and, once published, durable), else why not. */
    final RuntimeException[] errors;
    final Map<Long, LogView> views = new LinkedHashMap<>();
    final List<Runnable> cacheUpdates = new ArrayList<>();
    final List<Runnable> afterWrite = new ArrayList<>();
    /** Its place in write order; 0 when nothing of it was written. */
    long seq;
    int batches;
    int entries;
    long bytes;

    Round(int size) {
      errors = new RuntimeException[size];
    }

    static Round failed(int size, RuntimeException e) {
      Round r = new Round(size);
      Arrays.fill(r.errors, e);
      return r;
    }

    void failValid(RuntimeException e) {
      for (int i = 0; i < errors.length; i++) {
        if (errors[i] == null) {
          errors[i] = e;
        }
      }
    }

    /** Null when batch {@code i} is written, else the reason it was not. */
    RuntimeException error(int i) {
      return errors[i];
    }
  }

  /**
   * One buffered write, kept apart until its whole batch validated. A log entry's record is
   * sealed only when added to the write batch, into a scratch buffer (no array of its own).
   */
  private record PendingWrite(Backend.Cf cf, byte[] key, byte[] value, byte[] rangeEnd, Entry entry) {
    PendingWrite(Backend.Cf cf, byte[] key, byte[] value, byte[] rangeEnd) {
      this(cf, key, value, rangeEnd, null);
    }

    void addTo(Backend.Batch b) {
      if (entry != null) {
        b.put(cf, key, Codec.entryRecord(key, entry));
      } else if (rangeEnd != null) {
        b.deleteRange(cf, key, rangeEnd);
      } else if (value == null) {
        b.delete(cf, key);
      } else {
        b.put(cf, key, value);
      }
    }
  }

  private LogView plan(LogBatch.Op op, LogView v, List<PendingWrite> out, List<Runnable> cached,
      List<Runnable> after) {
    if (op instanceof LogBatch.Append a) {
      LogView planned = planAppend(a.groupId(), a.entries(), v, out);
      EntryCache cache = group(a.groupId()).cache;
      cached.add(() -> cache.append(a.entries()));
      return planned;
    }
    if (op instanceof LogBatch.SetHardState h) {
      HardState old = v.hardState();
      HardState hs = h.hardState();
      if (hs.term() < old.term()) {
        throw new IllegalArgumentException(
            "group " + h.groupId() + ": hard state term goes back from " + old.term() + " to "
                + hs.term());
      }
      if (hs.term() == old.term() && old.vote() != io.quorumkv.raft.RaftConfig.NONE
          && hs.vote() != old.vote()) {
        // Raft's one vote per term (figure 2): a second vote would allow two leaders
        throw new IllegalArgumentException(
            "group " + h.groupId() + ": vote in term " + hs.term() + " changes from "
                + old.vote() + " to " + hs.vote());
      }
      byte[] key = Keys.meta(h.groupId(), Keys.HARD_STATE);
      out.add(new PendingWrite(Backend.Cf.META, key, Codec.hardState(key, hs), null));
      return v.withHardState(hs);
    }
    if (op instanceof LogBatch.CompactThrough t) {
      LogView planned = planCompactThrough(t.groupId(), t.index(), v, out, after);
      EntryCache cache = group(t.groupId()).cache;
      long through = planned.compactedIndex();
      cached.add(() -> cache.compact(through));
      return planned;
    }
    LogBatch.Compact c = (LogBatch.Compact) op;
    LogView planned = planCompact(c.groupId(), c.snapshot(), v, out, after);
    EntryCache cache = group(c.groupId()).cache;
    long through = planned.compactedIndex();
    cached.add(() -> cache.compact(through));
    return planned;
  }

  private LogView planAppend(long g, List<Entry> entries, LogView v, List<PendingWrite> out) {
    Entry first = entries.get(0);
    long f = first.index();
    if (f <= v.compactedIndex()) {
      throw new IllegalArgumentException(
          "group " + g + ": entry " + f + " would overwrite the compacted log (compacted through "
              + v.compactedIndex() + ")");
    }
    if (f > v.lastIndex() + 1) {
      throw new IllegalArgumentException(
          "group " + g + ": entry " + f + " leaves a gap after last index " + v.lastIndex());
    }
    long prevTerm = v.term(f - 1);
    TermRuns terms = v.terms().truncateAfter(f - 1);
    for (Entry e : entries) {
      if (e.term() < prevTerm) {
        throw new IllegalArgumentException(
            "group " + g + ": entry " + e.index() + " has term " + e.term()
                + ", below the previous entry's term " + prevTerm);
      }
      prevTerm = e.term();
      terms = terms.append(e.index(), e.term());
      byte[] key = Keys.log(g, e.index());
      out.add(new PendingWrite(Backend.Cf.LOG, key, null, null, e));
    }
    long newLast = entries.get(entries.size() - 1).index();
    if (newLast < v.lastIndex()) {
      // a conflicting suffix longer than the new entries: delete what the puts did not overwrite
      out.add(new PendingWrite(
          Backend.Cf.LOG, Keys.log(g, newLast + 1), null, Keys.log(g, v.lastIndex() + 1)));
    }
    return new LogView(
        v.compactedIndex(), v.compactedTerm(), newLast, terms, v.hardState(), v.snapshot());
  }

  private LogView planCompact(
      long g, Snapshot snap, LogView v, List<PendingWrite> out, List<Runnable> after) {
    long s = snap.metadata().index();
    if (s < v.compactedIndex() || s <= v.snapshot().metadata().index()) {
      return v; // older than the log's start or than the recorded snapshot: nothing to do
    }
    if (s > v.lastIndex()) {
      throw new IllegalArgumentException(
          "group " + g + ": snapshot at " + s + " is past the last log index " + v.lastIndex()
              + " (install a received snapshot with a SnapshotSink)");
    }
    if (v.term(s) != snap.metadata().term()) {
      throw new IllegalArgumentException(
          "group " + g + ": snapshot term " + snap.metadata().term() + " at " + s
              + " differs from the log's term " + v.term(s));
    }
    if (!blobs.exists(SnapshotFormat.blobName(g, s, snap.metadata().term()))) {
      throw new IllegalArgumentException(
          "group " + g + ": no durable snapshot payload at " + s + "@" + snap.metadata().term()
              + " (take it with StateMachineStore.createSnapshot first)");
    }
    long discarded = s - v.compactedIndex();
    if (discarded > 0) {
      out.add(new PendingWrite(Backend.Cf.LOG, Keys.log(g, 0), null, Keys.log(g, s + 1)));
    }
    byte[] baseKey = Keys.meta(g, Keys.LOG_BASE);
    out.add(new PendingWrite(
        Backend.Cf.META, baseKey, Codec.position(baseKey, s, snap.metadata().term()), null));
    byte[] snapKey = Keys.meta(g, Keys.SNAPSHOT);
    out.add(new PendingWrite(Backend.Cf.META, snapKey, encodeSnapshot(snapKey, g, snap), null));
    after.add(() -> afterCompaction(g, s, discarded));
    Snapshot recorded = new Snapshot(snap.metadata(), SnapshotFormat.descriptor(g, snap.metadata()));
    return new LogView(s, snap.metadata().term(), v.lastIndex(), v.terms().discardThrough(s),
        v.hardState(), recorded);
  }

  private LogView planCompactThrough(
      long g, long index, LogView v, List<PendingWrite> out, List<Runnable> after) {
    if (index <= v.compactedIndex()) {
      return v;
    }
    if (index > v.lastIndex()) {
      throw new IllegalArgumentException(
          "group " + g + ": cannot compact through " + index + ", past the last log index "
              + v.lastIndex());
    }
    // Written state only: its write is earlier in the WAL than this batch, so this batch's sync
    // makes it durable too, and a restart never finds the state machine behind the log's start.
    long applied = group(g).smView.appliedIndex();
    if (index > applied) {
      throw new IllegalArgumentException(
          "group " + g + ": cannot compact through " + index + ", past the applied index "
              + applied + " (the state machine still needs those entries)");
    }
    long term = v.term(index);
    long discarded = index - v.compactedIndex();
    out.add(new PendingWrite(Backend.Cf.LOG, Keys.log(g, 0), null, Keys.log(g, index + 1)));
    byte[] baseKey = Keys.meta(g, Keys.LOG_BASE);
    out.add(new PendingWrite(Backend.Cf.META, baseKey, Codec.position(baseKey, index, term), null));
    Snapshot kept = v.snapshot();
    if (!kept.isEmpty() && kept.metadata().index() < index) {
      // no follower can use it any more: the entries after it are gone
      byte[] snapKey = Keys.meta(g, Keys.SNAPSHOT);
      out.add(new PendingWrite(Backend.Cf.META, snapKey, null, null));
      kept = Snapshot.EMPTY;
    }
    after.add(() -> afterCompaction(g, index, discarded));
    return new LogView(index, term, v.lastIndex(), v.terms().discardThrough(index),
        v.hardState(), kept);
  }

  private void afterCompaction(long g, long snapshotIndex, long discarded) {
    deleteBlobsBelow(g, snapshotIndex);
    discardedSinceReclaim += discarded;
    if (discardedSinceReclaim >= options.logCompactionTriggerEntries()) {
      discardedSinceReclaim = 0;
      // every group's discarded prefix: one reclaim pass over the whole log column family
      backend.reclaim(Backend.Cf.LOG, Keys.group(0), Keys.group(Long.MAX_VALUE));
    }
  }

  /** Deletes a group's snapshot payloads older than {@code index}. */
  void deleteBlobsBelow(long g, long index) {
    String prefix = g + "/";
    for (String name : blobs.list()) {
      if (name.startsWith(prefix)) {
        long blobIndex = parseBlobIndex(name.substring(prefix.length()));
        if (blobIndex < index) {
          blobs.delete(name);
        }
      }
    }
  }

  static long parseBlobIndex(String file) {
    int dash = file.indexOf('-');
    try {
      return dash < 0 ? -1 : Long.parseLong(file.substring(0, dash));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  static byte[] encodeSnapshot(byte[] key, long g, Snapshot snap) {
    SnapshotMetadata m = snap.metadata();
    byte[] desc = SnapshotFormat.descriptor(g, m);
    ByteBuffer b = ByteBuffer.allocate(16 + Codec.confStateSize(m.confState()) + 4 + desc.length);
    b.putLong(m.index()).putLong(m.term());
    Codec.putConfState(b, m.confState());
    b.putInt(desc.length).put(desc);
    return Codec.seal(key, b);
  }

  static Snapshot decodeSnapshot(ByteBuffer b) {
    long index = b.getLong();
    long term = b.getLong();
    ConfState cs = Codec.getConfState(b);
    byte[] desc = new byte[b.getInt()];
    b.get(desc);
    return new Snapshot(new SnapshotMetadata(index, term, cs), desc);
  }

  /**
   * Installs a verified snapshot payload as a group's state and log, crash-safely: a synced
   * marker first (with the log reset), then the state in bounded batches, then a synced write of
   * the applied index that clears the marker. Recovery finishes an install whose marker it finds.
   */
  void installSnapshot(Group g, Snapshot snap, String blobName) {
    SnapshotMetadata m = snap.metadata();
    if (m.index() <= g.smView.appliedIndex()) {
      throw new IllegalStateException(
          "group " + g.id + ": snapshot at " + m.index() + " is not ahead of applied index "
              + g.smView.appliedIndex() + "; installing it would roll the state back");
    }
    g.pin(backend.view()); // readers keep seeing the old state until the end
    try {
      writeLock.lock();
      try {
        checkUsable(() -> "install a snapshot of group " + g.id);
        settle();
        LogView v = g.logView;
        HardState hs = v.hardState();
        HardState raised = new HardState(hs.term(), hs.vote(), Math.max(hs.commit(), m.index()));
        Snapshot recorded = new Snapshot(m, SnapshotFormat.descriptor(g.id, m));
        try (Backend.Batch b = backend.newBatch()) {
          byte[] marker = Keys.meta(g.id, Keys.RESTORE);
          b.put(Backend.Cf.META, marker, encodeSnapshot(marker, g.id, snap));
          b.deleteRange(Backend.Cf.LOG, Keys.group(g.id), Keys.group(g.id + 1));
          byte[] baseKey = Keys.meta(g.id, Keys.LOG_BASE);
          b.put(Backend.Cf.META, baseKey, Codec.position(baseKey, m.index(), m.term()));
          byte[] snapKey = Keys.meta(g.id, Keys.SNAPSHOT);
          b.put(Backend.Cf.META, snapKey, encodeSnapshot(snapKey, g.id, snap));
          byte[] hsKey = Keys.meta(g.id, Keys.HARD_STATE);
          b.put(Backend.Cf.META, hsKey, Codec.hardState(hsKey, raised));
          syncedWrite(b, 1, 0, 0);
        }
        g.cache.clear();
        g.logView = new LogView(m.index(), m.term(), m.index(), TermRuns.EMPTY, raised, recorded);
      } finally {
        writeLock.unlock();
      }
      loadSnapshotState(g.id, snap, blobName);
      // The installed state and its index become visible together: the new view and the unpin
      // under the state lock (a reader of the index and the state validates against it).
      long stamp = g.stateLock.writeLock();
      try {
        g.smView = new SmView(m.index(), m.term(), m.index(), m.confState());
        g.unpin();
      } finally {
        g.stateLock.unlockWrite(stamp);
      }
      deleteBlobsBelow(g.id, m.index());
    } finally {
      g.unpin();
    }
  }

  /** Replaces a group's key space with the payload's, then records the applied index. */
  void loadSnapshotState(long groupId, Snapshot snap, String blobName) {
    SnapshotMetadata m = snap.metadata();
    String where = blobs.location(blobName);
    BlobStore.Reader in = blobs.open(blobName);
    if (in == null) {
      throw new StorageStartupException(StorageStartupException.Reason.INTERRUPTED_RESTORE,
          "group " + groupId + ": snapshot payload " + where + " is gone");
    }
    try (in) {
      Backend.BulkLoad bulk = backend.bulkLoad(Backend.Cf.STATE);
      if (bulk != null) {
        bulkLoadState(groupId, snap, in, where, bulk);
      } else {
        batchLoadState(groupId, snap, in, where);
      }
      try (Backend.Batch last = backend.newBatch()) {
        byte[] applied = Keys.meta(groupId, Keys.APPLIED);
        last.put(Backend.Cf.META, applied, Codec.position(applied, m.index(), m.term()));
        byte[] conf = Keys.meta(groupId, Keys.CONF_STATE);
        last.put(Backend.Cf.META, conf, Codec.confState(conf, m.index(), m.confState()));
        last.delete(Backend.Cf.META, Keys.meta(groupId, Keys.RESTORE));
        writeLock.lock();
        try {
          syncedWrite(last, 1, 0, 0);
        } finally {
          writeLock.unlock();
        }
      }
    }
  }

  /**
   * RocksDB: delete the group's old state, then ingest the records as one SST file. The ingested
   * file gets a later sequence number than the range delete, so it is visible over it, all at once.
   */
  private void bulkLoadState(
      long groupId, Snapshot snap, BlobStore.Reader in, String where, Backend.BulkLoad bulk) {
    String what = "install a snapshot of group " + groupId;
    try (bulk; Backend.Batch delete = backend.newBatch()) {
      delete.deleteRange(Backend.Cf.STATE, Keys.group(groupId), Keys.group(groupId + 1));
      unsyncedWrite(delete, () -> what);
      SnapshotFormat.read(in, where, groupId, snap.metadata(), (key, value) -> {
        byte[] k = Keys.state(groupId, key);
        bulk.add(k, Codec.stateValue(k, value));
      });
      bulk.commit();
    } catch (StorageCorruptionException | StorageFailedException e) {
      throw e;
    } catch (StorageException e) {
      throw fail(what, e);
    }
  }

  /** Other stores: the records in bounded batches, after a range delete in the first one. */
  private void batchLoadState(long groupId, Snapshot snap, BlobStore.Reader in, String where) {
    String what = "install a snapshot of group " + groupId;
    Backend.Batch[] batch = {backend.newBatch()};
    long[] batchBytes = {0};
    try {
      batch[0].deleteRange(Backend.Cf.STATE, Keys.group(groupId), Keys.group(groupId + 1));
      SnapshotFormat.read(in, where, groupId, snap.metadata(), (key, value) -> {
        byte[] k = Keys.state(groupId, key);
        batch[0].put(Backend.Cf.STATE, k, Codec.stateRecord(k, value));
        batchBytes[0] += k.length + value.length;
        // bounded batches: a large snapshot never sits whole in memory
        if (batchBytes[0] >= 4L * options.snapshotChunkBytes()) {
          unsyncedWrite(batch[0], () -> what);
          batch[0].close();
          batch[0] = backend.newBatch();
          batchBytes[0] = 0;
        }
      });
      unsyncedWrite(batch[0], () -> what);
    } finally {
      batch[0].close();
    }
  }

  String where(Backend.Cf cf, long groupId, String what) {
    return backend.location(cf) + ", group " + groupId + ", " + what;
  }

  /** Where a record is, computed only when an error needs it (it may list files). */
  java.util.function.Supplier<String> where(
      Backend.Cf cf, long groupId, byte[] key, String what) {
    return () -> backend.locate(cf, key) + ", group " + groupId + ", " + what;
  }

  /** Per-group state: the published views and the two stores over them. */
  static final class Group {
    final long id;
    final GroupLogStore log;
    final GroupStateMachine stateMachine;
    /** The newest durable entries, changed only under the engine's write lock. */
    final EntryCache cache;
    volatile LogView logView = LogView.EMPTY;
    /**
     * The view as of the latest log write while a pipelined round of this group awaits its sync,
     * else null (the published view is the latest). Changed only under the write lock.
     */
    volatile LogView written;
    volatile SmView smView = SmView.EMPTY;
    /** See {@link StateMachineStore#stateLock()}: held for writing while a new state and {@link #smView} are published. */
    final StampedLock stateLock = new StampedLock();
    /** While a snapshot installs, reads are served from this view of the old state. */
    private Backend.View pinned;
    /** Guards {@link #pinned}: readers hold it shared while they use the view. */
    private final java.util.concurrent.locks.ReentrantReadWriteLock pinLock =
        new java.util.concurrent.locks.ReentrantReadWriteLock();

    Group(StorageEngine engine, long id) {
      this.id = id;
      this.cache = new EntryCache(engine::entryCacheBytesPerGroup);
      this.log = new GroupLogStore(engine, this);
      this.stateMachine = new GroupStateMachine(engine, this);
    }

    /** The log as written: what validation of a new batch, and applying, start from. */
    LogView writtenView() {
      LogView w = written; // read first: publication sets logView before it clears written
      return w != null ? w : logView;
    }

    void pin(Backend.View view) {
      pinLock.writeLock().lock();
      try {
        if (pinned != null) {
          pinned.close();
        }
        pinned = view;
      } finally {
        pinLock.writeLock().unlock();
      }
    }

    void unpin() {
      pin(null);
    }

    /** Runs a read on the pinned view during an install, else on the latest data. */
    <T> T read(Backend backend, java.util.function.Function<KvReader, T> reader) {
      pinLock.readLock().lock();
      try {
        return reader.apply(pinned != null ? pinned : backend);
      } finally {
        pinLock.readLock().unlock();
      }
    }
  }
}
