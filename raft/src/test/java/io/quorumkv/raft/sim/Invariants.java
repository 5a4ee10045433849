package io.quorumkv.raft.sim;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.MemoryStorage;
import io.quorumkv.raft.Ready;
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
 *
 * <p>One instance watches one Raft group; a multi-raft simulator keeps one per group.
 */
public final class Invariants {

  /** A node's log as a new leader sees it: the term at an index, or -1 if unknown/compacted. */
  public interface LogView {
    /** The last index, durable or not. */
    long lastIndex();

    /** The first index still in the log (after its snapshot). */
    long firstIndex();

    /** The term of the entry at {@code index}, or -1 if unknown or compacted. */
    long termAt(long index);

    /**
     * The log a driver's core sees: {@code durable} with the {@code unsynced} Readies (oldest
     * first) written on top, as they will be once the disk syncs them.
     */
    static LogView of(MemoryStorage durable, List<Ready> unsynced) {
      return new LogView() {
        @Override
        public long lastIndex() {
          long last = durable.lastIndex();
          for (Ready rd : unsynced) {
            if (rd.snapshot().isPresent()) {
              last = rd.snapshot().get().metadata().index();
            }
            Entry e = rd.lastEntry();
            if (e != null) {
              last = e.index();
            }
          }
          return last;
        }

        @Override
        public long firstIndex() {
          long first = durable.firstIndex();
          for (Ready rd : unsynced) {
            if (rd.snapshot().isPresent()) {
              first = rd.snapshot().get().metadata().index() + 1;
            }
          }
          return first;
        }

        @Override
        public long termAt(long index) {
          long found = -1;
          try {
            found = durable.term(index);
          } catch (RuntimeException compactedOrUnavailable) {
            // maybe only in the unsynced writes
          }
          for (Ready rd : unsynced) { // later writes overwrite earlier ones
            if (rd.snapshot().isPresent() && rd.snapshot().get().metadata().index() >= index) {
              found = rd.snapshot().get().metadata().index() == index ? rd.snapshot().get().metadata().term() : -1;
            }
            if (!rd.entries().isEmpty()) {
              long first = rd.entries().get(0).index();
              if (index >= first) {
                long last = rd.lastEntry().index();
                found = index <= last ? rd.entries().get((int) (index - first)).term() : -1;
              }
            }
          }
          return found;
        }
      };
    }
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

  /** @param clock virtual microseconds, to date a violation */
  public Invariants(LongSupplier clock) {
    this.clock = clock;
  }

  /** How many individual checks passed, to show the properties are not vacuous. */
  public long checks() {
    return checks;
  }

  /** The highest index applied by any node. */
  public long maxCommitted() {
    return maxCommitted;
  }

  /** Distinct terms that had a leader. */
  public int leaderTerms() {
    return leaderOfTerm.size();
  }

  /** Called when {@code node} becomes leader of {@code term} while its driver forbids it to lead. */
  public void forbiddenLeader(long node, long term) {
    throw violation("node " + node + " became leader of term " + term + " while its driver forbade it to lead");
  }

  /** Called when {@code node} becomes leader of {@code term}. */
  public void leaderElected(long node, long term, LogView log) {
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

  /**
   * Called when {@code node} crashed with {@code durableTerm} on its disk: a leadership of a later
   * term it held is forgotten. Only a single voter's election can precede the durability of its
   * vote (it wins by its own vote at once, as etcd's core did before it delivered the self-vote
   * after the write); the core holds such a leader's messages, commit index and reads until its
   * term is durable, so that leadership left no trace, and after the restart the node may rightly
   * vote in that term again (found when a removed member's campaign won it, 2026-11-26).
   */
  public void crashed(long node, long durableTerm) {
    leaderOfTerm.entrySet().removeIf(e -> e.getKey() > durableTerm && e.getValue() == node);
  }

  /** Called when {@code node} has durably appended {@code entries}, {@code prevTerm} preceding them. */
  public void persisted(long node, long prevTerm, List<Entry> entries) {
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

  /**
   * Called when {@code node} applied {@code e}, its state machine then having {@code digest}
   * (equal digests must mean equal states: nodes are compared at equal indexes).
   */
  public void applied(long node, Entry e, long digest) {
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
  public void snapshotInstalled(long node, long index, long term, long digest) {
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
