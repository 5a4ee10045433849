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

  LoggedWorkload(Context ctx) {
    this.log = new OpLog(ctx.clock());
  }

  /** Checks {@link #log}'s lines. */
  abstract CheckResult check(List<OpLog.Line> lines);

  @Override
  final List<CheckResult> check() {
    return List.of(check(log.lines()).withHistory(file));
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
   * true or {@link #FINAL_READ_PATIENCE} has passed.
   */
  static void finalRead(Context ctx, Predicate<Worker> read) {
    Worker w = new Worker(-1, new Random(0), ctx.cluster().client(Duration.ofSeconds(5),
        ctx.cluster().addresses(new Random(0))), ctx);
    long deadline = System.nanoTime() + FINAL_READ_PATIENCE.toNanos();
    while (System.nanoTime() < deadline && !read.test(w)) {
      Cluster.sleep(500);
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
