package io.quorumkv.raft.sim;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Replays one schedule given on the command line, e.g. the one a failing property printed:
 * <pre>
 * mvn -B -q -ntp -pl raft verify -Dsurefire.failIfNoSpecifiedTests=false -Dtest=SimReplayTest \
 *     '-Dquorumkv.sim.replay=voters=3 spares=0 snapshotEvery=0 seed=42 steps=120:crash-leader'
 * </pre>
 * With {@code -Dquorumkv.sim.minimize=true} it first drops steps one at a time for as long as
 * the run still fails the same way (jqwik's shrinking keeps steps whose removal changes the
 * random sequence of everything after them), then replays the smallest schedule found.
 * Skipped when no schedule is given.
 */
class SimReplayTest {

  @Test
  void replay() {
    String line = System.getProperty(SimRunner.REPLAY);
    assumeTrue(line != null && !line.isBlank(), "no -D" + SimRunner.REPLAY + "=<schedule> given");
    Schedule schedule = Schedule.parse(line);
    if (Boolean.getBoolean("quorumkv.sim.minimize")) {
      schedule = minimize(schedule);
      System.out.println("minimal schedule: " + schedule.encode());
    }
    SimRunner.Result result = SimRunner.run(schedule);
    System.out.println("passed: " + result.stats());
  }

  private static Schedule minimize(Schedule schedule) {
    String failure = failure(schedule);
    if (failure == null) {
      return schedule;
    }
    for (boolean shrunk = true; shrunk; ) {
      shrunk = false;
      for (int i = 0; i < schedule.steps().size() && !shrunk; i++) {
        List<Step> fewer = new ArrayList<>(schedule.steps());
        fewer.remove(i);
        Schedule candidate = schedule.withSteps(fewer);
        if (failure.equals(failure(candidate))) {
          schedule = candidate;
          shrunk = true;
        }
      }
    }
    return schedule;
  }

  /**
   * What kind of failure the run ends in (the text before the first colon, e.g. "log matching" or
   * "liveness"), or null if it passes.
   */
  private static String failure(Schedule schedule) {
    try {
      SimRunner.run(schedule);
      return null;
    } catch (AssertionError e) {
      String message = String.valueOf(e.getMessage()).strip();
      int colon = message.indexOf(':');
      return colon < 0 ? message : message.substring(0, colon);
    }
  }
}
