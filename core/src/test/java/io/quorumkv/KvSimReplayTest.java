package io.quorumkv;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Replays one schedule of the multi-raft simulation given on the command line, e.g. the one a
 * failing property printed:
 * <pre>
 * mvn -B -q -ntp -pl core -am verify -Dsurefire.failIfNoSpecifiedTests=false -Dtest=KvSimReplayTest \
 *     '-Dquorumkv.kvsim.replay=partitioner=range voters=3 snapshotEvery=0 seed=42 steps=120:crash-leader'
 * </pre>
 * {@code -Dquorumkv.kvsim.mode=no-elections} replays it as the liveness-isolation property does.
 * With {@code -Dquorumkv.sim.minimize=true} it first drops steps one at a time for as long as the
 * run still fails the same way, then replays the smallest schedule found. Skipped when no
 * schedule is given.
 */
class KvSimReplayTest {

  @Test
  void replay() {
    String line = System.getProperty(KvSimRunner.REPLAY);
    assumeTrue(line != null && !line.isBlank(), "no -D" + KvSimRunner.REPLAY + "=<schedule> given");
    KvSimSchedule schedule = KvSimSchedule.parse(line);
    KvSimRunner.Mode mode = "no-elections".equals(System.getProperty(KvSimRunner.REPLAY_MODE))
        ? KvSimRunner.Mode.NO_ELECTIONS : KvSimRunner.Mode.FAULTS;
    if (Boolean.getBoolean("quorumkv.sim.minimize")) {
      schedule = minimize(schedule, mode);
      System.out.println("minimal schedule: " + schedule.encode());
    }
    KvSimRunner.Result result = KvSimRunner.run(schedule, mode);
    System.out.println("passed: " + result.stats());
  }

  private static KvSimSchedule minimize(KvSimSchedule schedule, KvSimRunner.Mode mode) {
    String failure = failure(schedule, mode);
    if (failure == null) {
      return schedule;
    }
    for (boolean shrunk = true; shrunk; ) {
      shrunk = false;
      for (int i = 0; i < schedule.steps().size() && !shrunk; i++) {
        List<KvSimStep> fewer = new ArrayList<>(schedule.steps());
        fewer.remove(i);
        KvSimSchedule candidate = schedule.withSteps(fewer);
        if (failure.equals(failure(candidate, mode))) {
          schedule = candidate;
          shrunk = true;
        }
      }
    }
    return schedule;
  }

  /** The kind of failure (the text before the first colon), or null if the run passes. */
  private static String failure(KvSimSchedule schedule, KvSimRunner.Mode mode) {
    try {
      KvSimRunner.run(schedule, mode);
      return null;
    } catch (AssertionError e) {
      String message = String.valueOf(e.getMessage()).strip();
      int colon = message.indexOf(':');
      return colon < 0 ? message : message.substring(0, colon);
    }
  }
}
