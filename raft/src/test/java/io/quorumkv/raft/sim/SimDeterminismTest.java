package io.quorumkv.raft.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Same seed, same run: the whole history (times included) must match byte for byte. */
class SimDeterminismTest {

  private static final String SCHEDULE = "voters=5 spares=0 snapshotEvery=0 seed=20261125 steps="
      + "150:partition:12|345,200:crash-leader,100:faults:10/10/20,250:heal,50:restart:1,50:restart:2,"
      + "50:restart:3,100:isolate-leader";

  @Test
  void sameSeedSameHistoryByteForByte() {
    Schedule schedule = Schedule.parse(SCHEDULE);
    SimRunner.Result first = SimRunner.run(schedule);
    SimRunner.Result second = SimRunner.run(schedule);
    String a = first.history().toJsonLines();
    assertTrue(first.history().ops().size() > 100, "a real workload ran: " + first.stats());
    assertEquals(a, second.history().toJsonLines());
    assertEquals(first.stats(), second.stats());
  }

  @Test
  void sameSeedSameHistoryWithWrittenReports() {
    Schedule schedule = Schedule.parse(SCHEDULE + " written=true");
    assertTrue(schedule.written());
    assertEquals(SimRunner.run(schedule).history().toJsonLines(), SimRunner.run(schedule).history().toJsonLines());
  }

  @Test
  void anotherSeedAnotherHistory() {
    Schedule schedule = Schedule.parse(SCHEDULE);
    Schedule other = new Schedule(schedule.voters(), 0, 0, schedule.msgBytes(), schedule.seed() + 1, schedule.steps(),
        schedule.written());
    assertNotEquals(SimRunner.run(schedule).history().toJsonLines(), SimRunner.run(other).history().toJsonLines());
  }

  @Test
  void schedulesRoundTripThroughTheirText() {
    Schedule schedule = Schedule.parse(SCHEDULE + ",0:oneway:12,3:add-learner:4,5:promote:4,6:remove:2,"
        + "7:remove-leader,8:crash:3,9:churn:4,10:transfer:2,11:pause-leader:300,12:replace:41,13:slow-disk:2/150"
        + " written=true");
    assertEquals(schedule, Schedule.parse(schedule.encode()));
  }
}
