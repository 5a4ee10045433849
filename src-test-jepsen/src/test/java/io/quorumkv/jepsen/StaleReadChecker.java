package io.quorumkv.jepsen;

import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryLine;
import io.quorumkv.testkit.Op;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Checks what {@code STALE} reads promise (ReadConsistency.STALE, guarantees.md: a read reflects a
 * prefix of its partition's log, every write up to the replica's applied index and none after).
 *
 * <p>Per read: a value that was really written (never an invented one, never one whose write had
 * not even been invoked when the read returned). Per run of a node's replica of one partition
 * (after a crash a replica may come back lower: its state writes are not synced, guarantees.md):
 * successive reads never go back in its applied index, and each reads a state reached from the
 * one before (the replica applies its log in order): after a read that returned {@code v}, a read
 * of the same key returns nil only if some delete of the key can lie between, and an other value
 * {@code u} only if {@code u}'s write is not known to come before {@code v}'s. The history fixes
 * the order of two writes only when one was acknowledged before the other was invoked (an
 * acknowledged write is in the log before any entry proposed after the answer; a retried one
 * applies once, at its first entry); a delete invoked after a read returned lies after the
 * state that read saw. Deletes and writes whose outcome is unknown or failed may have applied at
 * any point after their invocation. (The register workload deletes its keys 8 % of the time,
 * hence the deletes.) A read whose run is not known (the node restarted meanwhile) is checked for
 * its value only.
 *
 * <p>Across replicas, by applied index: every replica of a partition applies the same log, so an
 * applied index names one state of the partition, whichever node serves it, in any run. So for one
 * key in one partition, two reads at the same index return the same value (nil included), and a
 * read at a higher index than one that returned {@code v} obeys the same rule as a later read of
 * one replica. A split moves a key to a new partition (a new id, never reused), whose reads are
 * compared among themselves only; the parent refuses reads of a key it no longer holds
 * (WRONG_PARTITION) rather than answering. A merge only adds keys to the absorbing partition, whose
 * later states still follow its earlier ones. These checks rely on a read's reported applied index
 * being exactly the index of the state it read, which the node ensures since session 22 (it reads
 * the index and the state together, under the store's state lock; guarantees.md). Until then the
 * index was a lower bound and these checks were only listed, failing nothing (jepsen.md).
 *
 * <p>The stale reads ({@code stale-get}, ok value {@code {"key","value","node","partition",
 * "applied","incarnation"}}) are taken on the keys of a register history, which supplies every
 * write of those keys.
 */
final class StaleReadChecker {

  /** A put or cas of a value, or a delete: when it was invoked and when it was acknowledged. */
  private static final class Write {
    final long invoked;
    /** When it was acknowledged ({@code ok}); {@code Long.MAX_VALUE} when it never was. */
    long acknowledged = Long.MAX_VALUE;

    Write(long invoked) {
      this.invoked = invoked;
    }
  }

  /** The writes of one key: each value's (values are unique) and the deletes. */
  private static final class KeyWrites {
    static final KeyWrites NONE = new KeyWrites();
    final Map<String, Write> values = new HashMap<>();
    final List<Write> deletes = new ArrayList<>();
  }

  /** One ok stale read. {@code run} is the serving node's incarnation, or null if unknown. */
  private record Read(String key, String value, Object node, Object partition, long applied, Object run,
      long invoked, long completed) {
    static Read of(OpLog.Pair pair) {
      Map<?, ?> v = (Map<?, ?>) pair.completion().value();
      Object value = v.get("value");
      return new Read(String.valueOf(v.get("key")), value == null ? null : String.valueOf(value), v.get("node"),
          v.get("partition"), (Long) v.get("applied"), v.get("incarnation"), pair.invoke().time(), pair.end());
    }

    /** One run of one node's replica of one partition. */
    String replicaRun() {
      return node + "/" + run + "/" + partition;
    }

    /** e.g. {@code node 3 (run 1) answered v7 at applied index 12 (read invoked at 1.000s, completed at 1.002s)}. */
    String describe() {
      return "node " + node + (run == null ? "" : " (run " + run + ")") + " " + answer();
    }

    /** e.g. {@code answered v7 at applied index 12 (read invoked at 1.000s, completed at 1.002s)}. */
    String answer() {
      return "answered " + (value == null ? "nil" : value) + " at applied index " + applied + " (read invoked at "
          + Millis.of(invoked) + ", completed at " + Millis.of(completed) + ")";
    }
  }

  /** Problems found and counted by kind. */
  private static final class Found {
    final List<String> problems = new ArrayList<>();
    final Map<String, Integer> counts = new HashMap<>();

    void add(String kind, String problem) {
      counts.merge(kind, 1, Integer::sum);
      CheckResult.note(problems, problem);
    }

    int count(String kind) {
      return counts.getOrDefault(kind, 0);
    }
  }

  private static final String INVENTED = "invented";
  private static final String BACKWARDS = "backwards";
  private static final String NIL = "nil";
  private static final String OLDER = "older";
  private static final String TWO_VALUES = "two values";

  CheckResult check(List<OpLog.Line> staleLines, History writes) {
    Map<String, KeyWrites> written = writes(writes);
    Found found = new Found();
    List<Read> ok = new ArrayList<>();
    for (OpLog.Pair pair : OpLog.pairs(staleLines)) {
      if (pair.outcome() == OpLog.Type.OK) {
        ok.add(Read.of(pair));
      }
    }
    for (Read r : ok) {
      if (r.value() != null) {
        Write w = written.getOrDefault(r.key(), KeyWrites.NONE).values.get(r.value());
        if (w == null || w.invoked > r.completed()) {
          found.add(INVENTED, "read of " + r.key() + " on node " + r.node() + " returned " + r.value()
              + (w == null ? ", which no write ever wrote" : ", whose write was invoked only at " + Millis.of(w.invoked))
              + " (read completed at " + Millis.of(r.completed()) + ")");
        }
      }
    }
    perReplicaRun(ok, written, found);
    Found byIndex = new Found();
    byIndex(ok, written, byIndex);
    List<String> problems = new ArrayList<>(found.problems);
    for (String p : byIndex.problems) {
      CheckResult.note(problems, p);
    }
    boolean valid = problems.isEmpty();
    String summary = ok.size() + " stale reads; invented values " + found.count(INVENTED) + ", applied index going backwards "
        + found.count(BACKWARDS) + "; per replica run, after a value: nil " + found.count(NIL) + ", an older write "
        + found.count(OLDER) + "; by applied index across replicas: two values at one index " + byIndex.count(TWO_VALUES) + ", nil above a value " + byIndex.count(NIL)
        + ", an older write above a newer " + byIndex.count(OLDER);
    return new CheckResult("stale reads", valid ? CheckResult.Verdict.VALID : CheckResult.Verdict.INVALID, summary,
        problems, null);
  }

  /** Every write of every key in the register history {@code h}, with its invocation and acknowledgement. */
  private static Map<String, KeyWrites> writes(History h) {
    Map<String, KeyWrites> out = new HashMap<>();
    Map<Long, Write> open = new HashMap<>(); // process -> its write in flight
    for (HistoryLine line : h.lines()) {
      if (!(line instanceof Op op) || op.f() == Op.F.GET) {
        continue;
      }
      if (op.type() != Op.Type.INVOKE) {
        Write w = open.remove(op.process());
        if (w != null && op.type() == Op.Type.OK) {
          w.acknowledged = op.time();
        }
        continue;
      }
      KeyWrites k = out.computeIfAbsent(op.key(), x -> new KeyWrites());
      Write w = new Write(op.time());
      if (op.f() == Op.F.DELETE) {
        k.deletes.add(w);
      } else if (k.values.putIfAbsent(op.value(), w) != null) {
        continue; // values are unique; were one repeated, its first write would be the one known least
      }
      open.put(op.process(), w);
    }
    return out;
  }

  /**
   * Per run of a replica: among reads that do not overlap, a later one has no lower applied index
   * and reads a state reached from the earlier one's.
   */
  private static void perReplicaRun(List<Read> ok, Map<String, KeyWrites> written, Found found) {
    // replica run -> (completion time, applied index) of the latest completed read
    Map<String, long[]> latest = new HashMap<>();
    // replica run + key -> of the completed reads that returned a known write, the one whose write was invoked last
    Map<String, Read> newest = new HashMap<>();
    List<Read> byInvoke = new ArrayList<>(ok);
    byInvoke.sort(Comparator.comparingLong(Read::invoked));
    List<Read> byEnd = new ArrayList<>(ok);
    byEnd.sort(Comparator.comparingLong(Read::completed));
    int next = 0;
    for (Read read : byInvoke) {
      // fold in every read that completed before this one was invoked
      while (next < byEnd.size() && byEnd.get(next).completed() < read.invoked()) {
        Read done = byEnd.get(next++);
        if (done.run() == null) {
          continue;
        }
        long[] seen = latest.computeIfAbsent(done.replicaRun(), k -> new long[] {-1, -1});
        if (done.applied() > seen[1]) {
          seen[0] = done.completed();
          seen[1] = done.applied();
        }
        KeyWrites w = written.getOrDefault(done.key(), KeyWrites.NONE);
        if (newer(null, done, w) != null) {
          newest.merge(done.replicaRun() + "\u0000" + done.key(), done, (a, b) -> newer(a, b, w));
        }
      }
      if (read.run() == null) {
        continue;
      }
      long[] before = latest.get(read.replicaRun());
      if (before != null && read.applied() < before[1]) {
        found.add(BACKWARDS, "node " + read.node() + " (run " + read.run() + ") partition " + read.partition()
            + " served a read invoked at " + Millis.of(read.invoked()) + " at applied index " + read.applied()
            + ", below the " + before[1] + " of a read completed at " + Millis.of(before[0]));
      }
      Read earlier = newest.get(read.replicaRun() + "\u0000" + read.key());
      if (earlier != null) {
        laterState(read, earlier, written.get(read.key()), read.key() + " in partition " + read.partition() + ": "
            + read.describe() + ", after the same replica " + earlier.answer(), found);
      }
    }
  }

  /**
   * Across replicas, per key and partition, in applied index order: one value per index, and a
   * read at a higher index reads a state reached from a lower one's.
   */
  private static void byIndex(List<Read> ok, Map<String, KeyWrites> written, Found found) {
    Map<String, List<Read>> byKeyAndPartition = new HashMap<>();
    for (Read r : ok) {
      byKeyAndPartition.computeIfAbsent(r.key() + "\u0000" + r.partition(), x -> new ArrayList<>()).add(r);
    }
    for (List<Read> reads : byKeyAndPartition.values()) {
      reads.sort(Comparator.comparingLong(Read::applied).thenComparingLong(Read::completed));
      KeyWrites w = written.getOrDefault(reads.get(0).key(), KeyWrites.NONE);
      // Of the reads at lower indexes than the current one that returned a known write, the one
      // whose write was invoked last: if any lower read rules out the current answer, this one does.
      Read newest = null;
      int i = 0;
      while (i < reads.size()) {
        int end = i;
        while (end < reads.size() && reads.get(end).applied() == reads.get(i).applied()) {
          end++;
        }
        Read first = reads.get(i);
        for (int j = i; j < end; j++) {
          Read r = reads.get(j);
          if (!Objects.equals(r.value(), first.value())) {
            found.add(TWO_VALUES, "partition " + r.partition() + " at applied index " + r.applied() + " held two values of "
                + r.key() + ": " + first.describe() + ", " + r.describe() + " (every replica applies the same log)");
          }
          if (newest != null) {
            laterState(r, newest, w, r.key() + " in partition " + r.partition() + ": " + r.describe() + "; below it, "
                + newest.describe(), found);
          }
        }
        for (int j = i; j < end; j++) {
          newest = newer(newest, reads.get(j), w);
        }
        i = end;
      }
    }
  }

  /** Of two reads (either may be null), the one that returned the known write invoked last. */
  private static Read newer(Read a, Read b, KeyWrites w) {
    Write wa = a == null || a.value() == null ? null : w.values.get(a.value());
    Write wb = b == null || b.value() == null ? null : w.values.get(b.value());
    if (wb == null) {
      return wa == null ? null : a;
    }
    return wa == null || wb.invoked > wa.invoked ? b : a;
  }

  /**
   * Checks that {@code later} read a state reached from {@code earlier}'s, where {@code earlier}
   * returned a value written by a known write of {@code w} (see the class comment). {@code where}
   * describes both reads.
   */
  private static void laterState(Read later, Read earlier, KeyWrites w, String where, Found found) {
    Write before = w.values.get(earlier.value());
    if (later.value() == null) {
      // Deletes that may lie between: invoked before the nil read returned, not acknowledged before earlier's write was invoked.
      long latestAcknowledged = Long.MIN_VALUE;
      for (Write d : w.deletes) {
        if (d.invoked < later.completed()) {
          latestAcknowledged = Math.max(latestAcknowledged, d.acknowledged);
        }
      }
      if (latestAcknowledged < before.invoked) {
        found.add(NIL, where + ", and no delete of the key can lie between: "
            + (latestAcknowledged == Long.MIN_VALUE ? "none was invoked before the nil read completed"
                : "every delete invoked before the nil read completed was acknowledged by "
                    + Millis.of(latestAcknowledged) + ", before " + earlier.value() + "'s write was invoked at "
                    + Millis.of(before.invoked)));
      }
      return;
    }
    Write after = w.values.get(later.value());
    if (after != null && !later.value().equals(earlier.value()) && after.acknowledged < before.invoked) {
      found.add(OLDER, where + ", and " + later.value() + "'s write was acknowledged at " + Millis.of(after.acknowledged)
          + ", before " + earlier.value() + "'s write was invoked at " + Millis.of(before.invoked)
          + ": the later state holds the older write");
    }
  }
}
