package io.quorumkv.storage;

import io.quorumkv.raft.HardState;
import io.quorumkv.raft.LogCompactedException;
import io.quorumkv.raft.LogUnavailableException;
import io.quorumkv.raft.Snapshot;

/**
 * What one group's durable log looks like, as an immutable value: the writer publishes a new view
 * after each synced write, readers take the current one without locking.
 *
 * @param compactedIndex the last discarded index (the snapshot index; 0 if none)
 * @param compactedTerm  the term at {@code compactedIndex}
 * @param lastIndex      the last entry's index ({@code compactedIndex} when the log is empty)
 * @param terms          the term of every entry in {@code (compactedIndex, lastIndex]}
 * @param hardState      the durable hard state
 * @param snapshot       the latest recorded snapshot
 */
record LogView(
    long compactedIndex,
    long compactedTerm,
    long lastIndex,
    TermRuns terms,
    HardState hardState,
    Snapshot snapshot) {

  static final LogView EMPTY = new LogView(0, 0, 0, TermRuns.EMPTY, HardState.EMPTY, Snapshot.EMPTY);

  long term(long index) {
    if (index < compactedIndex) {
      throw new LogCompactedException(index);
    }
    if (index > lastIndex) {
      throw new LogUnavailableException(index);
    }
    return index == compactedIndex ? compactedTerm : terms.termAt(index);
  }

  long lastTerm() {
    return term(lastIndex);
  }

  boolean isEmpty() {
    return lastIndex == 0 && compactedIndex == 0 && hardState.isEmpty();
  }

  LogView withHardState(HardState hs) {
    return new LogView(compactedIndex, compactedTerm, lastIndex, terms, hs, snapshot);
  }
}
