package io.quorumkv.raft.sim;

import io.quorumkv.testkit.History;
import io.quorumkv.testkit.Verdict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Runs a {@link Schedule} end to end and judges it: safety invariants all along, liveness after
 * the faults end, linearizability of the client history at the end.
 *
 * <p>A run: the clients start; each step waits its time, then strikes; after the last step the
 * faults go on for {@link #TAIL_MICROS}. Then the network heals, every crashed node restarts,
 * and within {@link #LEADER_BOUND_MICROS} a leader must exist (a voter of the latest membership),
 * every pending operation must finish, and one more write per client must succeed within
 * {@link #FINAL_WRITE_BOUND_MICROS}. Any failure writes the history to
 * {@code <dir>/register-<seed>.jsonl} and throws an {@link AssertionError} that names the file
 * and gives a one-line replay command.
 */
public final class SimRunner {

  /** System property: keep every run's history file in this directory. */
  public static final String HISTORY_DIR = "quorumkv.history.dir";
  /** System property read by {@link SimReplayTest}: a {@link Schedule#encode()} line. */
  public static final String REPLAY = "quorumkv.sim.replay";

  static final long TAIL_MICROS = 300_000;
  static final long LEADER_BOUND_MICROS = 3_000_000; // 300 ticks
  static final long FINAL_WRITE_BOUND_MICROS = 3_000_000;

  /**
   * What a passing run did, for the tests to assert the run was not vacuous.
   *
   * @param history   the client history
   * @param verdict   the linearizability verdict (always linearizable when returned)
   * @param committed the highest index applied by any node
   * @param checks    safety checks that passed
   * @param stats     counters for people
   * @param appliedStateLost crashes that lost applied state (with {@code written()} reports)
   */
  public record Result(History history, Verdict verdict, long committed, long checks, String stats,
      long appliedStateLost) {}

  private SimRunner() {}

  /** Runs {@code schedule}; throws {@link AssertionError} (with a replay command) if it fails. */
  public static Result run(Schedule schedule) {
    return run(schedule, true);
  }

  /**
   * Runs {@code schedule}, checking liveness after the heal only if {@code checkLiveness}
   * (safety and linearizability are always checked).
   */
  public static Result run(Schedule schedule, boolean checkLiveness) {
    SimCluster cluster = new SimCluster(schedule.config());
    String failure = null;
    Throwable cause = null;
    try {
      failure = drive(cluster, schedule, checkLiveness);
    } catch (SafetyViolation | RuntimeException e) {
      failure = e.toString();
      cause = e;
    }
    History history = cluster.history();
    Verdict verdict = null;
    if (failure == null) {
      verdict = cluster.checkHistory();
      if (!verdict.isLinearizable()) {
        failure = verdict.describe();
      }
    }
    Path kept = keep(history, schedule.seed(), failure != null);
    if (failure != null) {
      throw new AssertionError(failure + "\n  after: " + cluster.stats()
          + "\n  history: " + (kept == null ? "(not written)" : kept.toAbsolutePath())
          + "\n  replay: " + replayCommand(schedule), cause);
    }
    return new Result(history, verdict, cluster.maxCommitted(), cluster.safetyChecks(), cluster.stats(),
        cluster.appliedStateLost());
  }

  /** The one-line command that replays {@code schedule}. */
  public static String replayCommand(Schedule schedule) {
    return "mvn -B -q -ntp -pl raft verify -Dsurefire.failIfNoSpecifiedTests=false -Dtest=SimReplayTest '-D"
        + REPLAY + "=" + schedule.encode() + "'";
  }

  /** Runs the schedule and the liveness check; returns a failure description, or null. */
  private static String drive(SimCluster cluster, Schedule schedule, boolean checkLiveness) {
    cluster.note("schedule", schedule.encode());
    cluster.startClients();
    for (Step step : schedule.steps()) {
      cluster.runFor(step.waitMillis() * 1_000L);
      step.apply(cluster);
    }
    cluster.runFor(TAIL_MICROS);
    cluster.heal();
    cluster.setFaults(SimNetwork.Faults.NONE);
    cluster.restartAll();
    cluster.fixDisks();
    cluster.runFor(Math.max(0, cluster.pausesEnd() - cluster.now())); // paused processes resume
    long healedAt = cluster.now();
    if (!checkLiveness) {
      cluster.runUntil(cluster::hasMemberLeader, LEADER_BOUND_MICROS);
      cluster.stopClients();
      cluster.runUntil(cluster::clientsIdle, cluster.config().opTimeoutMicros() + 1_000_000);
      return null;
    }
    if (!cluster.runUntil(cluster::hasMemberLeader, LEADER_BOUND_MICROS)) {
      return "liveness: no leader among the voters " + cluster.membership().voters() + " within "
          + LEADER_BOUND_MICROS / 1000 + " ms after healing and restarting everything; " + nodes(cluster);
    }
    long electedAfter = cluster.now() - healedAt;
    cluster.stopClients();
    long opBound = cluster.config().opTimeoutMicros() + 1_000_000;
    if (!cluster.runUntil(cluster::clientsIdle, opBound)) {
      return "liveness: client operations still pending " + opBound / 1000 + " ms after the leader was elected";
    }
    if (!cluster.finalWritesSucceed(FINAL_WRITE_BOUND_MICROS)) {
      return "liveness: a write after healing did not succeed within " + FINAL_WRITE_BOUND_MICROS / 1000
          + " ms (leader elected " + electedAfter / 1000 + " ms after healing); " + nodes(cluster);
    }
    return null;
  }

  /** Each live node's view (role, term, log, commit, applied, membership), for a liveness failure. */
  private static String nodes(SimCluster cluster) {
    StringBuilder out = new StringBuilder("nodes:");
    cluster.processes().forEach((id, n) -> {
      if (n.raw() == null) {
        out.append("\n    ").append(id).append(": down");
        return;
      }
      io.quorumkv.raft.Status st = n.raw().status();
      out.append("\n    ").append(id).append(": ").append(st.softState().role())
          .append(" term ").append(st.hardState().term()).append(" vote ").append(st.hardState().vote())
          .append(" commit ").append(st.hardState().commit()).append(" applied ").append(st.applied())
          .append(" last ").append(st.lastIndex()).append(' ').append(st.confState());
    });
    return out.toString();
  }

  /** Writes the history where it is kept; returns the file, or null if not written. */
  private static Path keep(History history, long seed, boolean failed) {
    String dir = System.getProperty(HISTORY_DIR);
    if (dir == null && !failed) {
      return null;
    }
    Path file = Path.of(dir != null ? dir : "target/sim-histories").resolve("register-" + seed + ".jsonl");
    try {
      history.write(file);
    } catch (IOException e) {
      throw new UncheckedIOException("could not keep the history in " + file, e);
    }
    return file;
  }
}
