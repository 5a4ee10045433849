package io.quorumkv.storage;

import java.util.Arrays;

/**
 * The term of every entry of a log, run-length encoded: terms change only at elections, so a whole
 * log's terms take a few dozen bytes and {@link io.quorumkv.raft.RaftStorage#term} never reads the
 * disk. Immutable: every change returns a new instance (the old one stays valid for readers).
 *
 * <p>Run {@code k} says that entries from {@code starts[k]} up to the next run's start (or the end
 * of the log) have term {@code terms[k]}. Invariant: starts strictly increase, terms do not
 * decrease.
 */
final class TermRuns {

  static final TermRuns EMPTY = new TermRuns(new long[0], new long[0]);

  private final long[] starts;
  private final long[] terms;

  private TermRuns(long[] starts, long[] terms) {
    this.starts = starts;
    this.terms = terms;
  }

  /** The term of {@code index}; the caller has checked it is inside the log. */
  long termAt(long index) {
    int last = starts.length - 1;
    if (last >= 0 && index >= starts[last]) {
      return terms[last]; // the usual question: an entry of the current term, at the log's end
    }
    int i = Arrays.binarySearch(starts, index);
    int run = i >= 0 ? i : -i - 2;
    if (run < 0) {
      throw new IllegalStateException("no term run covers index " + index);
    }
    return terms[run];
  }

  /** The term of the last run, or {@code fallback} when empty. */
  long lastTerm(long fallback) {
    return terms.length == 0 ? fallback : terms[terms.length - 1];
  }

  /** Drops every run that starts after {@code lastIndex} (the log now ends there). */
  TermRuns truncateAfter(long lastIndex) {
    int n = runsUpTo(lastIndex);
    return n == starts.length ? this : new TermRuns(
        Arrays.copyOf(starts, n), Arrays.copyOf(terms, n));
  }

  /** Records that the entry at {@code index}, appended at the end, has {@code term}. */
  TermRuns append(long index, long term) {
    if (terms.length > 0 && terms[terms.length - 1] == term) {
      return this;
    }
    long[] s = Arrays.copyOf(starts, starts.length + 1);
    long[] t = Arrays.copyOf(terms, terms.length + 1);
    s[s.length - 1] = index;
    t[t.length - 1] = term;
    return new TermRuns(s, t);
  }

  /** Forgets entries up to and including {@code index} (they were compacted). */
  TermRuns discardThrough(long index) {
    // keep the run covering index + 1, restarted there, and every later one
    int keepFrom = Math.max(0, runsUpTo(index + 1) - 1);
    if (keepFrom >= starts.length) {
      return this;
    }
    long[] s = Arrays.copyOfRange(starts, keepFrom, starts.length);
    long[] t = Arrays.copyOfRange(terms, keepFrom, terms.length);
    s[0] = Math.max(s[0], index + 1);
    return new TermRuns(s, t);
  }

  /** How many runs start at or before {@code index}. */
  private int runsUpTo(long index) {
    int i = Arrays.binarySearch(starts, index);
    return i >= 0 ? i + 1 : -i - 1;
  }

  int runCount() {
    return starts.length;
  }
}
