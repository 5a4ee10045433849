package io.quorumkv;

import io.quorumkv.raft.RaftStorage;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotUnavailableException;
import io.quorumkv.storage.LogStore;
import java.util.List;

/**
 * A group's log as its Raft core reads it: the stored log, whose snapshots are made on demand.
 *
 * <p>Why: the log is compacted without a snapshot ({@link io.quorumkv.storage.LogBatch#compactThrough}),
 * because the node's own state store already holds everything applied and is what a restart
 * resumes from. Exporting the partition at every compaction cost about a byte written per byte
 * logged (benchmarks.md, finding 38). A snapshot is needed only when a follower misses entries
 * that were discarded: then the core asks for one, this class finds the recorded snapshot older
 * than the log's start (or none), asks the node to take one, and answers "not yet"
 * ({@link SnapshotUnavailableException}); the core asks again later and sends it once recorded.
 */
final class RaftLogStorage implements RaftStorage {

  private final LogStore log;
  private final Runnable snapshotNeeded;

  /**
   * @param snapshotNeeded called (on the Raft loop) when a follower needs a snapshot newer than
   *                       the recorded one; must only schedule the work, and may be called again
   *                       until it is done
   */
  RaftLogStorage(LogStore log, Runnable snapshotNeeded) {
    this.log = log;
    this.snapshotNeeded = snapshotNeeded;
  }

  @Override
  public InitialState initialState() {
    return log.initialState();
  }

  @Override
  public List<io.quorumkv.raft.Entry> entries(long lo, long hi, long maxBytes) {
    return log.entries(lo, hi, maxBytes);
  }

  @Override
  public long term(long index) {
    return log.term(index);
  }

  @Override
  public long firstIndex() {
    return log.firstIndex();
  }

  @Override
  public long lastIndex() {
    return log.lastIndex();
  }

  @Override
  public Snapshot snapshot() {
    Snapshot s = log.snapshot();
    // A snapshot before the log's start cannot bring a follower to the entries still held.
    if (s.metadata().index() < log.firstIndex() - 1) {
      snapshotNeeded.run();
      throw new SnapshotUnavailableException();
    }
    return s;
  }
}
