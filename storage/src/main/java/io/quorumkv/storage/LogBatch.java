package io.quorumkv.storage;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.Snapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Log writes for any number of Raft groups, made durable together by one synced write
 * ({@link StorageEngine#write} or {@link GroupCommitLogWriter#submit}). This is how a driver
 * persists a {@link io.quorumkv.raft.Ready}: its entries and hard state, for every group that had
 * one, in one fsync.
 *
 * <p>Operations take effect in the order they were added. A batch is validated as a whole against
 * the log: if any operation is invalid (a gap, an overwrite of compacted entries, a term going
 * backwards) none of the batch is written. Not thread-safe: one thread builds a batch, then hands
 * it over and no longer touches it.
 */
public final class LogBatch {

  /** One operation of a batch. */
  sealed interface Op {
    long groupId();
  }

  /** Appends entries, first deleting any existing suffix from the first entry's index on. */
  record Append(long groupId, List<Entry> entries) implements Op {}

  /** Replaces the hard state. */
  record SetHardState(long groupId, HardState hardState) implements Op {}

  /** Records a snapshot taken of this node's state machine and discards the log up to it. */
  record Compact(long groupId, Snapshot snapshot) implements Op {}

  /** Discards the log up to an index the state machine has applied, with no snapshot. */
  record CompactThrough(long groupId, long index) implements Op {}

  private final List<Op> ops = new ArrayList<>();
  private int entryCount;
  private long entryBytes;

  /** An empty batch; see also {@link StorageEngine#newLogBatch()}. */
  public LogBatch() {}

  /**
   * Appends {@code entries} (consecutive indexes, non-decreasing terms) to {@code groupId}'s log.
   * The first entry's index may be at most the last index + 1; an index at or below the last index
   * overwrites that entry and deletes every entry after it (a conflicting suffix, Raft §5.3).
   *
   * @return this batch
   */
  public LogBatch append(long groupId, List<Entry> entries) {
    Keys.checkGroup(groupId);
    List<Entry> copy = List.copyOf(entries);
    if (copy.isEmpty()) {
      return this;
    }
    for (int i = 1; i < copy.size(); i++) {
      if (copy.get(i).index() != copy.get(i - 1).index() + 1) {
        throw new IllegalArgumentException(
            "entries not consecutive: " + copy.get(i - 1) + " then " + copy.get(i));
      }
    }
    for (Entry e : copy) {
      entryBytes += e.sizeBytes();
    }
    entryCount += copy.size();
    ops.add(new Append(groupId, copy));
    return this;
  }

  /**
   * Replaces {@code groupId}'s hard state (term, vote, commit). Refused (at write time) if the term
   * goes back, if the vote changes within a term, or if the commit index is past the group's last
   * log index once the batch is applied.
   *
   * @return this batch
   */
  public LogBatch hardState(long groupId, HardState hardState) {
    Keys.checkGroup(groupId);
    ops.add(new SetHardState(groupId, Objects.requireNonNull(hardState, "hardState")));
    return this;
  }

  /**
   * Records {@code snapshot} (taken with {@link StateMachineStore#createSnapshot()}) as the group's
   * latest snapshot and discards every entry up to and including its index. After the write,
   * {@link LogStore#firstIndex()} is the snapshot index + 1. A snapshot below the compacted index
   * (or not newer than the recorded one) is ignored; one at the compacted index is recorded. The deleted entries' disk space is reclaimed by RocksDB compaction,
   * which the engine triggers by itself.
   *
   * @return this batch
   */
  public LogBatch compact(long groupId, Snapshot snapshot) {
    Keys.checkGroup(groupId);
    Objects.requireNonNull(snapshot, "snapshot");
    if (snapshot.isEmpty()) {
      throw new IllegalArgumentException("cannot compact to the empty snapshot");
    }
    ops.add(new Compact(groupId, snapshot));
    return this;
  }

  /**
   * Discards every entry of {@code groupId}'s log up to and including {@code index}, without
   * recording a snapshot: the state machine (the node's own state store, which already holds
   * everything applied) is what a restart resumes from, so a snapshot is needed only for a
   * follower that is missing discarded entries, and can be made then. Refused (at write time) if
   * {@code index} is past the last log index or past the state machine's applied index (the
   * entries it still needs). An index at or below the compacted index is ignored. A recorded
   * snapshot older than {@code index} can no longer serve a follower (the entries after it are
   * gone): it is dropped with its payload, and {@link LogStore#snapshot()} returns
   * {@link Snapshot#EMPTY} until a newer one is recorded with {@link #compact(long, Snapshot)}.
   *
   * @return this batch
   */
  public LogBatch compactThrough(long groupId, long index) {
    Keys.checkGroup(groupId);
    if (index < 0) {
      throw new IllegalArgumentException("negative index " + index);
    }
    ops.add(new CompactThrough(groupId, index));
    return this;
  }

  /** True when nothing was added. */
  public boolean isEmpty() {
    return ops.isEmpty();
  }

  /** How many entries the batch appends. */
  public int entryCount() {
    return entryCount;
  }

  /** The sum of the appended entries' {@link Entry#sizeBytes()}. */
  public long entryBytes() {
    return entryBytes;
  }

  List<Op> ops() {
    return ops;
  }
}
