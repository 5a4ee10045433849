package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quorumkv.testing.FailureReport;
import io.quorumkv.testing.FaultSchedule;
import io.quorumkv.testing.FaultSchedules;
import io.quorumkv.testing.FaultSchedules.Kind;
import io.quorumkv.testing.ScheduleRunner;
import io.quorumkv.testing.Step;
import io.quorumkv.testing.TestCluster;
import io.quorumkv.testing.Workloads;
import io.quorumkv.testkit.LongRuns;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.statistics.Statistics;

/**
 * Replica moves, range splits and merges as steps of generated fault schedules, interleaved with
 * partitions, crashes and restarts while clients run: a range-partitioned in-memory cluster with
 * replication factor 3, register clients on keys on both sides of the split keys, and a writer of
 * distinct keys in the last range (so merges carry them). Every run must leave a linearizable
 * register history, recover, keep every acknowledged distinct write readable and every key in one
 * partition. The statistics count the steps that took effect, and the property fails if a kind of
 * step never did, so a generator that drops them cannot pass. The default build runs a fixed seed
 * ({@link FixedSeedUnlessLong}); {@code -Dquorumkv.long=true} runs 100 times more schedules.
 */
@AddLifecycleHook(FailureReport.class)
@AddLifecycleHook(LongRuns.class)
@AddLifecycleHook(FixedSeedUnlessLong.class)
class PlacementScheduleProperties {

  /** Four nodes for three replicas: every partition lacks one node, so a decommission moves replicas at once. */
  private static final int NODES = 4;
  private static final int FACTOR = 3;
  /**
   * The initial ranges' bounds, between the register keys {@code k0..k2}, and one between those and
   * the writer's keys ({@code w...}); a split at a bound, or a merge of the range starting at one.
   */
  private static final List<String> SPLIT_KEYS = List.of("k1", "k2", "m");
  private static final Duration WAIT = Duration.ofSeconds(30);
  /** The steps this property is about; each must take effect in some schedule of a run. */
  private static final List<String> COUNTED = List.of("split", "merge", "add-node", "decommission");

  @Provide
  Arbitrary<FaultSchedule> movesAndMergesUnderFaults() {
    return FaultSchedules.arbitrary(NODES, EnumSet.of(Kind.PARTITION, Kind.ISOLATE, Kind.HEAL, Kind.CRASH,
        Kind.PLACEMENT, Kind.SPLIT_MERGE), 8, Duration.ofMillis(300), SPLIT_KEYS);
  }

  @Property(tries = 30, edgeCases = EdgeCasesMode.NONE)
  void movesSplitsAndMergesUnderFaultsLoseNothing(@ForAll("movesAndMergesUnderFaults") FaultSchedule schedule)
      throws Exception {
    ScheduleRunner.Result r = run(schedule, 51);
    for (String step : COUNTED) {
      Statistics.label(step).collect(r.applied(step) > 0 ? "took effect" : "did not");
      Statistics.label(step).coverage(check -> check.check("took effect").count(n -> n >= 1));
    }
  }

  /**
   * Session 16's failing schedule (seed -7920000472966715854 of the 8x long run): the second merge
   * was decided from peers' reports older than the first, froze `k2`'s range for the retired
   * partition and stayed so for good (docs/status.md). The cluster seeds are the four of twenty
   * with which this schedule failed on the old code (the replay is not deterministic: real
   * threads); with the fix every replay passed.
   */
  @Example
  void aSecondMergeRightAfterTheFirstsLeaderCrashedCompletes() throws Exception {
    FaultSchedule schedule = FaultSchedule.of(new Step.Merge("k1"), new Step.Crash(Step.Target.leader()),
        new Step.Merge("k2"), new Step.AddNode(), new Step.Partition(Set.of(2L)), new Step.Partition(Set.of(1L)));
    for (long clusterSeed : new long[] {113, 114, 116, 118}) {
      run(schedule, clusterSeed);
    }
  }

  /** Runs {@code schedule} on a fresh cluster and checks everything but the statistics. */
  private static ScheduleRunner.Result run(FaultSchedule schedule, long clusterSeed) throws Exception {
    try (TestCluster c = TestCluster.builder().nodes(NODES).partitioner(RangePartitioner.of("k1", "k2"))
        .seed(clusterSeed).configure(b -> b.replicationFactor(FACTOR).logCompactionEntries(200)).build().start()) {
      c.awaitLeaders(WAIT);
      BackgroundWriter writer = new BackgroundWriter(c.client().withTimeout(Duration.ofSeconds(2)), "w");
      ScheduleRunner.Result r;
      try {
        r = ScheduleRunner.builder("placement-register")
            .clients(4)
            .via(ScheduleRunner.Via.REMOTE_CLIENT)
            .workload(Workloads.registers(3,
                List.of(ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE, ReadConsistency.FOLLOWER)))
            .recoveryTimeout(WAIT)
            .finalCheck(cluster -> {
              try {
                writer.close();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
              }
              KvStore reader = cluster.client().withTimeout(Duration.ofSeconds(10));
              BackgroundWriter.assertAllPresent(reader, writer.acked);
              TestCluster.await(WAIT, "a scan of every key, each once", () -> {
                List<String> keys = reader.scan("", "", 1_000_000).stream().map(KeyValue::keyString).toList();
                assertEquals(keys.stream().distinct().sorted().toList(), keys);
                return true;
              });
            })
            .build().run(c, schedule);
      } finally {
        writer.close();
      }
      Statistics.label("acknowledged distinct writes").collect(writer.acked.size() < 100 ? "<100" : ">=100");
      return r;
    }
  }
}
