package io.quorumkv.storage;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.RaftStorage;
import io.quorumkv.raft.Snapshot;
import java.util.List;

/**
 * One Raft group's durable log and hard state: the read side the Raft core needs
 * ({@link RaftStorage}) plus single-group write shorthands. Obtained from
 * {@link StorageEngine#log(long)}.
 *
 * <p>Reads only ever return durable data: an append becomes visible after its batch's fsync
 * returned. {@link #term}, {@link #firstIndex}, {@link #lastIndex}, {@link #hardState} and
 * {@link #snapshot} are answered from memory (a per-group index kept up to date by every write), so
 * the Raft loop never waits for the disk for them; {@link #entries} reads the database. All methods
 * are safe to call from any thread, concurrently with writes by the log writer: a read sees the log
 * before or after a concurrent batch, never half of it.
 *
 * <p>For throughput, batch the writes of many groups with {@link LogBatch} and
 * {@link GroupCommitLogWriter}: the shorthands here each cost an fsync.
 */
public interface LogStore extends RaftStorage {

  /** The Raft group this log belongs to. */
  long groupId();

  /** The last durable hard state ({@link HardState#EMPTY} for a new group). */
  HardState hardState();

  /**
   * The latest snapshot recorded with {@link LogBatch#compact} or installed with
   * {@link SnapshotSink#install()}, or {@link Snapshot#EMPTY} (also once
   * {@link LogBatch#compactThrough} discarded the log past it). Never throws
   * {@link io.quorumkv.raft.SnapshotUnavailableException}: a snapshot is recorded only once its
   * payload is durable. Stream its payload with {@link StateMachineStore#openSnapshot}.
   */
  @Override
  Snapshot snapshot();

  /**
   * Appends entries with one fsync; shorthand for a one-group {@link LogBatch}.
   *
   * @throws IllegalArgumentException if the entries do not fit the log (see {@link LogBatch#append})
   * @throws StorageFailedException   if the engine is (or now goes) into the failed state
   */
  void append(List<Entry> entries);

  /** Replaces the hard state with one fsync; shorthand for a one-group {@link LogBatch}. */
  void setHardState(HardState hardState);

  /** Records a snapshot and discards the log up to it; see {@link LogBatch#compact}. */
  void compact(Snapshot snapshot);

  /** Discards the log through {@code index}, no snapshot; see {@link LogBatch#compactThrough}. */
  void compactThrough(long index);

  /**
   * Lets go of the in-memory copies of the entries through {@code index}, which stay in the log
   * and are read from the database if asked for again. For a driver that knows they are applied
   * and replicated: an entry that stays cached for seconds outlives young collections and is
   * copied by each of them (the cache's byte bound alone keeps the newest entries whether or not
   * anyone will read them). Any thread; cheap.
   */
  void dropCachedEntriesThrough(long index);
}
