package io.quorumkv;

import io.quorumkv.raft.sim.FaultSteps;
import io.quorumkv.raft.sim.Step;
import io.quorumkv.testkit.LongRuns;
import java.util.ArrayList;
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
 * The multi-raft key-value store under generated fault schedules, in the deterministic simulator
 * ({@link KvSim}): real Raft cores, the real partition state machine with client sessions, real
 * routing for both partitioners, range splits during faults, now and then a replica rotted behind
 * Raft's back ({@link KvSimStep.Diverge}). Every run must keep Raft's safety properties in every
 * partition, equal replica hashes but the rotted ones', whom the product's majority attribution
 * must blame (and nobody else), recover after healing, keep every key in
 * exactly one partition, and leave a linearizable history. A failure shrinks to a minimal
 * schedule and prints a one-line replay command; its history goes to
 * {@code core/target/sim-histories/kv-register-<seed>.jsonl}. The default build runs a fixed seed
 * ({@link FixedSeedUnlessLong}); {@code -Dquorumkv.long=true} multiplies the tries by 100 and
 * explores random seeds.
 */
@AddLifecycleHook(LongRuns.class)
@AddLifecycleHook(FixedSeedUnlessLong.class)
class KvSimProperties {

  private static final int STEPS = 12;
  /** Split points: client keys themselves (the boundary cases) and one between keys. */
  private static final String[] SPLIT_KEYS = {"k1", "k2", "k4", "k5", "k2m"};

  @Property(tries = 130, shrinking = ShrinkingMode.FULL, edgeCases = EdgeCasesMode.NONE)
  void hashPartitionsStaySafeAndLinearizable(@ForAll("hashSchedules") KvSimSchedule schedule) {
    KvSimRunner.Result r = KvSimRunner.run(schedule);
    Statistics.label("client ops").collect(bucket(r.history().ops().size() / 2));
    Statistics.label("membership changes").collect(r.confChanges() == 0 ? "0" : r.confChanges() < 3 ? "1-2" : ">=3");
    Statistics.label("entries of several writes").collect(packed(r.packedEntries()));
    Statistics.label("replicas destroyed and created again").collect(r.recreatedReplicas() > 0);
    collectRot(r);
    collectWrittenPath(r);
  }

  @Property(tries = 130, shrinking = ShrinkingMode.FULL, edgeCases = EdgeCasesMode.NONE)
  void rangePartitionsSplitUnderFaultsWithoutLosingKeys(@ForAll("rangeSchedules") KvSimSchedule schedule) {
    KvSimRunner.Result r = KvSimRunner.run(schedule);
    Statistics.label("partitions at the end").collect(r.partitions());
    Statistics.label("membership changes").collect(r.confChanges() == 0 ? "0" : r.confChanges() < 3 ? "1-2" : ">=3");
    Statistics.label("client ops").collect(bucket(r.history().ops().size() / 2));
    Statistics.label("entries of several writes").collect(packed(r.packedEntries()));
    Statistics.label("replicas destroyed and created again").collect(r.recreatedReplicas() > 0);
    collectRot(r);
    collectWrittenPath(r);
  }

  /**
   * Liveness isolated from slow work (issue 5): on a healthy network, disks that take up to
   * 300 ms more per sync and state machines that take up to 1 s more per batch must not make any
   * partition elect a new leader.
   */
  @Property(tries = 60, shrinking = ShrinkingMode.FULL, edgeCases = EdgeCasesMode.NONE)
  void slowDisksAndStateMachinesCauseNoElections(@ForAll("slowSchedules") KvSimSchedule schedule) {
    KvSimRunner.run(schedule, KvSimRunner.Mode.NO_ELECTIONS);
  }

  @Provide
  Arbitrary<KvSimSchedule> hashSchedules() {
    return schedules(KvSimSchedule.Partitioning.HASH);
  }

  @Provide
  Arbitrary<KvSimSchedule> rangeSchedules() {
    return schedules(KvSimSchedule.Partitioning.RANGE);
  }

  @Provide
  Arbitrary<KvSimSchedule> slowSchedules() {
    return Arbitraries.of(3, 5).flatMap(voters -> {
      Arbitrary<Integer> node = FaultSteps.nodes(1, voters);
      Arbitrary<KvSimStep> step = Arbitraries.oneOf(
          Combinators.combine(FaultSteps.waits(), node, Arbitraries.integers().between(0, 300))
              .as((w, n, ms) -> (KvSimStep) new KvSimStep.Fault(new Step.SlowDisk(w, n, ms))),
          Combinators.combine(FaultSteps.waits(), node, Arbitraries.integers().between(0, 1000))
              .as((w, n, ms) -> (KvSimStep) new KvSimStep.SlowApply(w, n, ms)));
      return Combinators.combine(
              Arbitraries.of(KvSimSchedule.Partitioning.class),
              snapshotEvery(),
              Arbitraries.longs(),
              step.list().ofMinSize(1).ofMaxSize(STEPS))
          .as((p, every, seed, steps) -> new KvSimSchedule(p, voters, every, seed, steps));
    });
  }

  private static Arbitrary<KvSimSchedule> schedules(KvSimSchedule.Partitioning partitioning) {
    return Arbitraries.of(3, 5).flatMap(voters -> {
      Arbitrary<KvSimStep> fault = FaultSteps.faultStep(voters).map(KvSimStep.Fault::new);
      Arbitrary<KvSimStep> slowApply = Combinators.combine(FaultSteps.waits(), FaultSteps.nodes(1, voters),
          Arbitraries.integers().between(0, 300)).as(KvSimStep.SlowApply::new);
      Arbitrary<KvSimStep> split = Combinators.combine(FaultSteps.waits(), Arbitraries.of(SPLIT_KEYS))
          .as(KvSimStep.Split::new);
      Arbitrary<KvSimStep> rejoin = Combinators.combine(FaultSteps.waits(), Arbitraries.integers().between(0, 2),
          FaultSteps.nodes(1, voters), Arbitraries.integers().between(0, 600)).as(KvSimStep.Rejoin::new);
      // Rarely, a replica rots behind Raft's back (a canary changed on its disk): partition index
      // 0-3, modulo the partitions there are then.
      Arbitrary<KvSimStep> diverge = Combinators.combine(FaultSteps.waits(), FaultSteps.nodes(1, voters),
          Arbitraries.integers().between(0, 3)).as(KvSimStep.Diverge::new);
      Arbitrary<KvSimStep> step = partitioning == KvSimSchedule.Partitioning.RANGE
          ? Arbitraries.frequencyOf(Tuple.of(16, fault), Tuple.of(2, slowApply), Tuple.of(4, split), Tuple.of(4, rejoin),
              Tuple.of(1, diverge))
          : Arbitraries.frequencyOf(Tuple.of(16, fault), Tuple.of(2, slowApply), Tuple.of(4, rejoin), Tuple.of(1, diverge));
      Arbitrary<List<KvSimStep>> steps = step.list().ofMaxSize(STEPS);
      if (partitioning == KvSimSchedule.Partitioning.RANGE) {
        // At least one split, somewhere among the faults.
        steps = Combinators.combine(split, steps).as((first, rest) -> {
          List<KvSimStep> all = new ArrayList<>(rest);
          all.add(first.waitMillis() % (rest.size() + 1), first);
          return all;
        });
      }
      return Combinators.combine(snapshotEvery(), Arbitraries.longs(), steps)
          .as((every, seed, list) -> new KvSimSchedule(partitioning, voters, every, seed, list));
    });
  }

  /** No snapshots, or every 5-30 applied entries (lagging replicas then catch up by InstallSnapshot). */
  private static Arbitrary<Integer> snapshotEvery() {
    return Arbitraries.frequencyOf(Tuple.of(1, Arbitraries.just(0)), Tuple.of(2, Arbitraries.integers().between(5, 30)));
  }

  private static String packed(long n) {
    return n == 0 ? "0" : n < 10 ? "1-9" : n < 50 ? "10-49" : ">=50";
  }

  /**
   * The apply-before-fsync path is exercised: replicas apply entries that are written and not yet
   * durable (in nearly every run), and crashes that keep only a prefix of the unsynced writes
   * lose applied state, which the restarted replica must apply again from its log (14-24 % of the
   * runs with the fixed seed).
   */
  private static void collectWrittenPath(KvSimRunner.Result r) {
    Statistics.label("entries applied while only written").collect(written(r.appliedWritten()));
    Statistics.label("entries applied while only written")
        .coverage(c -> c.check("0").percentage(p -> p <= 10));
    Statistics.label("a crash lost applied state").collect(r.appliedStateLost() > 0);
    Statistics.label("a crash lost applied state").coverage(c -> c.check(true).percentage(p -> p >= 5));
  }

  /**
   * Replica rot: some runs rot a replica and the product's attribution blames it (the run checks
   * that it blames no clean one), fences it, and at the end reads its canary without the rotted
   * value; most do not, and then every hash must agree. A rot may also be
   * undone before a hash sees it (a snapshot installed over it, the canary written through Raft
   * after a rot that planted it, the replica destroyed by a membership step) or be seen only where
   * too few clean replicas hashed: "none blamed".
   */
  private static void collectRot(KvSimRunner.Result r) {
    String rot = r.rots() == 0 ? "none" : r.rotsBlamed() > 0 ? "rotted, blamed" : "rotted, none blamed";
    Statistics.label("replica rot").collect(rot);
    Statistics.label("replica rot").coverage(c -> c.check("rotted, blamed").percentage(p -> p >= 5));
    String fence = r.rots() == 0 ? "no rot" : r.fencings() == 0 ? "never fenced"
        : r.canariesRead() > 0 ? "fenced, canary read clean at the end" : "fenced, no fenced rot left at the end";
    Statistics.label("fencing").collect(fence);
    Statistics.label("fencing").coverage(c -> c.check("fenced, canary read clean at the end").percentage(p -> p >= 5));
    Statistics.label("a rotted leader fenced itself").collect(r.fencedLeaders() > 0);
  }

  private static String written(long n) {
    return n == 0 ? "0" : n < 10 ? "1-9" : n < 100 ? "10-99" : ">=100";
  }

  private static String bucket(int n) {
    return n < 100 ? "<100" : n < 300 ? "100-299" : n < 1000 ? "300-999" : ">=1000";
  }
}
