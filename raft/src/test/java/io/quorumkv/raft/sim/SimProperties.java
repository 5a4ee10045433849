package io.quorumkv.raft.sim;

import io.quorumkv.testkit.LongRuns;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.statistics.Statistics;

/**
 * Generated fault schedules against 3- and 5-node clusters. Every run must keep Raft's safety
 * properties at every step, elect a leader and finish its operations once the faults stop, and
 * leave a linearizable history. A failure shrinks to a minimal schedule (fewer steps, shorter
 * waits, smaller seed) and prints a one-line replay command; its history is written to
 * {@code target/sim-histories/register-<seed>.jsonl} (or {@code -Dquorumkv.history.dir}).
 * {@code -Dquorumkv.long=true} multiplies the tries by 100.
 */
@AddLifecycleHook(LongRuns.class)
class SimProperties {

  /** At most this many fault steps per schedule. */
  private static final int STEPS = 16;

  @Property(tries = 800, shrinking = ShrinkingMode.FULL, edgeCases = EdgeCasesMode.NONE)
  void faultsNeverBreakSafetyOrLinearizability(@ForAll("faultSchedules") Schedule schedule) {
    SimRunner.Result r = SimRunner.run(schedule);
    Statistics.label("voters").collect(schedule.voters());
    Statistics.label("committed").collect(r.committed() < 100 ? "<100" : r.committed() < 300 ? "100-299" : ">=300");
    Statistics.label("client ops").collect(bucket(r.history().ops().size() / 2));
  }

  /**
   * Whether the membership property also checks liveness: on by default since the core votes for
   * candidates outside its own (possibly stale) configuration (see {@link SimRegressionTest}).
   * {@code -Dquorumkv.sim.membershipLiveness=false} checks safety only.
   */
  static final boolean MEMBERSHIP_LIVENESS =
      !"false".equals(System.getProperty("quorumkv.sim.membershipLiveness"));

  @Property(tries = 250, shrinking = ShrinkingMode.FULL, edgeCases = EdgeCasesMode.NONE)
  void membershipChangesAndSnapshotsKeepSafety(@ForAll("membershipSchedules") Schedule schedule) {
    SimRunner.Result r = SimRunner.run(schedule, MEMBERSHIP_LIVENESS);
    Statistics.label("committed").collect(r.committed() < 100 ? "<100" : r.committed() < 300 ? "100-299" : ">=300");
  }

  @Provide
  Arbitrary<Schedule> faultSchedules() {
    return Arbitraries.of(3, 5).flatMap(voters -> Combinators.combine(
            messageBytes(),
            Arbitraries.longs(),
            faultStep(voters).list().ofMaxSize(STEPS))
        .as((bytes, seed, steps) -> new Schedule(voters, 0, 0, bytes, seed, steps)));
  }

  @Provide
  Arbitrary<Schedule> membershipSchedules() {
    int voters = 3;
    int all = 5;
    Arbitrary<Step> step = Arbitraries.frequencyOf(
        Tuple.of(6, faultStep(all)),
        Tuple.of(2, Combinators.combine(waits(), nodes(voters + 1, all)).as(Step.AddLearner::new)),
        Tuple.of(2, Combinators.combine(waits(), nodes(voters + 1, all)).as(Step.Promote::new)),
        Tuple.of(1, Combinators.combine(waits(), nodes(1, all)).as(Step.Remove::new)),
        Tuple.of(1, Combinators.combine(waits(), nodes(voters + 1, all), nodes(1, all)).as(Step.Replace::new)),
        Tuple.of(1, waits().map(Step.RemoveLeader::new)));
    return Combinators.combine(
            Arbitraries.integers().between(5, 30),
            messageBytes(),
            Arbitraries.longs(),
            step.list().ofMaxSize(STEPS))
        .as((every, bytes, seed, steps) -> new Schedule(voters, all - voters, every, bytes, seed, steps));
  }

  private static String bucket(int n) {
    return n < 100 ? "<100" : n < 300 ? "100-299" : n < 1000 ? "300-999" : ">=1000";
  }

  /** Faults among nodes {@code 1..n}. */
  static Arbitrary<Step> faultStep(int n) {
    Arbitrary<Integer> node = nodes(1, n);
    Arbitrary<String> groups = Arbitraries.integers().between(0, 2).list().ofSize(n).map(SimProperties::groups);
    return Arbitraries.frequencyOf(
        Tuple.of(3, Combinators.combine(waits(), groups).as(Step.Partition::new)),
        Tuple.of(1, Combinators.combine(waits(), node, node).as(Step.OneWay::new)),
        Tuple.of(2, waits().map(Step.IsolateLeader::new)),
        Tuple.of(3, waits().map(Step.Heal::new)),
        Tuple.of(2, Combinators.combine(waits(), node).as(Step.Crash::new)),
        Tuple.of(2, waits().map(Step.CrashLeader::new)),
        Tuple.of(1, Combinators.combine(waits(), node).as(Step.TransferLeader::new)),
        Tuple.of(2, Combinators.combine(waits(), Arbitraries.integers().between(1, 8)).as(Step.LeaderChurn::new)),
        Tuple.of(2, Combinators.combine(waits(), Arbitraries.integers().between(50, 1000)).as(Step.PauseLeader::new)),
        Tuple.of(2, Combinators.combine(waits(), node, Arbitraries.integers().between(0, 300)).as(Step.SlowDisk::new)),
        Tuple.of(3, Combinators.combine(waits(), node).as(Step.Restart::new)),
        Tuple.of(2, Combinators.combine(waits(), Arbitraries.integers().between(0, 30),
            Arbitraries.integers().between(0, 20), Arbitraries.integers().between(1, 30)).as(Step.Faults::new)));
  }

  /** Batching limit: 1 byte sends one entry per AppendEntries. */
  static Arbitrary<Long> messageBytes() {
    return Arbitraries.of(1L, 100L, 2048L, 65536L);
  }

  static Arbitrary<Integer> waits() {
    return Arbitraries.integers().between(0, 500);
  }

  static Arbitrary<Integer> nodes(int from, int to) {
    return Arbitraries.integers().between(from, to);
  }

  /** Group number per node (node i+1 is in group g.get(i)) as the partition text, e.g. "13|2". */
  static String groups(List<Integer> g) {
    StringBuilder out = new StringBuilder();
    for (int group = 0; group < 3; group++) {
      StringBuilder members = new StringBuilder();
      for (int i = 0; i < g.size(); i++) {
        if (g.get(i) == group) {
          members.append(i + 1);
        }
      }
      if (members.length() > 0) {
        out.append(out.length() > 0 ? "|" : "").append(members);
      }
    }
    return out.toString();
  }
}
