package io.quorumkv.testkit;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Decides whether a register history is linearizable: Wing &amp; Gong's search with Lowe's
 * memoisation, as in Knossos and Porcupine.
 *
 * <p>Every operation acts on one key and keys are independent registers, so the history is split
 * per key and each key is searched alone (linearizability is compositional). For one key the
 * search walks the events in real-time order, tries to linearize each operation whose invocation
 * it meets, backtracks when it meets the response of an operation it has not linearized yet, and
 * never revisits a (set of linearized operations, register value) pair it has seen before.
 *
 * <p>What each outcome means to the search:
 * <ul>
 *   <li>{@code ok}: took effect once, between its invocation and its response.</li>
 *   <li>{@code fail}: never took effect; dropped. A failed {@code cas} is dropped too (as in
 *       Knossos): a client may fail a cas that never reached the state machine.</li>
 *   <li>{@code info} or no completion: may take effect at any time after its invocation, or
 *       never. A {@code get} whose result is unknown constrains nothing and is dropped.</li>
 * </ul>
 *
 * <p>A malformed history (a completion without an invocation, a process invoking twice, or
 * after an {@code info}) is refused with {@link IllegalArgumentException} naming the line.
 */
public final class LinearizabilityChecker {

  /** Distinct (linearized set, value) pairs one key may explore before the verdict is unknown. */
  public static final int DEFAULT_MAX_STATES = 2_000_000;

  private final int maxStates;

  /** A checker with {@link #DEFAULT_MAX_STATES}. */
  public LinearizabilityChecker() {
    this(DEFAULT_MAX_STATES);
  }

  /** @param maxStates search budget per key, see {@link #DEFAULT_MAX_STATES} */
  public LinearizabilityChecker(int maxStates) {
    if (maxStates <= 0) {
      throw new IllegalArgumentException("maxStates must be positive: " + maxStates);
    }
    this.maxStates = maxStates;
  }

  /** Checks every key of {@code history}; the first key (in key order) that fails decides. */
  public Verdict check(History history) {
    Map<String, List<Operation>> byKey = new TreeMap<>();
    int count = 0;
    for (Operation op : pair(history.lines())) {
      if (op.constrains()) {
        byKey.computeIfAbsent(op.invoke().key(), k -> new ArrayList<>()).add(op);
        count++;
      }
    }
    for (Map.Entry<String, List<Operation>> e : byKey.entrySet()) {
      Verdict v = new KeySearch(e.getKey(), e.getValue(), maxStates).run();
      if (!v.isLinearizable()) {
        return v;
      }
    }
    return new Verdict.Linearizable(byKey.size(), count);
  }

  /**
   * One operation: its invocation and its completion (null when the history ends first).
   * Lines are 1-based positions in the history; {@code returnLine} is 0 when pending.
   */
  record Operation(Op invoke, Op completion, int callLine, int returnLine) {

    /** Unknown outcome: it may take effect at any time after its invocation, or never. */
    boolean pending() {
      return completion == null || completion.type() == Op.Type.INFO;
    }

    /** Whether the operation says anything about the register's values. */
    boolean constrains() {
      if (completion != null && completion.type() == Op.Type.FAIL) {
        return false;
      }
      return !(pending() && invoke.f() == Op.F.GET);
    }

    String describe() {
      Op shown = completion != null && completion.type() == Op.Type.OK ? completion : invoke;
      String where = pending() ? "line " + callLine + ", pending" : "lines " + callLine + "-" + returnLine;
      return shown.describe() + " (" + where + ")";
    }
  }

  /** Pairs invocations with completions, checking that the history is well-formed. */
  static List<Operation> pair(List<HistoryLine> lines) {
    Map<Long, Integer> open = new HashMap<>(); // process -> index into ops
    Map<Long, Integer> crashed = new HashMap<>(); // process -> line of its info
    List<Operation> ops = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (!(lines.get(i) instanceof Op op)) {
        continue;
      }
      int line = i + 1;
      Integer openIndex = open.get(op.process());
      if (op.type() == Op.Type.INVOKE) {
        if (openIndex != null) {
          throw malformed(line, "process " + op.process() + " invokes while its operation at line "
              + ops.get(openIndex).callLine() + " is outstanding");
        }
        Integer crashLine = crashed.get(op.process());
        if (crashLine != null) {
          throw malformed(line, "process " + op.process() + " invokes after its info at line " + crashLine);
        }
        open.put(op.process(), ops.size());
        ops.add(new Operation(op, null, line, 0));
        continue;
      }
      if (openIndex == null) {
        throw malformed(line, "completion without an invocation by process " + op.process());
      }
      Operation started = ops.get(openIndex);
      if (started.invoke().f() != op.f() || !started.invoke().key().equals(op.key())) {
        throw malformed(line, "completion " + op.describe() + " does not match invocation "
            + started.invoke().describe() + " at line " + started.callLine());
      }
      open.remove(op.process());
      boolean info = op.type() == Op.Type.INFO;
      if (info) {
        crashed.put(op.process(), line);
      }
      ops.set(openIndex, new Operation(started.invoke(), op, started.callLine(), info ? 0 : line));
    }
    return ops;
  }

  private static IllegalArgumentException malformed(int line, String what) {
    return new IllegalArgumentException("malformed history at line " + line + ": " + what);
  }

  /** The search over one key's operations. */
  private static final class KeySearch {
    private static final int ABSENT = 0;

    private final String key;
    private final List<Operation> ops;
    private final int maxStates;

    // The operations, with values interned as ints (ABSENT = 0).
    private final Op.F[] f;
    private final int[] expected;
    private final int[] value;
    private final boolean[] pending;
    private final List<String> names = new ArrayList<>();
    private final Map<String, Integer> ids = new HashMap<>();

    // Events as a doubly-linked list; 0 is the head sentinel. Lifting an operation unlinks its
    // call and return events; backtracking relinks them in reverse order.
    private final int[] next;
    private final int[] prev;
    private final int[] eventOp;
    private final boolean[] isCall;
    private final int[] returnOf; // call event -> its return event, or -1 for a pending op

    // Counterexample: the deepest point where a response blocked the search.
    private int[] bestPrefix = new int[0];
    private int bestState = ABSENT;
    private int bestBlocked = -1;

    KeySearch(String key, List<Operation> ops, int maxStates) {
      this.key = key;
      this.ops = ops;
      this.maxStates = maxStates;
      int n = ops.size();
      f = new Op.F[n];
      expected = new int[n];
      value = new int[n];
      pending = new boolean[n];
      names.add(null);
      record Ev(int line, int op, boolean call) {}
      List<Ev> events = new ArrayList<>(2 * n);
      for (int i = 0; i < n; i++) {
        Operation op = ops.get(i);
        f[i] = op.invoke().f();
        pending[i] = op.pending();
        expected[i] = intern(op.invoke().expected());
        value[i] = intern(f[i] == Op.F.GET ? op.completion().value() : op.invoke().value());
        events.add(new Ev(op.callLine(), i, true));
        if (!pending[i]) {
          events.add(new Ev(op.returnLine(), i, false));
        }
      }
      events.sort((a, b) -> Integer.compare(a.line(), b.line()));
      int size = events.size() + 1;
      next = new int[size];
      prev = new int[size];
      eventOp = new int[size];
      isCall = new boolean[size];
      returnOf = new int[size];
      int[] callEvent = new int[n];
      for (int e = 1; e < size; e++) {
        Ev ev = events.get(e - 1);
        eventOp[e] = ev.op();
        isCall[e] = ev.call();
        returnOf[e] = -1;
        if (ev.call()) {
          callEvent[ev.op()] = e;
        } else {
          returnOf[callEvent[ev.op()]] = e;
        }
      }
      for (int e = 0; e < size; e++) {
        next[e] = e + 1 < size ? e + 1 : -1;
        prev[e] = e - 1;
      }
    }

    private int intern(String v) {
      if (v == null) {
        return ABSENT;
      }
      return ids.computeIfAbsent(v, s -> {
        names.add(s);
        return names.size() - 1;
      });
    }

    /** The register value after op {@code i} takes effect in {@code state}, or -1 if it cannot. */
    private int step(int state, int i) {
      int after = switch (f[i]) {
        case PUT -> value[i];
        case GET -> state == value[i] ? state : -1;
        case CAS -> state == expected[i] ? value[i] : -1;
        case DELETE -> ABSENT;
      };
      // A pending op that changes nothing is the same as one that never happens: skip it.
      return pending[i] && after == state ? -1 : after;
    }

    Verdict run() {
      int n = ops.size();
      int remaining = 0; // completed operations not yet linearized
      for (boolean p : pending) {
        remaining += p ? 0 : 1;
      }
      long[] linearized = new long[(n + 63) / 64];
      Set<StateKey> seen = new HashSet<>();
      Deque<int[]> stack = new ArrayDeque<>(); // {call event, state before}
      int state = ABSENT;
      int e = next[0];
      while (remaining > 0) {
        if (e >= 0 && isCall[e]) {
          int op = eventOp[e];
          int after = step(state, op);
          if (after >= 0) {
            linearized[op >>> 6] |= 1L << op;
            if (seen.add(new StateKey(linearized.clone(), after))) {
              if (seen.size() > maxStates) {
                return new Verdict.Unknown(key, "key \"" + key + "\": gave up after " + maxStates
                    + " states (" + n + " operations, " + (n - countCompleted()) + " pending)");
              }
              stack.push(new int[] {e, state});
              state = after;
              lift(e);
              remaining -= pending[op] ? 0 : 1;
              e = next[0];
              continue;
            }
            linearized[op >>> 6] &= ~(1L << op);
          }
          e = next[e];
        } else {
          // The response of an operation not yet linearized: the prefix cannot be extended here.
          // (The list cannot end first: a completed operation not yet linearized still has its
          // response in it; e < 0 is handled the same way for robustness.)
          if (e >= 0 && (stack.size() > bestPrefix.length || bestBlocked < 0)) {
            remember(stack, state, eventOp[e]);
          }
          if (stack.isEmpty()) {
            return new Verdict.NotLinearizable(key, counterexample());
          }
          int[] top = stack.pop();
          int call = top[0];
          int op = eventOp[call];
          state = top[1];
          linearized[op >>> 6] &= ~(1L << op);
          unlift(call);
          remaining += pending[op] ? 0 : 1;
          e = next[call];
        }
      }
      return new Verdict.Linearizable(1, n);
    }

    private int countCompleted() {
      int c = 0;
      for (boolean p : pending) {
        c += p ? 0 : 1;
      }
      return c;
    }

    private void lift(int call) {
      unlink(call);
      if (returnOf[call] >= 0) {
        unlink(returnOf[call]);
      }
    }

    private void unlift(int call) {
      if (returnOf[call] >= 0) {
        relink(returnOf[call]);
      }
      relink(call);
    }

    private void unlink(int e) {
      next[prev[e]] = next[e];
      if (next[e] >= 0) {
        prev[next[e]] = prev[e];
      }
    }

    private void relink(int e) {
      next[prev[e]] = e;
      if (next[e] >= 0) {
        prev[next[e]] = e;
      }
    }

    private void remember(Deque<int[]> stack, int state, int blocked) {
      int[] prefix = new int[stack.size()];
      int i = prefix.length;
      for (int[] frame : stack) { // top first
        prefix[--i] = eventOp[frame[0]];
      }
      bestPrefix = prefix;
      bestState = state;
      bestBlocked = blocked;
    }

    private String counterexample() {
      final int shown = 12;
      StringBuilder out = new StringBuilder();
      out.append("key \"").append(key).append("\": no linearization of its ")
          .append(countCompleted()).append(" completed operations (")
          .append(ops.size() - countCompleted()).append(" pending). ");
      out.append("Longest linearizable prefix found: ").append(bestPrefix.length).append(" operations");
      int from = Math.max(0, bestPrefix.length - shown);
      out.append(from > 0 ? " (last " + shown + " shown):" : ":");
      for (int i = from; i < bestPrefix.length; i++) {
        out.append("\n  ").append(ops.get(bestPrefix[i]).describe());
      }
      out.append("\nafter which the register holds ").append(show(bestState)).append(". Then ")
          .append(ops.get(bestBlocked).describe())
          .append(" must take effect before its response, but cannot from there nor after any"
              + " other order of the operations concurrent with it:");
      Operation blocked = ops.get(bestBlocked);
      int listed = 0;
      for (int i = 0; i < ops.size() && listed < shown; i++) {
        Operation o = ops.get(i);
        boolean overlaps = o.callLine() < blocked.returnLine()
            && (o.pending() || o.returnLine() > blocked.callLine());
        if (i != bestBlocked && overlaps) {
          out.append("\n  ").append(o.describe());
          listed++;
        }
      }
      if (listed == 0) {
        out.append(" none");
      }
      return out.toString();
    }

    private String show(int state) {
      return state == ABSENT ? "nil" : "\"" + names.get(state) + "\"";
    }
  }

  /** A memoised search state: which operations are linearized and the register value. */
  private record StateKey(long[] linearized, int value) {
    @Override
    public boolean equals(Object o) {
      return o instanceof StateKey k && k.value == value && Arrays.equals(k.linearized, linearized);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(linearized) * 31 + value;
    }

    @Override
    public String toString() {
      return "StateKey[" + value + "]";
    }
  }
}
