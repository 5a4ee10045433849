package io.quorumkv.raft.sim;

import static io.quorumkv.raft.sim.FaultSteps.faultStep;
import static io.quorumkv.raft.sim.FaultSteps.messageBytes;
import static io.quorumkv.raft.sim.FaultSteps.nodes;
import static io.quorumkv.raft.sim.FaultSteps.waits;

import io.quorumkv.testkit.LongRuns;
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
 * Generated fault schedules against 3- and 5-node clusters (the fault steps of {@link FaultSteps},
 * and a node forbidden to lead for a while: {@link Step.NoCampaign}). Every run must keep Raft's
 * safety properties at every step (and the forbidden node must not become leader), elect a leader and finish its operations once the faults stop, and
 * leave a linearizable history. Half the runs drive the core with {@code written()} reports
 * (applying written, unsynced entries; a crash keeps a prefix of the unsynced writes), half
 * without (applying only durable entries), so both driver modes stay covered. A failure shrinks to a minimal schedule (fewer steps, shorter
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
    Statistics.label("written() reports").collect(schedule.written());
    Statistics.label("a node forbidden to lead").collect(schedule.steps().stream().anyMatch(s -> s instanceof Step.NoCampaign));
    if (schedule.written()) {
      Statistics.label("crashes lost applied state").collect(r.appliedStateLost() > 0);
    }
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

  /**
   * The same faults under a scarce node-wide send budget (each node sends each peer from half a
   * message to three messages' worth of entries per tick, all its AppendEntries together), so
   * AppendEntries carry fewer entries or none: safety, linearizability and progress after the
   * heal must not depend on how much a leader may send.
   */
  @Property(tries = 200, shrinking = ShrinkingMode.FULL, edgeCases = EdgeCasesMode.NONE)
  void aScarceSendBudgetKeepsSafetyLinearizabilityAndProgress(@ForAll("budgetedSchedules") Schedule schedule) {
    SimRunner.Result r = SimRunner.run(schedule);
    Statistics.label("budget in messages").collect(schedule.sendBudget() * 2 / schedule.msgBytes() / 2.0);
    Statistics.label("committed").collect(r.committed() < 100 ? "<100" : r.committed() < 300 ? "100-299" : ">=300");
  }

  @Provide
  Arbitrary<Schedule> budgetedSchedules() {
    return Combinators.combine(faultSchedules(), Arbitraries.of(1, 2, 6))
        .as((s, halves) -> s.withSendBudget(Math.max(1, s.msgBytes() * halves / 2)));
  }

  @Provide
  Arbitrary<Schedule> faultSchedules() {
    return Arbitraries.of(3, 5).flatMap(voters -> Combinators.combine(
            messageBytes(),
            Arbitraries.longs(),
            Arbitraries.frequencyOf(
                Tuple.of(14, faultStep(voters)),
                Tuple.of(1, Combinators.combine(waits(), nodes(1, voters), Arbitraries.integers().between(50, 1000))
                    .as(Step.NoCampaign::new)))
                .list().ofMaxSize(STEPS),
            Arbitraries.of(false, true))
        .as((bytes, seed, steps, written) -> new Schedule(voters, 0, 0, bytes, seed, steps, written)));
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
            step.list().ofMaxSize(STEPS),
            Arbitraries.of(false, true))
        .as((every, bytes, seed, steps, written) ->
            new Schedule(voters, all - voters, every, bytes, seed, steps, written));
  }

  private static String bucket(int n) {
    return n < 100 ? "<100" : n < 300 ? "100-299" : n < 1000 ? "300-999" : ">=1000";
  }
}
