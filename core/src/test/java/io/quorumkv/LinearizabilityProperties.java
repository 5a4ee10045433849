package io.quorumkv;

import io.quorumkv.testing.FailureReport;
import io.quorumkv.testing.FaultSchedule;
import io.quorumkv.testing.FaultSchedules;
import io.quorumkv.testing.ScheduleRunner;
import io.quorumkv.testing.TestCluster;
import io.quorumkv.testing.Workloads;
import io.quorumkv.testkit.LongRuns;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * Clients (remote {@link KvClient}s, each starting at a different node) read and write a few
 * contended keys of a hash- or range-partitioned cluster while a generated schedule partitions the
 * in-memory network and crashes and restarts nodes (losing what they had not synced); the recorded
 * history must be linearizable and the cluster must recover (the test kit's {@link ScheduleRunner};
 * failing histories are kept under target/quorumkv-histories). Runs a few schedules by default;
 * -Dquorumkv.long=true runs a hundred times more.
 */
@AddLifecycleHook(FailureReport.class)
@AddLifecycleHook(LongRuns.class)
class LinearizabilityProperties {

  @Provide
  Arbitrary<FaultSchedule> schedules() {
    return FaultSchedules.arbitrary(3, EnumSet.of(FaultSchedules.Kind.PARTITION, FaultSchedules.Kind.ISOLATE,
        FaultSchedules.Kind.HEAL, FaultSchedules.Kind.CRASH), 6, Duration.ofMillis(400));
  }

  @Property(tries = 3)
  void hashPartitionedHistoriesAreLinearizable(@ForAll("schedules") FaultSchedule schedule) throws Exception {
    run(HashPartitioner.of(2), schedule);
  }

  @Property(tries = 3)
  void rangePartitionedHistoriesAreLinearizable(@ForAll("schedules") FaultSchedule schedule) throws Exception {
    run(RangePartitioner.of("k2"), schedule);
  }

  private static void run(Partitioner partitioner, FaultSchedule schedule) throws Exception {
    try (TestCluster cluster = TestCluster.builder().nodes(3).partitioner(partitioner).build().start()) {
      ScheduleRunner.builder("register")
          .via(ScheduleRunner.Via.REMOTE_CLIENT)
          .operationTimeout(Duration.ofMillis(700))
          .workload(Workloads.registers(4, List.of(ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE,
              ReadConsistency.FOLLOWER)))
          .build()
          .run(cluster, schedule);
    }
  }
}
