package io.quorumkv.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Example;
import net.jqwik.api.Shrinkable;

/** Generated schedules stay within what was asked for, and shrink towards fewer, simpler steps. */
class FaultSchedulesProperties {

  @Provide
  Arbitrary<FaultSchedule> fiveNodes() {
    return FaultSchedules.arbitrary(5);
  }

  @Provide
  Arbitrary<FaultSchedule> partitionsOnly() {
    return FaultSchedules.arbitrary(3, EnumSet.of(FaultSchedules.Kind.PARTITION), 4, Duration.ofMillis(50));
  }

  @Property(tries = 300)
  void stepsNameExistingNodesAndMinorities(@ForAll("fiveNodes") FaultSchedule schedule) {
    assertTrue(!schedule.steps().isEmpty() && schedule.steps().size() <= FaultSchedules.DEFAULT_MAX_STEPS);
    for (Step step : schedule.steps()) {
      if (step instanceof Step.Partition p) {
        assertTrue(p.minority().size() <= 2 && inRange(p.minority()), step.toString());
      } else if (step instanceof Step.BlockOneWay b) {
        assertTrue(b.from() != b.to() && inRange(Set.of(b.from(), b.to())), step.toString());
      } else if (step instanceof Step.TransferLeader t) {
        assertTrue(inRange(Set.of(t.to())), step.toString());
      } else if (step instanceof Step.Wait w) {
        assertTrue(w.duration().toMillis() >= 10 && w.duration().compareTo(FaultSchedules.DEFAULT_MAX_WAIT) <= 0);
      }
    }
  }

  @Property(tries = 200)
  void onlyTheAskedKinds(@ForAll("partitionsOnly") FaultSchedule schedule) {
    assertTrue(schedule.steps().size() <= 4);
    assertTrue(schedule.steps().stream().allMatch(s -> s instanceof Step.Partition || s instanceof Step.Wait),
        schedule.toString());
  }

  @Example
  void aScheduleShrinksToItsEssentialStep() {
    // Shrink a long schedule holding a crash, as jqwik would under "fails while it holds a crash".
    Arbitrary<FaultSchedule> all = FaultSchedules.arbitrary(5);
    Shrinkable<FaultSchedule> big = all.generator(1000, true).next(new java.util.Random(0));
    for (int i = 1; i < 500 && !(hasCrash(big.value()) && big.value().steps().size() >= 5); i++) {
      big = all.generator(1000, true).next(new java.util.Random(i));
    }
    assertTrue(hasCrash(big.value()) && big.value().steps().size() >= 5, big.value().toString());
    Shrinkable<FaultSchedule> current = big;
    for (int round = 0; round < 1000; round++) {
      java.util.Optional<Shrinkable<FaultSchedule>> smaller = current.shrink()
          .filter(s -> hasCrash(s.value())).findFirst();
      if (smaller.isEmpty()) {
        break;
      }
      current = smaller.get();
    }
    assertTrue(current.value().steps().size() == 1 && hasCrash(current.value()), current.value().toString());
  }

  private static boolean hasCrash(FaultSchedule s) {
    return s.steps().stream().anyMatch(step -> step instanceof Step.Crash);
  }

  private static boolean inRange(Set<Long> ids) {
    return ids.stream().allMatch(id -> id >= 1 && id <= 5);
  }
}
