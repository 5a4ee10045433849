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
 * not even been invoked when the read returned). Per run of a node's replica of one partition:
 * successive reads never go back in its applied index (after a crash a replica may come back
 * lower: its state writes are not synced, guarantees.md). A read whose run is not known (the node
 * restarted meanwhile) is checked for its value and across replicas only.
 *
 * <p>Across replicas, from the black box: every replica of a partition applies the same log, so
 * the applied index names one state of the partition, whichever node serves it, in any run. So
 * for one key in one partition:
 * <ul>
 *   <li>two reads at the same applied index return the same value (nil included);</li>
 *   <li>a read at a higher index than one that returned {@code v} returns a state reached from
 *       {@code v}'s: nil only if some delete of the key can lie between, an other value {@code u}
 *       only if {@code u}'s write is not known to come before {@code v}'s. The history fixes the
 *       order of two writes only when one was acknowledged before the other was invoked (an
 *       acknowledged write is in the log before any entry proposed after the answer; a retried one
 *       applies once, at its first entry); a delete invoked after a read returned lies above the
 *       read's index (that index was committed before the read returned). Deletes and writes
 *       whose outcome is unknown or failed may have applied at any point after their invocation.</li>
 * </ul>
 * A split moves a key to a new partition (a new id, never reused), whose reads are compared among
 * themselves only; the parent refuses reads of a key it no longer holds (WRONG_PARTITION) rather
 * than answering. A merge only adds keys to the absorbing partition, whose later states still
 * follow its earlier ones. The register workload deletes its keys, which is why a nil at a higher
 * index is not flagged when a delete may explain it.
 *
 * <p>All of this trusts the applied index a read reports to be the one its state was read at.
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

    /** e.g. {@code node 3 (run 1) answered v7 (read invoked at 1.000s, completed at 1.002s)}. */
    String describe() {
      return "node " + node + (run == null ? "" : " (run " + run + ")") + " answered " + (value == null ? "nil" : value) + " (read invoked at "
          + Millis.of(invoked) + ", completed at " + Millis.of(completed) + ")";
    }
  }

  CheckResult check(List<OpLog.Line> staleLines, History writes) {
    Map<String, KeyWrites> written = writes(writes);
    List<String> problems = new ArrayList<>();
    // node/partition -> (completion time, applied index) of the latest completed read
    Map<String, long[]> latest = new HashMap<>();
    int reads = 0;
    int invented = 0;
    int backwards = 0;
    List<OpLog.Pair> pairs = OpLog.pairs(staleLines);
    List<OpLog.Pair> ok = new ArrayList<>();
    for (OpLog.Pair pair : pairs) {
      if (pair.outcome() == OpLog.Type.OK) {
        ok.add(pair);
      }
    }
    for (OpLog.Pair pair : ok) {
      reads++;
      Map<?, ?> v = (Map<?, ?>) pair.completion().value();
      String key = String.valueOf(v.get("key"));
      Object value = v.get("value");
      if (value != null) {
        Write w = written.containsKey(key) ? written.get(key).values.get(String.valueOf(value)) : null;
        if (w == null || w.invoked > pair.completion().time()) {
          invented++;
          CheckResult.note(problems, "read of " + key + " on node " + v.get("node") + " returned " + value
              + (w == null ? ", which no write ever wrote" : ", whose write was invoked only at " + Millis.of(w.invoked))
              + " (read completed at " + Millis.of(pair.completion().time()) + ")");
        }
      }
    }
    // Monotonic per replica: among reads that do not overlap, a later one never has a lower index.
    ok.sort((a, b) -> Long.compare(a.invoke().time(), b.invoke().time()));
    List<OpLog.Pair> byEnd = new ArrayList<>(ok);
    byEnd.sort((a, b) -> Long.compare(a.end(), b.end()));
    int next = 0;
    for (OpLog.Pair read : ok) {
      // fold in every read that completed before this one was invoked
      while (next < byEnd.size() && byEnd.get(next).end() < read.invoke().time()) {
        OpLog.Pair done = byEnd.get(next++);
        Map<?, ?> d = (Map<?, ?>) done.completion().value();
        if (d.get("incarnation") == null) {
          continue;
        }
        long[] seen = latest.computeIfAbsent(replicaRun(d), k -> new long[] {-1, -1});
        long applied = (Long) d.get("applied");
        if (applied > seen[1]) {
          seen[0] = done.end();
          seen[1] = applied;
        }
      }
      Map<?, ?> v = (Map<?, ?>) read.completion().value();
      if (v.get("incarnation") == null) {
        continue;
      }
      long[] before = latest.get(replicaRun(v));
      long applied = (Long) v.get("applied");
      if (before != null && applied < before[1]) {
        backwards++;
        CheckResult.note(problems, "node " + v.get("node") + " (run " + v.get("incarnation") + ") partition " + v.get("partition")
            + " served a read invoked at " + Millis.of(read.invoke().time()) + " at applied index " + applied
            + ", below the " + before[1] + " of a read completed at " + Millis.of(before[0]));
      }
    }
    int[] across = acrossReplicas(ok, written, problems);
    String summary = reads + " stale reads; invented values " + invented + ", applied index going backwards " + backwards
        + "; across replicas: two values at one index " + across[0] + ", nil above a value " + across[1]
        + ", an older write above a newer " + across[2];
    return CheckResult.of("stale reads", summary, problems);
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
      } else if (op.value() != null) {
        // values are unique; should one repeat, its first write is the one the checks may rely on least
        if (k.values.putIfAbsent(op.value(), w) != null) {
          continue;
        }
      }
      open.put(op.process(), w);
    }
    return out;
  }

  /**
   * The checks across replicas (see the class comment), per key and partition, in applied index
   * order. Returns the counts: two values at one index, nil above a value, an older write above a
   * newer.
   */
  private static int[] acrossReplicas(List<OpLog.Pair> ok, Map<String, KeyWrites> written, List<String> problems) {
    Map<String, List<Read>> byKeyAndPartition = new HashMap<>();
    for (OpLog.Pair pair : ok) {
      Read r = Read.of(pair);
      byKeyAndPartition.computeIfAbsent(r.key() + "\u0000" + r.partition(), x -> new ArrayList<>()).add(r);
    }
    int[] counts = new int[3];
    for (List<Read> reads : byKeyAndPartition.values()) {
      reads.sort(Comparator.comparingLong(Read::applied).thenComparingLong(Read::completed));
      KeyWrites w = written.getOrDefault(reads.get(0).key(), new KeyWrites());
      // Of the values read at lower indexes than the current one, the one whose write was invoked
      // last: if any lower read rules out the current answer, this one does.
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
            counts[0]++;
            CheckResult.note(problems, "partition " + r.partition() + " at applied index " + r.applied() + " held two values of "
                + r.key() + ": " + first.describe() + ", " + r.describe() + " (every replica applies the same log)");
          }
          if (newest != null) {
            checkAbove(r, newest, w, counts, problems);
          }
        }
        for (int j = i; j < end; j++) {
          Read r = reads.get(j);
          Write rw = r.value() == null ? null : w.values.get(r.value());
          if (rw != null && (newest == null || rw.invoked > w.values.get(newest.value()).invoked)) {
            newest = r;
          }
        }
        i = end;
      }
    }
    return counts;
  }

  /**
   * Checks {@code r} against {@code lower}, a read of the same key and partition at a lower
   * applied index that returned a value written by a known write.
   */
  private static void checkAbove(Read r, Read lower, KeyWrites w, int[] counts, List<String> problems) {
    Write below = w.values.get(lower.value());
    String where = r.key() + " in partition " + r.partition() + ": at applied index " + r.applied() + " " + r.describe()
        + ", but at the lower index " + lower.applied() + " " + lower.describe();
    if (r.value() == null) {
      // Deletes that may lie between: invoked before r returned, not acknowledged before lower's write was invoked.
      long latestAcknowledged = Long.MIN_VALUE;
      for (Write d : w.deletes) {
        if (d.invoked < r.completed()) {
          latestAcknowledged = Math.max(latestAcknowledged, d.acknowledged);
        }
      }
      if (latestAcknowledged < below.invoked) {
        counts[1]++;
        CheckResult.note(problems, where + ", and no delete of the key can lie between: "
            + (latestAcknowledged == Long.MIN_VALUE ? "none was invoked before the nil read completed"
                : "every delete invoked before the nil read completed was acknowledged by "
                    + Millis.of(latestAcknowledged) + ", before " + lower.value() + "'s write was invoked at "
                    + Millis.of(below.invoked)));
      }
      return;
    }
    Write above = w.values.get(r.value());
    if (above != null && !r.value().equals(lower.value()) && above.acknowledged < below.invoked) {
      counts[2]++;
      CheckResult.note(problems, where + ", and " + r.value() + "'s write was acknowledged at "
          + Millis.of(above.acknowledged) + ", before " + lower.value() + "'s write was invoked at "
          + Millis.of(below.invoked) + ": the higher index holds the older write");
    }
  }

  /** One run of one node's replica of one partition. */
  private static String replicaRun(Map<?, ?> read) {
    return read.get("node") + "/" + read.get("incarnation") + "/" + read.get("partition");
  }
}
