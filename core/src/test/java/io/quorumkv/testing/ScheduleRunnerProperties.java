package io.quorumkv.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.HashPartitioner;
import io.quorumkv.ReadConsistency;
import io.quorumkv.StorageEngineType;
import io.quorumkv.testkit.LongRuns;
import java.nio.file.Files;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * The kit turned on core itself: registers read and written by several clients under every kind
 * of generated schedule (membership changes and leadership transfers included) stay linearizable
 * and the cluster recovers. {@code -Dquorumkv.long=true} runs a hundred times more schedules.
 */
@AddLifecycleHook(FailureReport.class)
@AddLifecycleHook(LongRuns.class)
class ScheduleRunnerProperties {

  private static final List<ReadConsistency> READS =
      List.of(ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE, ReadConsistency.FOLLOWER);

  @Provide
  Arbitrary<FaultSchedule> everything() {
    return FaultSchedules.arbitrary(3);
  }

  @Provide
  Arbitrary<FaultSchedule> networkAndCrashes() {
    return FaultSchedules.arbitrary(3, EnumSet.of(FaultSchedules.Kind.PARTITION, FaultSchedules.Kind.ISOLATE,
        FaultSchedules.Kind.ONE_WAY, FaultSchedules.Kind.HEAL, FaultSchedules.Kind.CRASH), 5, Duration.ofMillis(300));
  }

  @Property(tries = 8)
  void registersStayLinearizableInMemory(@ForAll("everything") FaultSchedule schedule) throws Exception {
    try (TestCluster cluster = TestCluster.builder().nodes(3).partitioner(HashPartitioner.of(2)).build().start()) {
      registers(ScheduleRunner.Via.REMOTE_CLIENT).run(cluster, schedule);
    }
  }

  @Property(tries = 3)
  void registersStayLinearizableOverNettyAndRocksDb(@ForAll("networkAndCrashes") FaultSchedule schedule)
      throws Exception {
    try (TestCluster cluster = TestCluster.builder().nodes(3).storage(StorageEngineType.ROCKSDB).build().start()) {
      registers(ScheduleRunner.Via.EMBEDDED_NODE).run(cluster, schedule);
    }
  }

  /** A hand-written schedule, as one would pin a shrunk failure; with the history kept. */
  @Example
  void aFixedScheduleRunsAndKeepsItsHistoryWhenAsked() throws Exception {
    FaultSchedule schedule = FaultSchedule.of(new Step.Isolate(Step.Target.leader()),
        new Step.Wait(Duration.ofMillis(300)), new Step.Heal(), new Step.Crash(Step.Target.node(2)),
        new Step.Wait(Duration.ofMillis(100)), new Step.Restart());
    String before = System.getProperty(Recording.HISTORY_DIR_PROPERTY);
    System.setProperty(Recording.HISTORY_DIR_PROPERTY, "target/quorumkv-histories/kept");
    try (TestCluster cluster = TestCluster.builder().nodes(3).build().start()) {
      ScheduleRunner.Result r = registers(ScheduleRunner.Via.EMBEDDED_NODE).run(cluster, schedule);
      assertTrue(r.verdict().isLinearizable() && r.operations() > 0, r.toString());
      assertTrue(r.history().isPresent() && Files.readString(r.history().get()).contains("\"f\":\"isolate\""));
    } finally {
      if (before == null) {
        System.clearProperty(Recording.HISTORY_DIR_PROPERTY);
      } else {
        System.setProperty(Recording.HISTORY_DIR_PROPERTY, before);
      }
    }
  }

  private static ScheduleRunner registers(ScheduleRunner.Via via) {
    return ScheduleRunner.builder("register")
        .clients(4)
        .via(via)
        .workload(Workloads.registers(3, READS))
        .build();
  }
}
