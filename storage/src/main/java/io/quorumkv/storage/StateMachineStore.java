package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Snapshot;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.StampedLock;

/**
 * One Raft group's state machine: a sorted key space plus the applied index and membership, kept
 * in the same atomic write so a restart neither applies an entry twice nor skips one. Obtained
 * from {@link StorageEngine#stateMachine(long)}.
 *
 * <p>{@link #apply} is not fsynced on its own: the Raft log is the durable source of every
 * command, and each apply is ordered after the log write of the entries it applies (one
 * database, one write-ahead log; the entries may be written and not yet synced, see
 * {@link GroupCommitLogWriter#submit(LogBatch, Runnable)}). After a crash the store comes back at
 * some applied index no later than the durable log, and the driver re-applies committed entries from
 * {@link #appliedIndex()} + 1. Reads are served from a consistent view and never see half of an
 * apply.
 *
 * <p>An applier with several groups' entries to apply stages them into one {@link ApplyBatch}
 * ({@link StorageEngine#newApplyBatch()}) and writes them all at once.
 *
 * <p>Writes ({@link #apply}, snapshot install) must come from one thread, the driver's applier;
 * reads and {@link #createSnapshot()} may come from any thread.
 */
public interface StateMachineStore {

  /** The Raft group this state machine belongs to. */
  long groupId();

  /**
   * Applies the mutations of committed entries up to {@code index} (with term {@code term}) in one
   * atomic write that also records the applied index (an {@link ApplyBatch} of this apply alone).
   *
   * @throws IllegalArgumentException if {@code index} is not after {@link #appliedIndex()}
   * @throws StorageFailedException   if the engine is in the failed state
   */
  void apply(long index, long term, List<KvMutation> mutations);

  /**
   * Like {@link #apply(long, long, List)}, and also records the membership after a committed
   * configuration change (the result of {@link io.quorumkv.raft.RawNode#applyConfChange}).
   */
  void apply(long index, long term, List<KvMutation> mutations, ConfState confState);

  /**
   * Stages the same apply into {@code batch}, to be written with everything else staged there (of
   * this group or others) by one {@link ApplyBatch#commit()}; until then nothing of it is visible
   * or written. Validated against this group's state as of what {@code batch} already holds, so
   * the group may be staged again at a later index; a refused stage adds nothing.
   *
   * @param confState the membership after a configuration change applied at {@code index}, or
   *                  null when the applied entries changed none
   * @throws IllegalArgumentException if {@code index} is not after the staged or applied index,
   *                                  is past the written log, or {@code batch} is another engine's
   * @throws StorageFailedException   if the engine is in the failed state
   */
  void apply(ApplyBatch batch, long index, long term, List<KvMutation> mutations,
      ConfState confState);

  /** The value of {@code key}, if present. */
  Optional<byte[]> get(byte[] key);

  /**
   * Like {@link #get}, but never waits for the disk: answers from what the engine holds in memory
   * (RocksDB: memtables and block cache), else {@link MemoryRead#NEEDS_DISK}. For serving a read on
   * a thread that must not block (a network I/O thread). Sees the same state {@link #get} would.
   */
  MemoryRead getInMemory(byte[] key);

  /**
   * Up to {@code limit} records with keys in {@code [startKey, endKey)}, in key order, read from
   * one consistent view.
   */
  List<KeyValue> scan(byte[] startKey, byte[] endKey, int limit);

  /**
   * A consistent view of this group's state as of now, for a reader on another thread while this
   * store goes on applying (see {@link StateView}). Opened on the applier thread, between applies,
   * it shows exactly the state at {@link #appliedIndex()}.
   *
   * @throws StorageFailedException if the engine is in the failed state
   */
  StateView openView();

  /** The index of the last applied entry (0 when nothing was applied). */
  long appliedIndex();

  /**
   * The lock held for writing while this group's newly written state and its new
   * {@link #appliedIndex()} become visible (an apply's write, the end of a snapshot install), so
   * that a reader can tell the index of the state it read: read {@link #appliedIndex()} and then
   * the state under one {@link StampedLock#tryOptimisticRead()} and keep the result only if
   * {@link StampedLock#validate} then holds (else read again, or under
   * {@link StampedLock#readLock()}, which holds the applier back for as long as it is held). The
   * state then read is exactly the state at the index read: each apply writes its mutations and
   * its applied index in one atomic write. Only the storage engine writes under it.
   */
  StampedLock stateLock();

  /** The term of the last applied entry (0 when nothing was applied). */
  long appliedTerm();

  /** The membership as of the last applied configuration change, snapshot or bootstrap. */
  ConfState confState();

  /**
   * Writes a snapshot of the current state (at {@link #appliedIndex()}) and makes it durable. The
   * returned {@link Snapshot} holds the metadata and a small descriptor (never the state itself);
   * record it with {@link LogBatch#compact} to discard the log up to it, and stream it to
   * followers with {@link #openSnapshot}.
   *
   * @throws IllegalStateException if nothing has been applied yet
   */
  Snapshot createSnapshot();

  /**
   * Opens the payload of a snapshot this node holds (the group's latest, see
   * {@link LogStore#snapshot()}) for streaming in chunks.
   *
   * @throws io.quorumkv.raft.SnapshotUnavailableException if the payload is no longer held (a
   *     newer snapshot replaced it); ask the log for the latest again
   */
  SnapshotSource openSnapshot(Snapshot snapshot);

  /**
   * Starts receiving the payload of {@code snapshot} (sent by a leader) into a staging area. When
   * complete, {@link SnapshotSink#install()} replaces this group's state and log with it.
   */
  SnapshotSink newSnapshotSink(Snapshot snapshot);
}
