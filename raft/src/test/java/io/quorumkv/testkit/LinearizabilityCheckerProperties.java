package io.quorumkv.testkit;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.Tuple;

/**
 * Histories made from a sequential execution are linearizable by construction: each operation
 * gets a linearization point, and its invocation and response are placed at random distances
 * before and after that point, so operations overlap at random. Some operations never happen
 * (their clients record {@code fail} or {@code info}), some happen but their clients time out
 * ({@code info}). The checker must accept every such history, and reject it once one read is
 * corrupted.
 */
@AddLifecycleHook(LongRuns.class)
class LinearizabilityCheckerProperties {

  /** What happens to a generated operation. */
  enum Fate { OK, TOOK_EFFECT_BUT_INFO, NEVER_INFO, NEVER_FAIL }

  /** One generated operation; {@code slackBefore/After} place its interval around its point. */
  record Spec(Op.F f, int key, int value, int slackBefore, int slackAfter, Fate fate) {}

  @Provide
  Arbitrary<List<Spec>> executions() {
    Arbitrary<Fate> fates = Arbitraries.frequency(
        Tuple.of(14, Fate.OK),
        Tuple.of(2, Fate.TOOK_EFFECT_BUT_INFO),
        Tuple.of(1, Fate.NEVER_INFO),
        Tuple.of(1, Fate.NEVER_FAIL));
    Arbitrary<Spec> spec = Combinators.combine(
        Arbitraries.of(Op.F.class),
        Arbitraries.integers().between(0, 2),
        Arbitraries.integers().between(0, 3),
        Arbitraries.integers().between(0, 400),
        Arbitraries.integers().between(0, 400),
        fates).as(Spec::new);
    return spec.list().ofMinSize(1).ofMaxSize(60);
  }

  @Property(tries = 1000, edgeCases = EdgeCasesMode.NONE)
  void sequentialExecutionsWithOverlappingIntervalsAreLinearizable(@ForAll("executions") List<Spec> specs) {
    History h = build(specs, false);
    Verdict v = new LinearizabilityChecker().check(h);
    if (!v.isLinearizable()) {
      throw new AssertionError(v.describe() + "\n" + h.toJsonLines());
    }
  }

  @Property(tries = 1000, edgeCases = EdgeCasesMode.NONE)
  void aCorruptedReadIsRejected(@ForAll("executions") List<Spec> specs) {
    Assume.that(specs.stream().anyMatch(s -> s.f() == Op.F.GET && s.fate() == Fate.OK));
    History h = build(specs, true);
    Verdict v = new LinearizabilityChecker().check(h);
    if (!(v instanceof Verdict.NotLinearizable)) {
      throw new AssertionError("accepted a read of a value never written: " + v.describe()
          + "\n" + h.toJsonLines());
    }
  }

  /**
   * Runs the specs in order against a map (operation i takes effect at time 1000*i), then lays
   * the events out in time order and hands them to processes that are free at the time.
   */
  static History build(List<Spec> specs, boolean corruptFirstRead) {
    record Ev(long time, int op, boolean call) {}
    Map<String, String> register = new HashMap<>();
    List<Op> invokes = new ArrayList<>();
    List<Op> completions = new ArrayList<>();
    List<Ev> events = new ArrayList<>();
    boolean corrupted = false;
    for (int i = 0; i < specs.size(); i++) {
      Spec s = specs.get(i);
      String key = "k" + s.key();
      String value = "v" + i; // unique per operation, so every write is told apart
      String expected = s.value() == 0 ? null : "v" + Math.max(0, i - s.value());
      Op invoke = switch (s.f()) {
        case PUT -> Op.put(0, key, value, 0);
        case GET -> Op.get(0, key, 0);
        case CAS -> Op.cas(0, key, s.value() == 3 ? register.get(key) : expected, value, 0);
        case DELETE -> Op.delete(0, key, 0);
      };
      boolean happens = s.fate() == Fate.OK || s.fate() == Fate.TOOK_EFFECT_BUT_INFO;
      Op.Type outcome = switch (s.fate()) {
        case OK -> Op.Type.OK;
        case TOOK_EFFECT_BUT_INFO, NEVER_INFO -> Op.Type.INFO;
        case NEVER_FAIL -> Op.Type.FAIL;
      };
      String read = register.get(key);
      if (happens) {
        switch (s.f()) {
          case PUT -> register.put(key, value);
          case DELETE -> register.remove(key);
          case CAS -> {
            if (Objects.equals(read, invoke.expected())) {
              register.put(key, value);
            } else if (outcome == Op.Type.OK) {
              outcome = Op.Type.FAIL; // a compare mismatch
            }
          }
          case GET -> { }
        }
      }
      Op completion;
      if (s.f() == Op.F.GET && outcome == Op.Type.OK) {
        if (corruptFirstRead && !corrupted) {
          read = "corrupt";
          corrupted = true;
        }
        completion = invoke.read(read, 0);
      } else {
        completion = invoke.complete(outcome, 0);
      }
      invokes.add(invoke);
      completions.add(completion);
      long point = 1000L * (i + 1);
      events.add(new Ev(point - 1 - s.slackBefore() * 10L, i, true));
      events.add(new Ev(point + 1 + s.slackAfter() * 10L, i, false));
    }
    events.sort(Comparator.comparingLong(Ev::time).thenComparingInt(Ev::op));
    TreeSet<Long> free = new TreeSet<>();
    long nextProcess = 0;
    long[] processOf = new long[specs.size()];
    List<HistoryLine> lines = new ArrayList<>();
    for (Ev ev : events) {
      Op template = ev.call() ? invokes.get(ev.op()) : completions.get(ev.op());
      if (ev.call()) {
        processOf[ev.op()] = free.isEmpty() ? nextProcess++ : free.pollFirst();
      } else if (template.type() != Op.Type.INFO) {
        free.add(processOf[ev.op()]); // a process that got info never invokes again
      }
      lines.add(new Op(processOf[ev.op()], template.type(), template.f(), template.key(),
          template.value(), template.expected(), ev.time()));
    }
    return new History(lines);
  }
}
