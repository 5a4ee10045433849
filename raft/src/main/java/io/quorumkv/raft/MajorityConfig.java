package io.quorumkv.raft;

import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.ToLongFunction;

/**
 * A set of voters deciding by simple majority (Raft paper §5.2, §5.3).
 *
 * <p>An empty configuration agrees to everything: it is the "outgoing" half of a configuration
 * that is not joint, and must not constrain the incoming half.
 */
record MajorityConfig(Set<Long> ids) {

  MajorityConfig {
    ids = Set.copyOf(ids);
  }

  static final MajorityConfig EMPTY = new MajorityConfig(Set.of());

  boolean isEmpty() {
    return ids.isEmpty();
  }

  /**
   * The largest value {@code v} such that a majority of the voters have {@code acked(id) >= v}:
   * with match indexes this is the commit index, with acknowledgement times the start of a lease.
   * {@link Long#MAX_VALUE} for an empty configuration.
   */
  long committedIndex(ToLongFunction<Long> acked) {
    int n = ids.size();
    if (n == 0) {
      return Long.MAX_VALUE;
    }
    if (n <= 3) {
      // The usual sizes without an array and a sort: a leader's lease asks on every loop turn.
      Iterator<Long> it = ids.iterator();
      long a = acked.applyAsLong(it.next());
      if (n == 1) {
        return a;
      }
      long b = acked.applyAsLong(it.next());
      if (n == 2) {
        return Math.min(a, b); // both
      }
      long c = acked.applyAsLong(it.next());
      return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c)); // the median: two of three
    }
    long[] values = new long[n];
    int i = 0;
    for (long id : ids) {
      values[i++] = acked.applyAsLong(id);
    }
    Arrays.sort(values);
    // Ascending: the element at n - (n/2 + 1) is reached by n/2 + 1 voters (a majority).
    return values[n - (n / 2 + 1)];
  }

  /** Counts {@code votes} (absent = not yet answered) of the voters in this configuration. */
  VoteResult voteResult(Map<Long, Boolean> votes) {
    if (ids.isEmpty()) {
      return VoteResult.WON;
    }
    int granted = 0;
    int missing = 0;
    for (long id : ids) {
      Boolean v = votes.get(id);
      if (v == null) {
        missing++;
      } else if (v) {
        granted++;
      }
    }
    int quorum = ids.size() / 2 + 1;
    if (granted >= quorum) {
      return VoteResult.WON;
    }
    if (granted + missing >= quorum) {
      return VoteResult.PENDING;
    }
    return VoteResult.LOST;
  }

  @Override
  public String toString() {
    return new TreeSet<>(ids).toString();
  }

  /** The outcome of an election or of any yes/no quorum question. */
  enum VoteResult {
    /** Not decided yet: enough voters have not answered. */
    PENDING,
    /** A quorum can no longer be reached. */
    LOST,
    /** A quorum said yes. */
    WON
  }
}
