package io.quorumkv;

import io.quorumkv.raft.sim.SafetyViolation;
import io.quorumkv.raft.sim.SimNetwork;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.Verdict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Runs a {@link KvSimSchedule} end to end and judges it.
 *
 * <p>All along: Raft's safety invariants per partition, and replica hashes ({@link Command.CheckHash}
 * entries) equal across replicas, but a replica rotted by a {@link KvSimStep.Diverge} step, whose
 * hash must differ; after convergence, the product's majority attribution of every mismatch must
 * blame the rotted replicas and no other ({@link KvSim#checkHashAttribution}). After the last step and {@link #TAIL_MICROS} more: the network
 * heals, crashed nodes restart, disks and state machines get their speed back, paused processes
 * resume; then every partition must have a leader within {@link #LEADER_BOUND_MICROS}, pending
 * operations must finish, every client must read every key and then put one more (every key is
 * read and written), and the replicas must converge; then every partition's leader proposes a hash
 * check, which every replica must apply; then every replica of a partition must hold the same store, no key may sit outside its
 * partition's span or in two partitions, range spans must tile the key space, and the history must
 * be linearizable per key.
 *
 * <p>With {@link Mode#NO_ELECTIONS} (the liveness-isolation property) the run first waits for every
 * partition to elect a leader, and then no partition may elect another while the steps run (they
 * slow disks and state machines on a healthy network).
 *
 * <p>A failure writes the history to {@code <dir>/kv-register-<seed>.jsonl} and throws an
 * {@link AssertionError} that names the file and gives a one-line replay command.
 */
final class KvSimRunner {

  /** System property: keep every run's history file in this directory. */
  static final String HISTORY_DIR = "quorumkv.history.dir";
  /** System property read by {@link KvSimReplayTest}: a {@link KvSimSchedule#encode()} line. */
  static final String REPLAY = "quorumkv.kvsim.replay";
  /** System property read by {@link KvSimReplayTest}: {@code no-elections} to replay in that mode. */
  static final String REPLAY_MODE = "quorumkv.kvsim.mode";

  static final long TAIL_MICROS = 300_000;
  static final long LEADER_BOUND_MICROS = 3_000_000;
  static final long FINAL_WRITE_BOUND_MICROS = 3_000_000;
  static final long CONVERGE_BOUND_MICROS = 3_000_000;
  /** Virtual time for the final hash check's entry to commit (see {@link KvSim#checkHashesNow}). */
  static final long FINAL_CHECK_MICROS = 50_000;

  /** What a run must show besides safety, linearizability and liveness. */
  enum Mode {
    /** Nothing more. */
    FAULTS,
    /** No leader election after every partition elected its first leader. */
    NO_ELECTIONS
  }

  /**
   * What a passing run did, for tests to assert it was not vacuous.
   *
   * @param history    the client history
   * @param verdict    linearizable (always, when returned)
   * @param partitions partitions at the end (splits included)
   * @param checks     safety checks that passed
   * @param confChanges membership changes proposed (removals, learners, promotions)
   * @param packedEntries entries of several client writes proposed (by any leader)
   * @param recreatedReplicas replicas created again from a tombstone after a node destroyed its replica
   * @param appliedWritten entries applied while written and not yet durable on their node
   * @param appliedStateLost crashes that lost applied state (a crash kept a prefix of the unsynced writes)
   * @param rots       replicas rotted behind Raft's back ({@link KvSimStep.Diverge})
   * @param rotsBlamed rotted replicas the product's hash comparison attributed a mismatch to
   * @param fencings   replicas fenced by the verdicts of the hash checks
   * @param fencedLeaders of those, leaders that fenced themselves
   * @param canariesRead rotted canaries read at the end where a replica still held the rot, every one fenced ({@link KvSim#probeCanaries})
   * @param stats      counters for people
   */
  record Result(History history, Verdict verdict, int partitions, long checks, long confChanges, long packedEntries,
      long recreatedReplicas, long appliedWritten, long appliedStateLost, long rots, long rotsBlamed, long fencings,
      long fencedLeaders, long fencedLeaderlessLeaders, long canariesRead, String stats) {}

  private KvSimRunner() {}

  static Result run(KvSimSchedule schedule) {
    return run(schedule, Mode.FAULTS);
  }

  /** Runs {@code schedule}; throws {@link AssertionError} (with a replay command) if it fails. */
  static Result run(KvSimSchedule schedule, Mode mode) {
    KvSim sim = new KvSim(schedule);
    String failure;
    Throwable cause = null;
    try {
      failure = drive(sim, schedule, mode);
    } catch (SafetyViolation | RuntimeException e) {
      failure = e.toString();
      cause = e;
    }
    History history = sim.history();
    Verdict verdict = null;
    if (failure == null) {
      verdict = sim.checkHistory();
      if (!verdict.isLinearizable()) {
        failure = verdict.describe();
      }
    }
    Path kept = keep(history, schedule.seed(), failure != null);
    if (failure != null) {
      throw new AssertionError(failure + "\n  after: " + sim.stats() + "\n  nodes:\n" + sim.describeNodes()
          + "\n  history: " + (kept == null ? "(not written)" : kept.toAbsolutePath())
          + "\n  replay: " + replayCommand(schedule, mode), cause);
    }
    return new Result(history, verdict, sim.groups().size(), sim.safetyChecks(), sim.confChanges(), sim.packedEntries(),
        sim.recreatedReplicas(), sim.appliedWrittenEntries(), sim.appliedStateLost(), sim.rots(), sim.rotsBlamed(),
        sim.fencings(), sim.fencedLeaders(), sim.fencedLeaderlessLeaders(), sim.canariesRead(), sim.stats());
  }

  /** The one-line command that replays {@code schedule}. */
  static String replayCommand(KvSimSchedule schedule, Mode mode) {
    return "mvn -B -q -ntp -pl core -am verify -Dsurefire.failIfNoSpecifiedTests=false -Dtest=KvSimReplayTest '-D"
        + REPLAY + "=" + schedule.encode() + "'" + (mode == Mode.NO_ELECTIONS ? " -D" + REPLAY_MODE + "=no-elections" : "");
  }

  /** Runs the schedule and the end checks; returns a failure description, or null. */
  private static String drive(KvSim sim, KvSimSchedule schedule, Mode mode) {
    sim.note("schedule", schedule.encode());
    long electionsBefore = 0;
    if (mode == Mode.NO_ELECTIONS) {
      if (!sim.runUntil(sim::everyGroupLed, LEADER_BOUND_MICROS)) {
        return "liveness: no leader in every partition " + LEADER_BOUND_MICROS / 1000 + " ms after the start";
      }
      electionsBefore = sim.elections();
    }
    sim.startClients();
    for (KvSimStep step : schedule.steps()) {
      sim.runFor(step.waitMillis() * 1_000L);
      step.apply(sim);
    }
    sim.runFor(TAIL_MICROS);
    if (mode == Mode.NO_ELECTIONS && sim.elections() != electionsBefore) {
      return "liveness isolation: " + (sim.elections() - electionsBefore) + " election(s) on a healthy network"
          + " while disks or state machines were slow, the last at " + sim.lastElectionAt() / 1000 + " ms";
    }
    sim.heal();
    sim.setFaults(SimNetwork.Faults.NONE);
    sim.restartAll();
    sim.fixSlowness();
    sim.runFor(Math.max(0, sim.pausesEnd() - sim.now())); // paused processes resume
    if (!sim.runUntil(sim::everyGroupLed, LEADER_BOUND_MICROS)) {
      return "liveness: a partition has no leader " + LEADER_BOUND_MICROS / 1000
          + " ms after healing and restarting everything";
    }
    sim.endAbsences();
    if (!sim.runUntil(sim::membershipRestored, LEADER_BOUND_MICROS)) {
      return "liveness: a partition lacks a leader or its full voter set " + LEADER_BOUND_MICROS / 1000
          + " ms after healing (membership steps not undone)";
    }
    sim.stopClients();
    long opBound = KvSim.OP_DEADLINE_MICROS + 1_000_000;
    if (!sim.runUntil(sim::clientsIdle, opBound)) {
      return "liveness: client operations still pending " + opBound / 1000 + " ms after every partition had a leader";
    }
    if (!sim.finalReadsSucceed(FINAL_WRITE_BOUND_MICROS)) {
      return "liveness: a read after healing did not succeed within " + FINAL_WRITE_BOUND_MICROS / 1000 + " ms";
    }
    if (!sim.finalWritesSucceed(FINAL_WRITE_BOUND_MICROS)) {
      return "liveness: a put after healing did not succeed within " + FINAL_WRITE_BOUND_MICROS / 1000 + " ms";
    }
    if (!sim.runUntil(sim::converged, CONVERGE_BOUND_MICROS)) {
      return "liveness: the replicas did not converge within " + CONVERGE_BOUND_MICROS / 1000 + " ms";
    }
    sim.checkHashesNow();
    sim.runFor(FINAL_CHECK_MICROS);
    if (!sim.runUntil(sim::converged, CONVERGE_BOUND_MICROS)) {
      return "liveness: the replicas did not converge within " + CONVERGE_BOUND_MICROS / 1000
          + " ms of the final hash check";
    }
    String attribution = sim.checkHashAttribution();
    if (attribution != null) {
      return attribution;
    }
    String state = sim.checkFinalState();
    // Last: the canary reads take time, in which the replicas move on (hash checks) and part.
    return state != null ? state : sim.probeCanaries(FINAL_WRITE_BOUND_MICROS);
  }

  private static Path keep(History history, long seed, boolean failed) {
    String dir = System.getProperty(HISTORY_DIR);
    if (dir == null && !failed) {
      return null;
    }
    Path file = Path.of(dir != null ? dir : "target/sim-histories").resolve("kv-register-" + seed + ".jsonl");
    try {
      history.write(file);
    } catch (IOException e) {
      throw new UncheckedIOException("could not keep the history in " + file, e);
    }
    return file;
  }
}
