package io.quorumkv.testing.example;

import io.quorumkv.testing.FailureReport;
import io.quorumkv.testing.FaultSchedule;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * The same property as {@link CounterProperties} against the buggy {@link StaleReadCounter}: it
 * must FAIL, and {@link ExpectScheduleFailure} turns "it failed with lost increments or a
 * non-linearizable history, reported with schedule, seed and history file" into a pass (and
 * anything else, including passing, into a failure). The report is kept in
 * target/quorumkv-histories/stale-read-counter-report.txt for docs/testing.md.
 */
@AddLifecycleHook(ExpectScheduleFailure.class)
@AddLifecycleHook(FailureReport.class)
class StaleReadCounterProperties {

  @Provide
  Arbitrary<FaultSchedule> schedules() {
    return new CounterProperties().schedules(); // the very same schedules
  }

  @Property(tries = 5, shrinking = ShrinkingMode.BOUNDED)
  void staleReadsLoseIncrements(@ForAll("schedules") FaultSchedule schedule) throws Exception {
    CounterProperties.checkCounter(schedule, store -> new StaleReadCounter(store)::increment);
  }
}
