package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Same schedule, same run: the whole multi-raft history (times included) must match byte for byte. */
class KvSimDeterminismTest {

  private static final String SCHEDULE = "partitioner=range voters=3 snapshotEvery=10 seed=20261126 steps="
      + "100:split:k1,200:partition:12|3,100:split:k4,150:crash-leader,100:faults:10/10/20,250:heal,"
      + "50:restart:1,50:restart:2,50:restart:3,100:pause-leader:300,50:slow-apply:2/200,100:split:k5";

  @Test
  void sameSeedSameHistoryByteForByte() {
    KvSimSchedule schedule = KvSimSchedule.parse(SCHEDULE);
    KvSimRunner.Result first = KvSimRunner.run(schedule);
    KvSimRunner.Result second = KvSimRunner.run(schedule);
    String a = first.history().toJsonLines();
    assertTrue(first.history().ops().size() > 100, "a real workload ran: " + first.stats());
    assertTrue(first.partitions() > 2, "a split happened: " + first.stats());
    assertTrue(first.packedEntries() > 0, "leaders packed writes into entries: " + first.stats());
    assertEquals(a, second.history().toJsonLines());
    assertEquals(first.stats(), second.stats());
  }

  /** A replica rotted behind Raft's back (a crash, a disk edit, a restart) replays bit for bit too. */
  @Test
  void aRunWithARotReplaysByteForByte() {
    KvSimSchedule schedule = KvSimSchedule.parse("partitioner=range voters=3 snapshotEvery=10 seed=20261129 steps="
        + "100:split:k1,150:diverge:2/1,200:partition:12|3,100:heal,50:diverge:3/0");
    KvSimRunner.Result first = KvSimRunner.run(schedule);
    KvSimRunner.Result second = KvSimRunner.run(schedule);
    assertEquals(2, first.rots(), first.stats());
    assertEquals(first.history().toJsonLines(), second.history().toJsonLines());
    assertEquals(first.stats(), second.stats());
  }

  @Test
  void anotherSeedAnotherHistory() {
    KvSimSchedule schedule = KvSimSchedule.parse(SCHEDULE);
    KvSimSchedule other = KvSimSchedule.parse(SCHEDULE.replace("seed=20261126", "seed=20261127"));
    assertNotEquals(KvSimRunner.run(schedule).history().toJsonLines(), KvSimRunner.run(other).history().toJsonLines());
  }

  @Test
  void schedulesRoundTripThroughTheirText() {
    KvSimSchedule schedule = KvSimSchedule.parse(SCHEDULE + ",0:oneway:12,9:churn:4,10:transfer:2,13:slow-disk:2/150,"
        + "20:diverge:3/1");
    assertEquals(schedule.encode(), KvSimSchedule.parse(schedule.encode()).encode());
    assertEquals(17, schedule.steps().size());
  }
}
