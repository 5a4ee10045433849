package io.quorumkv.jepsen;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.function.Predicate;

/**
 * A workload whose history is an {@link OpLog} (bank, set, stale reads): the history file, the
 * nemesis events and the report's operations are the same for all of them.
 */
abstract class LoggedWorkload extends Workload {

  /** How long the final reads after healing keep trying. */
  private static final Duration FINAL_READ_PATIENCE = Duration.ofSeconds(60);

  final OpLog log;
  private String file;
  /** Why the final read never succeeded, with the members' views at that moment; null when it did. */
  private volatile String finalReadGaveUp;

  LoggedWorkload(Context ctx) {
    this.log = new OpLog(ctx.clock());
  }

  /** Checks {@link #log}'s lines. */
  abstract CheckResult check(List<OpLog.Line> lines);

  @Override
  final List<CheckResult> check() {
    CheckResult result = check(log.lines()).withHistory(file);
    return List.of(finalReadGaveUp == null ? result : result.withProblem(finalReadGaveUp));
  }

  @Override
  final void nemesis(String f, String value) {
    log.nemesis(f, value);
  }

  @Override
  final List<String> write(Path dir, String stamp) throws IOException {
    file = name() + "-" + stamp + ".jsonl";
    log.write(dir.resolve(file));
    return List.of(file);
  }

  @Override
  final List<Report.Operation> operations(Context ctx) {
    return Report.operations(name(), log.lines(), ctx.laneOfProcess(), ctx.clock().getAsLong());
  }

  /**
   * Runs {@code read} as a fresh client thread (lane -1, "final" in the report) until it returns
   * true or {@link #FINAL_READ_PATIENCE} has passed. When it gives up, the check reports the last
   * error {@code read} recorded with {@link Worker#failed} and what each member's status showed,
   * so that a run that fails on a machine whose results folder is gone can still be diagnosed.
   */
  final void finalRead(Context ctx, Predicate<Worker> read) {
    Worker w = new Worker(-1, new Random(0), ctx.cluster().client(Duration.ofSeconds(5),
        ctx.cluster().addresses(new Random(0))), ctx);
    long deadline = System.nanoTime() + FINAL_READ_PATIENCE.toNanos();
    int attempts = 0;
    while (System.nanoTime() < deadline) {
      attempts++;
      if (read.test(w)) {
        return;
      }
      Cluster.sleep(500);
    }
    RuntimeException last = w.lastFailure();
    finalReadGaveUp = "the final read gave up after " + FINAL_READ_PATIENCE.toSeconds() + " s and " + attempts
        + " attempts; last error: " + (last == null ? "none recorded" : describe(last)) + "; "
        + ctx.cluster().describeMembers();
  }


  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
