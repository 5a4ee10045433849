package io.quorumkv.raft;

import java.util.List;

/**
 * The durable log as the core reads it back (like etcd's {@code Storage}). The core only reads;
 * the driver writes what a {@link Ready} asks and then tells the core with
 * {@link RawNode#persisted(long, long)}. Entries the core handed out but that are not yet
 * persisted are kept by the core itself, so implementations only return durable data.
 *
 * <p>Implementations are called only from the thread that drives the {@link RawNode}, but may be
 * written concurrently by the driver's log writer: they must be safe for that.
 */
public interface RaftStorage {

  /** The hard state and membership this node restarts from. */
  InitialState initialState();

  /**
   * Entries in {@code [lo, hi)}, stopping early once their {@link Entry#sizeBytes()} sum would
   * pass {@code maxBytes} (but always at least one entry).
   *
   * @throws LogCompactedException if {@code lo} is at or before the snapshot index
   * @throws LogUnavailableException if {@code hi - 1} is past the last index
   */
  List<Entry> entries(long lo, long hi, long maxBytes);

  /**
   * The term of the entry at {@code index}; {@code index} may be the snapshot's index.
   *
   * @throws LogCompactedException if the entry was compacted away
   * @throws LogUnavailableException if {@code index} is past the last index
   */
  long term(long index);

  /** The index of the first entry still in the log (snapshot index + 1). */
  long firstIndex();

  /** The index of the last entry in the log (the snapshot index when the log is empty). */
  long lastIndex();

  /**
   * The most recent snapshot, to send to a follower that is too far behind.
   *
   * @throws SnapshotUnavailableException if it is being created; the core retries later
   */
  Snapshot snapshot();

  /**
   * What a node restarts from.
   *
   * @param hardState the last persisted hard state
   * @param confState the membership as of the last persisted entry or snapshot
   */
  record InitialState(HardState hardState, ConfState confState) {}
}
