package io.quorumkv.raft.sim;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/**
 * Replays one schedule given on the command line, e.g. the one a failing property printed:
 * <pre>
 * mvn -B -q -ntp -pl raft verify -Dsurefire.failIfNoSpecifiedTests=false -Dtest=SimReplayTest \
 *     '-Dquorumkv.sim.replay=voters=3 spares=0 snapshotEvery=0 seed=42 steps=120:crash-leader'
 * </pre>
 * Skipped when the property is absent.
 */
class SimReplayTest {

  @Test
  void replay() {
    String line = System.getProperty(SimRunner.REPLAY);
    assumeTrue(line != null && !line.isBlank(), "no -D" + SimRunner.REPLAY + "=<schedule> given");
    SimRunner.Result result = SimRunner.run(Schedule.parse(line));
    System.out.println("passed: " + result.stats());
  }
}
