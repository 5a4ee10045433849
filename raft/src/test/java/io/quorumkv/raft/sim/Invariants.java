package io.quorumkv.raft.sim;

import io.quorumkv.raft.Entry;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Raft's safety properties (paper figure 3), checked as the simulation runs, over the whole run.
 *
 * <ul>
 *   <li>Election safety: at most one leader per term.</li>
 *   <li>Log matching: two persisted logs with an entry of the same index and term hold the same
 *       entry there and the same entries before it. Checked by induction: for every (index, term)
 *       every node must persist the same entry after the same previous term.</li>
 *   <li>Leader completeness: a new leader's log holds every entry known committed so far.</li>
 *   <li>State machine safety: no two nodes apply different entries at one index, and their
 *       registers are equal after applying the same index (which also checks snapshots).</li>
 * </ul>
 * "Committed" here means applied by some node: entries a quorum holds but nobody has applied yet
 * are not checked by leader completeness until someone applies them.
 */
final class Invariants {

  /** A node's log as a new leader sees it: the term at an index, or -1 if unknown/compacted. */
  interface LogView {
    long lastIndex();

    long firstIndex();

    long termAt(long index);
  }

  private record IndexTerm(long index, long term) {}

  private record Persisted(long prevTerm, Entry entry, long node) {}

  private final LongSupplier clock;
  private final Map<Long, Long> leaderOfTerm = new HashMap<>();
  private final Map<IndexTerm, Persisted> persisted = new HashMap<>();
  private final Map<Long, Entry> committed = new HashMap<>();
  private final Map<Long, Long> digestAt = new HashMap<>();
  private final Map<Long, Long> appliedBy = new HashMap<>();
  private long maxCommitted;
  private long checks;

  Invariants(LongSupplier clock) {
    this.clock = clock;
  }

  /** How many individual checks passed, to show the properties are not vacuous. */
  long checks() {
    return checks;
  }

  /** The highest index applied by any node. */
  long maxCommitted() {
    return maxCommitted;
  }

  /** Distinct terms that had a leader. */
  int leaderTerms() {
    return leaderOfTerm.size();
  }

  /** Called when {@code node} becomes leader of {@code term}. */
  void leaderElected(long node, long term, LogView log) {
    checks++;
    Long previous = leaderOfTerm.putIfAbsent(term, node);
    if (previous != null && previous != node) {
      throw violation("election safety: nodes " + previous + " and " + node + " both leader of term " + term);
    }
    for (long i = 1; i <= maxCommitted; i++) {
      Entry c = committed.get(i);
      if (c == null || i < log.firstIndex() - 1) {
        continue; // not applied anywhere yet (a snapshot skipped it), or compacted in the leader
      }
      checks++;
      if (i > log.lastIndex()) {
        throw violation("leader completeness: node " + node + " leader of term " + term
            + " has last index " + log.lastIndex() + " but index " + i + " is committed (" + c + ")");
      }
      long t = log.termAt(i);
      if (t >= 0 && t != c.term()) {
        throw violation("leader completeness: node " + node + " leader of term " + term
            + " has term " + t + " at index " + i + " but " + c + " is committed");
      }
    }
  }

  /** Called when {@code node} has durably appended {@code entries}, {@code prevTerm} preceding them. */
  void persisted(long node, long prevTerm, List<Entry> entries) {
    long prev = prevTerm;
    for (Entry e : entries) {
      checks++;
      Persisted mine = new Persisted(prev, e, node);
      Persisted other = persisted.putIfAbsent(new IndexTerm(e.index(), e.term()), mine);
      if (other != null && (other.prevTerm() != prev || !other.entry().equals(e))) {
        throw violation("log matching: at index " + e.index() + " term " + e.term() + " node " + node
            + " persisted " + e + " after term " + prev + ", node " + other.node() + " persisted "
            + other.entry() + " after term " + other.prevTerm());
      }
      prev = e.term();
    }
  }

  /** Called when {@code node} applied {@code e}, its registers then having {@code digest}. */
  void applied(long node, Entry e, long digest) {
    checks++;
    Entry other = committed.putIfAbsent(e.index(), e);
    if (other != null && !other.equals(e)) {
      throw violation("state machine safety: node " + node + " applied " + e + " at index " + e.index()
          + " but node " + appliedBy.get(e.index()) + " applied " + other);
    }
    if (other == null) {
      appliedBy.put(e.index(), node);
    }
    maxCommitted = Math.max(maxCommitted, e.index());
    checkDigest(node, e.index(), digest);
  }

  /** Called when {@code node} installed a snapshot at ({@code index}, {@code term}). */
  void snapshotInstalled(long node, long index, long term, long digest) {
    checks++;
    Entry c = committed.get(index);
    if (c != null && c.term() != term) {
      throw violation("state machine safety: node " + node + " installed a snapshot at index " + index
          + " term " + term + " but " + c + " is committed there");
    }
    checkDigest(node, index, digest);
  }

  private void checkDigest(long node, long index, long digest) {
    Long other = digestAt.putIfAbsent(index, digest);
    if (other != null && other != digest) {
      throw violation("state machine safety: node " + node + " has different registers than node "
          + appliedBy.get(index) + " after applying index " + index);
    }
  }

  private SafetyViolation violation(String what) {
    return new SafetyViolation(what + " (at virtual time " + clock.getAsLong() + " us)");
  }
}
