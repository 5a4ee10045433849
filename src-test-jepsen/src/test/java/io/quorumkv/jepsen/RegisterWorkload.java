package io.quorumkv.jepsen;

import io.quorumkv.KvClient;
import io.quorumkv.ReadConsistency;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryLine;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.Op;
import io.quorumkv.testkit.Verdict;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Linearizable registers, one per key: put, get at one {@link ReadConsistency} level, cas and
 * delete, checked with the testkit's linearizability checker. Keys are used in small windows (a
 * few keys at a time, a bounded number of operations each, then the next keys), so many threads
 * contend on each key while every key's history stays small enough to check exhaustively.
 * Values are unique, so a read names the write it saw.
 */
final class RegisterWorkload extends Workload {

  /** Keys written at the same time. */
  static final int ACTIVE_KEYS = 3;
  /** Operations per key before the window moves on. */
  static final int OPS_PER_KEY = 40;

  private final ReadConsistency level;
  private final int threads;
  private final String prefix;
  private final HistoryRecorder recorder;
  private final AtomicLong counter = new AtomicLong();
  private final AtomicLong values = new AtomicLong();
  private final Map<String, String> lastSeen = new ConcurrentHashMap<>();
  private String file;

  RegisterWorkload(ReadConsistency level, int threads, Context ctx) {
    this.level = level;
    this.threads = threads;
    this.prefix = "reg-" + level.name().toLowerCase(Locale.ROOT) + "/";
    this.recorder = new HistoryRecorder(ctx.clock());
  }

  @Override
  String name() {
    return "register-" + level.name().toLowerCase(Locale.ROOT);
  }

  @Override
  int threads() {
    return threads;
  }

  ReadConsistency level() {
    return level;
  }

  /** A key of the current window, for readers that watch this workload's keys. */
  String currentKey(Random rnd) {
    long window = counter.get() / ((long) ACTIVE_KEYS * OPS_PER_KEY);
    return prefix + (window * ACTIVE_KEYS + rnd.nextInt(ACTIVE_KEYS));
  }

  History history() {
    return recorder.history();
  }

  /** The key of the next operation: it counts against the current window's budget. */
  String nextKey(Random rnd) {
    long window = counter.getAndIncrement() / ((long) ACTIVE_KEYS * OPS_PER_KEY);
    return prefix + (window * ACTIVE_KEYS + rnd.nextInt(ACTIVE_KEYS));
  }

  @Override
  void operate(Worker w) {
    String key = nextKey(w.rnd);
    int roll = w.rnd.nextInt(100);
    if (roll < 45) {
      get(w, key);
    } else if (roll < 65) {
      write(w, Op.put(w.process(), key, value(w), 0), key);
    } else if (roll < 92) {
      write(w, Op.cas(w.process(), key, lastSeen.get(key), value(w), 0), key);
    } else {
      write(w, Op.delete(w.process(), key, 0), key);
    }
  }

  private String value(Worker w) {
    return "v" + values.incrementAndGet();
  }

  private void get(Worker w, String key) {
    Op invocation = recorder.invoke(Op.get(w.process(), key, 0));
    Optional<String> read;
    try {
      read = w.client.get(key, level);
    } catch (RuntimeException e) {
      recorder.fail(invocation); // a read has no effect: failing it constrains nothing
      return;
    }
    recorder.read(invocation, read.orElse(null));
    read.ifPresentOrElse(v -> lastSeen.put(key, v), () -> lastSeen.remove(key));
  }

  private void write(Worker w, Op template, String key) {
    Op invocation = recorder.invoke(template);
    boolean applied;
    try {
      applied = switch (template.f()) {
        case PUT -> {
          w.client.put(key, template.value());
          yield true;
        }
        case CAS -> template.expected() == null
            ? w.client.putIfAbsent(key, template.value())
            : w.client.compareAndSet(key, template.expected(), template.value());
        case DELETE -> {
          w.client.delete(key);
          yield true;
        }
        case GET -> throw new IllegalArgumentException("not a write");
      };
    } catch (RuntimeException e) {
      if (outcomeUnknown(e)) {
        recorder.info(invocation);
        w.crashed();
      } else {
        recorder.fail(invocation);
      }
      return;
    }
    if (!applied) {
      recorder.fail(invocation);
      return;
    }
    recorder.ok(invocation);
    if (template.f() == Op.F.DELETE) {
      lastSeen.remove(key);
    } else {
      lastSeen.put(key, template.value());
    }
  }

  /**
   * Sends a get of {@code key} at this workload's level through {@code client} without waiting,
   * as the fresh process {@code process}, recording it in this history.
   */
  CompletableFuture<?> probe(KvClient client, String key, long process) {
    Op invocation = recorder.invoke(Op.get(process, key, 0));
    return client.getAsync(key.getBytes(StandardCharsets.UTF_8), level).whenComplete((read, e) -> {
      if (e != null) {
        recorder.fail(invocation);
      } else {
        recorder.read(invocation, read.map(v -> new String(v, StandardCharsets.UTF_8)).orElse(null));
      }
    });
  }

  @Override
  void nemesis(String f, String value) {
    recorder.nemesis(f, value);
  }

  @Override
  List<String> write(Path dir, String stamp) throws IOException {
    file = name() + "-" + stamp + ".jsonl";
    recorder.write(dir.resolve(file));
    return List.of(file);
  }

  @Override
  List<CheckResult> check() {
    return List.of(check(name(), level, recorder.history(), file, ""));
  }

  /**
   * Checks a register history with the linearizability checker.
   *
   * @param note appended to the summary (what the workload did), or empty
   */
  static CheckResult check(String name, ReadConsistency level, History h, String file, String note) {
    Verdict v = new LinearizabilityChecker().check(h);
    int[] outcomes = new int[Op.Type.values().length];
    for (Op op : h.ops()) {
      outcomes[op.type().ordinal()]++;
    }
    String headline = v instanceof Verdict.NotLinearizable n ? "NOT linearizable: key " + n.key()
        : v instanceof Verdict.Unknown u ? "unknown: the checker gave up on key " + u.key() : v.describe();
    String summary = headline + "; ok/fail/unknown " + outcomes[Op.Type.OK.ordinal()] + "/"
        + outcomes[Op.Type.FAIL.ordinal()] + "/" + outcomes[Op.Type.INFO.ordinal()]
        + " (reads at " + level + ")" + note;
    CheckResult.Verdict verdict = v.isLinearizable() ? CheckResult.Verdict.VALID
        : v instanceof Verdict.Unknown ? CheckResult.Verdict.UNKNOWN : CheckResult.Verdict.INVALID;
    List<String> problems = v.isLinearizable() ? List.of() : List.of(v.describe());
    return new CheckResult(name, verdict, summary, problems, file);
  }

  @Override
  List<Report.Operation> operations(Context ctx) {
    return operations(name(), recorder.history(), ctx.laneOfProcess(), ctx.clock().getAsLong());
  }

  /** Pairs a register history's invocations and completions into report operations. */
  static List<Report.Operation> operations(String workload, History h, Map<Long, Integer> lanes, long end) {
    Map<Long, Op> open = new HashMap<>();
    List<Report.Operation> out = new ArrayList<>();
    for (HistoryLine line : h.lines()) {
      if (!(line instanceof Op op)) {
        continue;
      }
      if (op.type() == Op.Type.INVOKE) {
        open.put(op.process(), op);
        continue;
      }
      Op inv = open.remove(op.process());
      if (inv != null) {
        out.add(new Report.Operation(workload, lanes.getOrDefault(op.process(), 0), op.process(),
            op.f().name().toLowerCase(Locale.ROOT), Report.Outcome.valueOf(op.type().name()),
            inv.time(), op.time(), op.describe()));
      }
    }
    for (Op inv : open.values()) {
      out.add(new Report.Operation(workload, lanes.getOrDefault(inv.process(), 0), inv.process(),
          inv.f().name().toLowerCase(Locale.ROOT), Report.Outcome.INFO, inv.time(), end, inv.describe()));
    }
    return out;
  }
}
