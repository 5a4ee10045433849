package io.quorumkv.jepsen;

import io.quorumkv.ReadConsistency;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A counter incremented by compare-and-set (read {@code n}, then {@code cas(n, n+1)}): the
 * operation a blind retry breaks. {@code KvClient} retries an attempt that got no answer within
 * one second with the same session sequence number; the exactly-once sessions must make the
 * retry return the first attempt's result. Without them, an increment that applied on the first
 * attempt is applied again on the retry, finds {@code n+1}, and answers "mismatch": the client
 * is told it failed although the counter moved (TiDB's bug class). The {@link Nemesis.Stall}
 * nemesis provokes exactly such retries.
 *
 * <p>History lines: {@code read} (value: the counter read), {@code incr} (value {@code [n, n+1]};
 * {@code ok} applied, {@code fail} compare mismatch or certainly not applied, {@code info}
 * unknown), {@code final-read} after healing. Checked by {@link #check(List)}.
 */
final class CounterWorkload extends LoggedWorkload {

  static final String KEY = "counter/c";

  private final int threads;

  CounterWorkload(int threads, Context ctx) {
    super(ctx);
    this.threads = threads;
  }

  @Override
  String name() {
    return "counter";
  }

  @Override
  int threads() {
    return threads;
  }

  @Override
  void setup(Context ctx) {
    finalRead(ctx, w -> {
      OpLog.Line invocation = log.invoke(w.process(), "init", 0L);
      try {
        w.client.put(KEY, "0");
      } catch (RuntimeException e) {
        w.failed(e);
        log.complete(invocation, OpLog.Type.INFO, 0L);
        w.crashed();
        return false;
      }
      log.complete(invocation, OpLog.Type.OK, 0L);
      return true;
    });
  }

  @Override
  void operate(Worker w) {
    Long n = read(w, "read");
    if (n == null) {
      return;
    }
    OpLog.Line invocation = log.invoke(w.process(), "incr", List.of(n, n + 1));
    boolean applied;
    try {
      applied = w.client.compareAndSet(KEY, Long.toString(n), Long.toString(n + 1));
    } catch (RuntimeException e) {
      if (outcomeUnknown(e)) {
        log.complete(invocation, OpLog.Type.INFO, List.of(n, n + 1));
        w.crashed();
      } else {
        log.complete(invocation, OpLog.Type.FAIL, List.of(n, n + 1));
      }
      return;
    }
    log.complete(invocation, applied ? OpLog.Type.OK : OpLog.Type.FAIL, List.of(n, n + 1));
  }

  /** A linearizable read of the counter, recorded as {@code f}; null if it failed. */
  private Long read(Worker w, String f) {
    OpLog.Line invocation = log.invoke(w.process(), f, null);
    Optional<String> v;
    try {
      v = w.client.get(KEY, ReadConsistency.LINEARIZABLE);
    } catch (RuntimeException e) {
      w.failed(e);
      log.complete(invocation, OpLog.Type.FAIL, null);
      return null;
    }
    Long n = v.map(Long::parseLong).orElse(null);
    log.complete(invocation, OpLog.Type.OK, n);
    return n;
  }

  @Override
  void finish(Context ctx) {
    finalRead(ctx, w -> read(w, "final-read") != null);
  }

  @Override
  CheckResult check(List<OpLog.Line> lines) {
    return verify(lines);
  }

  /**
   * Every increment moves the counter by one, so the final value lies between the number of
   * increments acknowledged ({@code ok}) and that number plus the unknown ones; two acknowledged
   * increments from the same value, or a final value above the bound, mean some increment
   * applied although its client was told otherwise, or applied twice.
   */
  static CheckResult verify(List<OpLog.Line> lines) {
    int ok = 0;
    int unknown = 0;
    int failed = 0;
    Long last = null;
    boolean initialized = false;
    Map<Long, OpLog.Line> okFrom = new HashMap<>();
    List<String> problems = new ArrayList<>();
    for (OpLog.Pair p : OpLog.pairs(lines)) {
      String f = p.invoke().f();
      OpLog.Type outcome = p.outcome();
      switch (f) {
        case "init" -> initialized |= outcome == OpLog.Type.OK;
        case "incr" -> {
          if (outcome == OpLog.Type.OK) {
            ok++;
            long from = ((Number) ((List<?>) p.invoke().value()).get(0)).longValue();
            OpLog.Line twin = okFrom.put(from, p.invoke());
            if (twin != null) {
              CheckResult.note(problems, "two increments from " + from + " both acknowledged: processes "
                  + twin.process() + " and " + p.invoke().process());
            }
          } else if (outcome == OpLog.Type.INFO) {
            unknown++;
          } else {
            failed++;
          }
        }
        case "final-read" -> {
          if (outcome == OpLog.Type.OK) {
            last = p.completion().value() == null ? null : ((Number) p.completion().value()).longValue();
          }
        }
        default -> { }
      }
    }
    String summary = "increments ok/fail/unknown " + ok + "/" + failed + "/" + unknown + ", final value " + last;
    if (!initialized) {
      return new CheckResult("counter", CheckResult.Verdict.UNKNOWN, summary + "; the counter was never initialized",
          List.of("the initial put of 0 was not acknowledged"), null);
    }
    if (last == null) {
      CheckResult.note(problems, "no final read of the counter succeeded (or the counter vanished)");
    } else if (last < ok) {
      CheckResult.note(problems, "final value " + last + " < " + ok + " acknowledged increments: an increment was lost");
    } else if (last > ok + unknown) {
      CheckResult.note(problems, "final value " + last + " > " + ok + " acknowledged + " + unknown
          + " unknown increments: " + (last - ok - unknown) + " increment(s) applied although their client was told"
          + " they failed (a retried compare-and-set applied twice?)");
    }
    return CheckResult.of("counter", summary, problems);
  }
}
