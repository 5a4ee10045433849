package io.quorumkv.raft.sim;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

/**
 * jqwik arbitraries of fault {@link Step}s, which shrink (fewer steps, shorter waits, lower node
 * ids). {@link SimProperties} and core's multi-raft simulation draw their schedules from here.
 */
public final class FaultSteps {

  private FaultSteps() {}

  /** Faults among nodes {@code 1..n}. */
  public static Arbitrary<Step> faultStep(int n) {
    Arbitrary<Integer> node = nodes(1, n);
    Arbitrary<String> groups = Arbitraries.integers().between(0, 2).list().ofSize(n).map(FaultSteps::groups);
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
  public static Arbitrary<Long> messageBytes() {
    return Arbitraries.of(1L, 100L, 2048L, 65536L);
  }

  public static Arbitrary<Integer> waits() {
    return Arbitraries.integers().between(0, 500);
  }

  public static Arbitrary<Integer> nodes(int from, int to) {
    return Arbitraries.integers().between(from, to);
  }

  /** Group number per node (node i+1 is in group g.get(i)) as the partition text, e.g. "13|2". */
  public static String groups(List<Integer> g) {
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
