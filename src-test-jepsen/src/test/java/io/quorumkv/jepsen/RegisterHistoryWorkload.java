package io.quorumkv.jepsen;

import io.quorumkv.ReadConsistency;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryLine;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.Op;
import io.quorumkv.testkit.Verdict;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A workload whose history is a register history (put/get/cas/delete, the testkit's
 * {@link HistoryRecorder}) read at one {@link ReadConsistency} level: the history file, the
 * nemesis events, the linearizability check and the report's operations are the same for all of
 * them ({@link RegisterWorkload}, {@link DeposedLeaderWorkload}).
 */
abstract class RegisterHistoryWorkload extends Workload {

  final ReadConsistency level;
  final HistoryRecorder recorder;
  private String file;

  RegisterHistoryWorkload(ReadConsistency level, Context ctx) {
    this.level = level;
    this.recorder = new HistoryRecorder(ctx.clock());
  }

  @Override
  final void nemesis(String f, String value) {
    recorder.nemesis(f, value);
  }

  @Override
  final List<String> write(Path dir, String stamp) throws IOException {
    file = name() + "-" + stamp + ".jsonl";
    recorder.write(dir.resolve(file));
    return List.of(file);
  }

  @Override
  final List<CheckResult> check() {
    return List.of(check(name(), level, recorder.history(), file, checkNote()));
  }

  /** Appended to the check's summary: what the workload did, or empty. */
  String checkNote() {
    return "";
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
  final List<Report.Operation> operations(Context ctx) {
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
