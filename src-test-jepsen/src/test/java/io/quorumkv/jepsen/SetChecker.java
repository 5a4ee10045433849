package io.quorumkv.jepsen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks a set history: each {@code add} writes one new element; {@code read} and the closing
 * {@code final-read} (after every fault is healed) return every element present.
 *
 * <ul>
 *   <li>lost: an add acknowledged before a read was invoked is missing from that read (each
 *       read is linearizable per partition, so it must see every earlier acknowledged add);</li>
 *   <li>unexpected: a read returns an element no add had been invoked for by then;</li>
 *   <li>the final read must exist; adds whose outcome was unknown may or may not be in it
 *       (reported as recovered).</li>
 * </ul>
 *
 * <p>History lines: {@code add} with value the element (a string); {@code read} and
 * {@code final-read} with ok value the list of elements.
 */
final class SetChecker {

  CheckResult check(List<OpLog.Line> lines) {
    List<OpLog.Pair> pairs = OpLog.pairs(lines);
    Map<String, OpLog.Pair> adds = new HashMap<>();
    List<OpLog.Pair> reads = new ArrayList<>();
    OpLog.Pair finalRead = null;
    for (OpLog.Pair pair : pairs) {
      switch (pair.invoke().f()) {
        case "add" -> adds.put((String) pair.invoke().value(), pair);
        case "read", "final-read" -> {
          if (pair.outcome() == OpLog.Type.OK) {
            reads.add(pair);
            if (pair.invoke().f().equals("final-read")) {
              finalRead = pair;
            }
          }
        }
        default -> { }
      }
    }
    List<String> problems = new ArrayList<>();
    int lost = 0;
    int unexpected = 0;
    for (OpLog.Pair read : reads) {
      Set<String> seen = elements(read.completion().value());
      for (OpLog.Pair add : adds.values()) {
        String element = (String) add.invoke().value();
        if (add.outcome() == OpLog.Type.OK && add.end() < read.invoke().time() && !seen.contains(element)) {
          lost++;
          CheckResult.note(problems, "lost: " + element + " acknowledged at " + Millis.of(add.end())
              + " but missing from the " + read.invoke().f() + " invoked at " + Millis.of(read.invoke().time()));
        }
      }
      for (String element : seen) {
        OpLog.Pair add = adds.get(element);
        if (add == null || add.invoke().time() > read.completion().time()) {
          unexpected++;
          CheckResult.note(problems, "unexpected: " + element + " in the " + read.invoke().f()
              + " completed at " + Millis.of(read.completion().time()) + " was never added before it");
        }
      }
    }
    int acknowledged = 0;
    int unknown = 0;
    int recovered = 0;
    Set<String> last = finalRead == null ? Set.of() : elements(finalRead.completion().value());
    for (OpLog.Pair add : adds.values()) {
      if (add.outcome() == OpLog.Type.OK) {
        acknowledged++;
      } else if (add.outcome() == OpLog.Type.INFO) {
        unknown++;
        if (last.contains((String) add.invoke().value())) {
          recovered++;
        }
      }
    }
    if (finalRead == null) {
      problems.add(0, "no successful final read: the acknowledged adds were never checked at the end");
    }
    String summary = adds.size() + " adds (" + acknowledged + " acknowledged, " + unknown + " unknown of which "
        + recovered + " present at the end), " + reads.size() + " reads; lost " + lost + ", unexpected " + unexpected;
    return CheckResult.of("set", summary, problems);
  }

  private static Set<String> elements(Object value) {
    Set<String> out = new HashSet<>();
    if (value instanceof List<?> list) {
      for (Object o : list) {
        out.add(String.valueOf(o));
      }
    }
    return out;
  }
}
