package io.quorumkv.raft;

import java.util.ArrayList;
import java.util.List;

/**
 * The tail of the log that is not yet known to be durable: entries (and possibly a snapshot)
 * the core created or received and the driver has not yet reported persisted.
 *
 * <p>Entries {@code [offset, offsetInProgress)} have been handed out in a {@link Ready} and are
 * being written; entries from {@code offsetInProgress} on are still to be handed out. Everything
 * before {@code offset} is in {@link RaftStorage}. An entry leaves this tail only when the driver
 * reports it durable, so a leader never counts a copy that a crash could lose.
 */
final class UnstableLog {

  /** A snapshot received from a leader and not yet reported installed; null if none. */
  private Snapshot snapshot;
  private boolean snapshotInProgress;
  private final ArrayList<Entry> entries = new ArrayList<>();
  /** Index of {@code entries.get(0)}, or where the next entry goes when empty. */
  private long offset;
  private long offsetInProgress;
  /**
   * The highest index the driver reported written (ordered before any later state-machine write,
   * not yet durable): always an entry handed out and still in this tail as it was written, so
   * entries past it (a truncation's new ones, a restored snapshot) are never claimed.
   */
  private long written;

  UnstableLog(long offset) {
    this.offset = offset;
    this.offsetInProgress = offset;
    this.written = offset - 1;
  }

  long offset() {
    return offset;
  }

  Snapshot snapshot() {
    return snapshot;
  }

  boolean hasSnapshot() {
    return snapshot != null;
  }

  /** The first index if a snapshot is pending, else 0 (unknown here: ask the storage). */
  long maybeFirstIndex() {
    return snapshot != null ? snapshot.metadata().index() + 1 : 0;
  }

  /** The last index if this tail knows it, else -1. */
  long maybeLastIndex() {
    if (!entries.isEmpty()) {
      return offset + entries.size() - 1;
    }
    return snapshot != null ? snapshot.metadata().index() : -1;
  }

  /** The term at {@code i} if this tail holds it, else -1. */
  long maybeTerm(long i) {
    if (i < offset) {
      if (snapshot != null && snapshot.metadata().index() == i) {
        return snapshot.metadata().term();
      }
      return -1;
    }
    long last = maybeLastIndex();
    if (last < 0 || i > last) {
      return -1;
    }
    return entries.get((int) (i - offset)).term();
  }

  /** Entries not yet handed out. */
  List<Entry> nextEntries() {
    int from = (int) (offsetInProgress - offset);
    return from >= entries.size() ? List.of() : List.copyOf(entries.subList(from, entries.size()));
  }

  /** The snapshot, if it has not been handed out yet. */
  Snapshot nextSnapshot() {
    return snapshot == null || snapshotInProgress ? null : snapshot;
  }

  boolean hasNext() {
    return nextSnapshot() != null || offsetInProgress < offset + entries.size();
  }

  /** Marks everything as handed out to the driver. */
  void acceptInProgress() {
    offsetInProgress = offset + entries.size();
    snapshotInProgress = snapshot != null;
  }

  /**
   * The driver reports entries up to ({@code i}, {@code t}) durable. Ignored if the entry at
   * {@code i} is not (or no longer) of term {@code t} (the write was overwritten by a later
   * append), or if it was never handed out.
   */
  void stableTo(long i, long t) {
    if (i < offset || i >= offsetInProgress || maybeTerm(i) != t) {
      return;
    }
    entries.subList(0, (int) (i + 1 - offset)).clear();
    offset = i + 1;
  }

  /**
   * The driver reports entries up to ({@code i}, {@code t}) written, in order, but not durable.
   * Ignored like {@link #stableTo}: if the entry at {@code i} is not (or no longer) of term
   * {@code t}, or was never handed out; and if it is not past what is known written already.
   */
  void writtenTo(long i, long t) {
    if (i <= written || i < offset || i >= offsetInProgress || maybeTerm(i) != t) {
      return;
    }
    written = i;
  }

  /** The highest index written in order (possibly durable already: at least {@code offset - 1}). */
  long writtenIndex() {
    return Math.max(written, offset - 1);
  }

  void stableSnapTo(long i) {
    if (snapshot != null && snapshotInProgress && snapshot.metadata().index() == i) {
      snapshot = null;
      snapshotInProgress = false;
    }
  }

  /** Replaces the whole tail by a snapshot. */
  void restore(Snapshot s) {
    offset = s.metadata().index() + 1;
    offsetInProgress = offset;
    entries.clear();
    snapshot = s;
    snapshotInProgress = false;
    written = s.metadata().index(); // usable only once the snapshot is persisted (hasSnapshot)
  }

  /** Appends {@code ents}, first dropping any entries at or after the first new index. */
  void truncateAndAppend(List<Entry> ents) {
    long from = ents.get(0).index();
    long end = offset + entries.size();
    if (from == end) {
      entries.addAll(ents);
    } else if (from <= offset) {
      // Replaces the whole tail, and possibly durable entries: they are overwritten on disk too.
      entries.clear();
      entries.addAll(ents);
      offset = from;
    } else if (from < end) {
      entries.subList((int) (from - offset), entries.size()).clear();
      entries.addAll(ents);
    } else {
      throw new IllegalStateException("gap: appending at " + from + " after " + (end - 1));
    }
    offsetInProgress = Math.min(offsetInProgress, from);
    // The new entries from `from` on are not written yet, whatever was written there before.
    written = Math.min(written, from - 1);
  }

  /** Entries {@code [lo, hi)}; the caller checked they are in this tail. */
  List<Entry> slice(long lo, long hi) {
    return entries.subList((int) (lo - offset), (int) (hi - offset));
  }
}
