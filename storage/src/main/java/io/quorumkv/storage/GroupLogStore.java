package io.quorumkv.storage;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.LogCompactedException;
import io.quorumkv.raft.LogUnavailableException;
import io.quorumkv.raft.Snapshot;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link LogStore} of one group: answers from the published {@link LogView}, entries from the
 * group's {@link EntryCache} when it holds them, else from disk.
 */
final class GroupLogStore implements LogStore {

  /** Bound on re-reads when a concurrent write changes the log under a read (see entries). */
  private static final int MAX_READ_ATTEMPTS = 1000;

  private final StorageEngine engine;
  private final StorageEngine.Group group;

  GroupLogStore(StorageEngine engine, StorageEngine.Group group) {
    this.engine = engine;
    this.group = group;
  }

  @Override
  public long groupId() {
    return group.id;
  }

  @Override
  public InitialState initialState() {
    return new InitialState(group.logView.hardState(), group.smView.confState());
  }

  /**
   * Reads from one consistent database view, then checks every entry against the log view taken
   * before the read: a concurrent batch lands in the database just before its view is published,
   * so a mismatch means "the log is changing right now" and the read is retried with the new view.
   */
  @Override
  public List<Entry> entries(long lo, long hi, long maxBytes) {
    LogView seen = null;
    for (int attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      LogView v = group.logView;
      if (lo <= v.compactedIndex()) {
        throw new LogCompactedException(lo);
      }
      if (hi - 1 > v.lastIndex()) {
        throw new LogUnavailableException(hi - 1);
      }
      if (lo >= hi) {
        return List.of();
      }
      List<Entry> cached = group.cache.get(lo, hi, maxBytes);
      if (cached != null && matches(v, cached)) {
        return cached;
      }
      List<Entry> out = read(v, lo, hi, maxBytes);
      if (out != null) {
        return out;
      }
      if (v == seen) {
        // The writer is between its database write and publishing its view, which includes the
        // sync (a synced write becomes readable in RocksDB before SyncWAL returns): wait for it.
        engine.awaitCommitInProgress();
      }
      seen = v;
    }
    throw new StorageCorruptionException(
        engine.where(Backend.Cf.LOG, group.id, "entries [" + lo + ", " + hi + ")")
            + ": entries missing although the log index lists them");
  }

  /** Whether every entry has the index's term in view {@code v} (the log did not change since). */
  private static boolean matches(LogView v, List<Entry> entries) {
    for (Entry e : entries) {
      if (e.index() > v.lastIndex() || e.term() != v.term(e.index())) {
        return false;
      }
    }
    return true;
  }

  /** The entries, or null if they do not match view {@code v}. */
  private List<Entry> read(LogView v, long lo, long hi, long maxBytes) {
    List<Entry> out = new ArrayList<>((int) Math.min(hi - lo, 1024));
    long[] size = {0};
    boolean[] consistent = {true};
    boolean[] full = {false};
    engine.backend().scan(Backend.Cf.LOG, Keys.log(group.id, lo), Keys.log(group.id, hi),
        (key, value) -> {
          long index = Keys.indexOf(key);
          Entry e = Codec.entry(key, value,
              engine.where(Backend.Cf.LOG, group.id, key, "log index " + index));
          if (e.index() != lo + out.size() || e.term() != v.term(e.index())) {
            consistent[0] = false;
            return false;
          }
          if (!out.isEmpty() && size[0] + e.sizeBytes() > maxBytes) {
            full[0] = true;
            return false;
          }
          size[0] += e.sizeBytes();
          out.add(e);
          return true;
        });
    boolean complete = out.size() == hi - lo || full[0];
    return consistent[0] && complete ? out : null;
  }

  @Override
  public long term(long index) {
    return group.logView.term(index);
  }

  @Override
  public long firstIndex() {
    return group.logView.compactedIndex() + 1;
  }

  @Override
  public long lastIndex() {
    return group.logView.lastIndex();
  }

  @Override
  public Snapshot snapshot() {
    return group.logView.snapshot();
  }

  @Override
  public HardState hardState() {
    return group.logView.hardState();
  }

  @Override
  public void append(List<Entry> entries) {
    engine.write(engine.newLogBatch().append(group.id, entries));
  }

  @Override
  public void setHardState(HardState hardState) {
    engine.write(engine.newLogBatch().hardState(group.id, hardState));
  }

  @Override
  public void compact(Snapshot snapshot) {
    engine.write(engine.newLogBatch().compact(group.id, snapshot));
  }

  @Override
  public void compactThrough(long index) {
    engine.write(engine.newLogBatch().compactThrough(group.id, index));
  }

  @Override
  public void dropCachedEntriesThrough(long index) {
    group.cache.compact(index);
  }

  @Override
  public String toString() {
    LogView v = group.logView;
    return "LogStore[group " + group.id + ", (" + v.compactedIndex() + ", " + v.lastIndex() + "]]";
  }
}
