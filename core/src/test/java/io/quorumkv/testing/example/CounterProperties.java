package io.quorumkv.testing.example;

import io.quorumkv.KvException;
import io.quorumkv.ReadConsistency;
import io.quorumkv.testing.FailureReport;
import io.quorumkv.testing.FaultSchedule;
import io.quorumkv.testing.FaultSchedules;
import io.quorumkv.testing.FaultSchedules.Kind;
import io.quorumkv.testing.RecordingKvStore;
import io.quorumkv.testing.ScheduleRunner;
import io.quorumkv.testing.TestCluster;
import io.quorumkv.testkit.LongRuns;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.ToLongFunction;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * The user-side property test of docs/testing.md: three clients increment one counter through
 * the user's {@link Counter} service, each embedded in its own node of a three-node cluster, while
 * a generated schedule partitions, isolates, crashes and restarts nodes. Afterwards no acknowledged
 * increment may be lost, and the history of the store calls must be linearizable.
 */
@AddLifecycleHook(FailureReport.class)
@AddLifecycleHook(LongRuns.class)
class CounterProperties {

  @Provide
  Arbitrary<FaultSchedule> schedules() {
    return FaultSchedules.arbitrary(3, EnumSet.of(Kind.PARTITION, Kind.ISOLATE, Kind.HEAL, Kind.CRASH),
        6, Duration.ofMillis(300));
  }

  @Property(tries = 8)
  void noAcknowledgedIncrementIsLost(@ForAll("schedules") FaultSchedule schedule) throws Exception {
    checkCounter(schedule, store -> new Counter(store)::increment);
  }

  /**
   * Runs {@code schedule} against the counter service {@code counter} and checks it: every
   * acknowledged increment is counted, and the store calls form a linearizable history.
   */
  static void checkCounter(FaultSchedule schedule, Function<CounterStore, ToLongFunction<String>> counter)
      throws InterruptedException {
    AtomicLong acknowledged = new AtomicLong();
    AtomicLong unknown = new AtomicLong();
    try (TestCluster cluster = TestCluster.builder().nodes(3).build().start()) {
      ScheduleRunner.builder("counter")
          .workload((store, client, random) -> {
            try {
              counter.apply(recorded(store)).applyAsLong("visits");
              acknowledged.incrementAndGet();
            } catch (KvException e) {
              if (e.outcomeUnknown()) {
                unknown.incrementAndGet(); // it may have counted, or not
              }
              throw e;
            }
          })
          .finalCheck(c -> {
            long value = c.client().get("visits").map(Long::parseLong).orElse(0L);
            if (value < acknowledged.get() || value > acknowledged.get() + unknown.get()) {
              throw new AssertionError("counter is " + value + " after " + acknowledged + " acknowledged and "
                  + unknown + " unknown increments");
            }
          })
          .build()
          .run(cluster, schedule);
    }
  }

  /** The counter's store calls, made through the recording store so that each lands in the history. */
  static CounterStore recorded(RecordingKvStore store) {
    return new CounterStore() {
      @Override
      public Optional<String> get(String key, ReadConsistency consistency) {
        return store.get(key, consistency);
      }

      @Override
      public void put(String key, String value) {
        store.put(key, value);
      }

      @Override
      public boolean compareAndSet(String key, String expected, String newValue) {
        return expected == null ? store.putIfAbsent(key, newValue) : store.compareAndSet(key, expected, newValue);
      }
    };
  }
}
