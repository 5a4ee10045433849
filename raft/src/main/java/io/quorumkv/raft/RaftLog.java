package io.quorumkv.raft;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The log as the algorithm sees it: the durable part in {@link RaftStorage}, followed by the
 * {@link UnstableLog} tail, plus the commit and apply positions.
 *
 * <p>Invariants: {@code applied <= applying <= committed}; {@code applying <= max(persisted,
 * written)} (entries are handed out for applying only once durable here, or written ahead of any
 * state-machine write the driver makes after them); {@code committed <= lastIndex}.
 *
 * <p>Apply flow control (as etcd's {@code applyingEntsSize}): the bytes of the entries handed out
 * for applying and not yet reported applied stay below {@code maxApplyingBytes}, so a slow applier
 * holds back how far applying runs ahead instead of queueing every committed entry in the driver.
 */
final class RaftLog {

  private final RaftStorage storage;
  private final UnstableLog unstable;
  /** Bytes of committed entries one Ready hands out. */
  private final long maxBatchBytes;
  /** Bytes handed out for applying and not yet reported applied. */
  private final long maxApplyingBytes;
  /** The batches handed out and not yet applied, oldest first: {@code [lastIndex, bytes]}. */
  private final ArrayDeque<long[]> applyingBatches = new ArrayDeque<>();
  /** Sum of the bytes in {@link #applyingBatches}. */
  private long applyingBytes;
  /** Highest index known committed. */
  long committed;
  /** Highest index handed out to be applied. */
  long applying;
  /** Highest index the driver reported applied. */
  long applied;

  RaftLog(RaftStorage storage, long maxBatchBytes, long maxApplyingBytes) {
    this.storage = storage;
    this.unstable = new UnstableLog(storage.lastIndex() + 1);
    this.maxBatchBytes = maxBatchBytes;
    this.maxApplyingBytes = maxApplyingBytes;
    long first = storage.firstIndex();
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  UnstableLog unstable() {
    return unstable;
  }

  long firstIndex() {
    long i = unstable.maybeFirstIndex();
    return i > 0 ? i : storage.firstIndex();
  }

  long lastIndex() {
    long i = unstable.maybeLastIndex();
    return i >= 0 ? i : storage.lastIndex();
  }

  long lastTerm() {
    return term(lastIndex());
  }

  /** The highest index known durable; 0 while a received snapshot is not yet installed. */
  long persistedIndex() {
    return unstable.hasSnapshot() ? 0 : unstable.offset() - 1;
  }

  /**
   * The term at {@code i}.
   *
   * @throws LogCompactedException if {@code i} is before the last compacted entry
   * @throws LogUnavailableException if {@code i} is past the last index
   */
  long term(long i) {
    long dummy = firstIndex() - 1;
    if (i < dummy) {
      throw new LogCompactedException(i);
    }
    if (i > lastIndex()) {
      throw new LogUnavailableException(i);
    }
    long t = unstable.maybeTerm(i);
    return t >= 0 ? t : storage.term(i);
  }

  /** The term at {@code i}, or 0 if it is compacted or not there. */
  long termOrZero(long i) {
    // Bounds first: a follower asks this of every entry it has not yet got, and building an
    // exception per entry was a quarter of a Raft loop's CPU with many small groups' entries.
    if (i < firstIndex() - 1 || i > lastIndex()) {
      return 0;
    }
    try {
      return term(i);
    } catch (LogCompactedException | LogUnavailableException e) {
      return 0;
    }
  }

  boolean matchTerm(long i, long t) {
    if (i < firstIndex() - 1 || i > lastIndex()) {
      return false;
    }
    try {
      return term(i) == t;
    } catch (LogCompactedException | LogUnavailableException e) {
      return false;
    }
  }

  /** Paper §5.4.1: whether a log ending at ({@code lastIdx}, {@code lastTrm}) is at least as up to date. */
  boolean isUpToDate(long lastIdx, long lastTrm) {
    long myTerm = lastTerm();
    return lastTrm > myTerm || (lastTrm == myTerm && lastIdx >= lastIndex());
  }

  /**
   * AppendEntries consistency check and append (paper §5.3). Returns the last index of the new
   * entries' range if the log matched at ({@code prevIndex}, {@code prevTerm}), else -1.
   */
  long maybeAppend(long prevIndex, long prevTerm, long leaderCommit, List<Entry> ents) {
    if (!matchTerm(prevIndex, prevTerm)) {
      return -1;
    }
    long lastNew = prevIndex + ents.size();
    long conflict = findConflict(ents);
    if (conflict != 0) {
      if (conflict <= committed) {
        throw new IllegalStateException(
            "entry " + conflict + " conflicts with committed entry (committed " + committed + ")");
      }
      append(ents.subList((int) (conflict - (prevIndex + 1)), ents.size()));
    }
    commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** The first entry of {@code ents} whose term differs from ours (or that we lack); 0 if none. */
  private long findConflict(List<Entry> ents) {
    for (Entry e : ents) {
      if (!matchTerm(e.index(), e.term())) {
        return e.index();
      }
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index {@code <= index} whose term is {@code <= term}, with its
   * term. A leader with an entry of {@code term} at {@code index} cannot match us anywhere above
   * it, so a whole conflicting term is skipped at once. Returns {@code [index, term]}; the term is
   * 0 if the search ran into the compacted prefix.
   */
  long[] findConflictByTerm(long index, long term) {
    for (long i = index; ; i--) {
      long t;
      try {
        t = term(i);
      } catch (LogCompactedException | LogUnavailableException e) {
        return new long[] {i, 0};
      }
      if (t <= term) {
        return new long[] {i, t};
      }
    }
  }

  /** Appends (overwriting any suffix from the first new index); returns the new last index. */
  long append(List<Entry> ents) {
    if (ents.isEmpty()) {
      return lastIndex();
    }
    long after = ents.get(0).index() - 1;
    if (after < committed) {
      throw new IllegalStateException("append after " + after + " is below committed " + committed);
    }
    unstable.truncateAndAppend(ents);
    return lastIndex();
  }

  void commitTo(long toCommit) {
    if (toCommit > committed) {
      if (toCommit > lastIndex()) {
        throw new IllegalStateException(
            "commit " + toCommit + " is past the last index " + lastIndex() + ": log lost or truncated?");
      }
      committed = toCommit;
    }
  }

  /** Commits {@code maxIndex} if its entry is of {@code term} (paper §5.4.2). */
  boolean maybeCommit(long maxIndex, long term) {
    if (maxIndex > committed && termOrZero(maxIndex) == term) {
      commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /**
   * Entries {@code [lo, hi)}, at most {@code maxBytes} of them (but at least one).
   *
   * @throws LogCompactedException if {@code lo} is compacted
   */
  List<Entry> slice(long lo, long hi, long maxBytes) {
    if (lo < firstIndex()) {
      throw new LogCompactedException(lo);
    }
    if (hi > lastIndex() + 1) {
      throw new LogUnavailableException(hi - 1);
    }
    if (lo >= hi) {
      return List.of();
    }
    List<Entry> out = new ArrayList<>();
    long size = 0;
    long uOffset = unstable.offset();
    if (lo < uOffset) {
      List<Entry> stored = storage.entries(lo, Math.min(hi, uOffset), maxBytes);
      for (Entry e : stored) {
        size += e.sizeBytes();
      }
      out.addAll(stored);
      if (stored.size() < Math.min(hi, uOffset) - lo) {
        return out; // size limit reached in storage
      }
    }
    if (hi > uOffset) {
      for (Entry e : unstable.slice(Math.max(lo, uOffset), hi)) {
        size += e.sizeBytes();
        if (!out.isEmpty() && size > maxBytes) {
          break;
        }
        out.add(e);
      }
    }
    return out;
  }

  /** Entries from {@code i} to the end, up to {@code maxBytes}. */
  List<Entry> entriesFrom(long i, long maxBytes) {
    return i > lastIndex() ? List.of() : slice(i, lastIndex() + 1, maxBytes);
  }

  /** The snapshot to send to a follower that needs compacted entries. */
  Snapshot snapshot() {
    Snapshot s = unstable.snapshot();
    return s != null ? s : storage.snapshot();
  }

  /**
   * The highest index that may be handed out for applying: committed, and durable or written in
   * order before the state-machine writes that apply it (so a crash cannot keep the applied state
   * without the log entries it applied). Nothing while a received snapshot is not persisted.
   */
  private long maxAppliable() {
    if (unstable.hasSnapshot()) {
      return 0;
    }
    return Math.min(committed, Math.max(persistedIndex(), unstable.writtenIndex()));
  }

  boolean hasNextCommittedEntries() {
    return !unstable.hasSnapshot() && applying < maxAppliable() && applyingBytes < maxApplyingBytes;
  }

  /**
   * Takes the next batch of committed entries to apply: at most {@code maxBatchBytes}, and at most
   * what is left of the {@code maxApplyingBytes} budget (at least one entry while any is left).
   */
  List<Entry> nextCommittedEntries() {
    if (!hasNextCommittedEntries()) {
      return List.of();
    }
    long budget = Math.min(maxBatchBytes, maxApplyingBytes - applyingBytes);
    List<Entry> ents = slice(applying + 1, maxAppliable() + 1, budget);
    if (!ents.isEmpty()) {
      long bytes = Entry.sizeBytes(ents);
      applying = ents.get(ents.size() - 1).index();
      applyingBatches.addLast(new long[] {applying, bytes});
      applyingBytes += bytes;
    }
    return ents;
  }

  /** Bytes handed out for applying and not yet reported applied. */
  long applyingBytes() {
    return applyingBytes;
  }

  void appliedTo(long index) {
    if (index > applying) {
      throw new IllegalArgumentException(
          "applied " + index + " is past what was handed out for applying (" + applying + ")");
    }
    applied = Math.max(applied, index);
    // A batch's bytes come back when all of it is applied (a partial report keeps them counted).
    while (!applyingBatches.isEmpty() && applyingBatches.peekFirst()[0] <= applied) {
      applyingBytes -= applyingBatches.removeFirst()[1];
    }
  }

  /** Replaces the log by a snapshot from the leader. */
  void restore(Snapshot s) {
    committed = s.metadata().index();
    unstable.restore(s);
  }

  void stableTo(long i, long t) {
    unstable.stableTo(i, t);
  }

  void stableSnapTo(long i) {
    unstable.stableSnapTo(i);
  }

  void writtenTo(long i, long t) {
    unstable.writtenTo(i, t);
  }
}
