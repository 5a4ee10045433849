package io.quorumkv.jepsen;

import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryLine;
import io.quorumkv.testkit.Op;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks what {@code STALE} reads promise (ReadConsistency.STALE): a value that was really
 * written (never an invented one, never one whose write had not even been invoked when the read
 * returned), and successive reads served by one run of a node's replica of one partition never go
 * back in its applied index (after a crash a replica may come back lower: its state writes are
 * not synced, guarantees.md). A read whose run is not known (the node restarted meanwhile) is
 * checked for its value only.
 *
 * <p>The stale reads ({@code stale-get}, ok value {@code {"key","value","node","partition",
 * "applied"}}) are taken on the keys of a register history, which supplies the writes.
 */
final class StaleReadChecker {

  CheckResult check(List<OpLog.Line> staleLines, History writes) {
    // key -> value -> time its first write was invoked
    Map<String, Map<String, Long>> written = new HashMap<>();
    for (HistoryLine line : writes.lines()) {
      if (line instanceof Op op && op.type() == Op.Type.INVOKE && op.value() != null
          && (op.f() == Op.F.PUT || op.f() == Op.F.CAS)) {
        written.computeIfAbsent(op.key(), k -> new HashMap<>()).putIfAbsent(op.value(), op.time());
      }
    }
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
        Long invokedAt = written.getOrDefault(key, Map.of()).get(String.valueOf(value));
        if (invokedAt == null || invokedAt > pair.completion().time()) {
          invented++;
          CheckResult.note(problems, "read of " + key + " on node " + v.get("node") + " returned " + value
              + (invokedAt == null ? ", which no write ever wrote" : ", whose write was invoked only at " + Millis.of(invokedAt))
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
    String summary = reads + " stale reads; invented values " + invented + ", applied index going backwards " + backwards;
    return CheckResult.of("stale reads", summary, problems);
  }

  /** One run of one node's replica of one partition. */
  private static String replicaRun(Map<?, ?> read) {
    return read.get("node") + "/" + read.get("incarnation") + "/" + read.get("partition");
  }
}
