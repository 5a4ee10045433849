package io.quorumkv.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

/**
 * jqwik arbitraries of {@link FaultSchedule}s. A schedule is a list of {@link Step}s, so jqwik
 * shrinks a failing one to fewer steps, shorter waits, lower node ids and fewer kinds of fault.
 *
 * <pre>{@code
 * @Provide
 * Arbitrary<FaultSchedule> schedules() {
 *   return FaultSchedules.arbitrary(3);
 * }
 * }</pre>
 *
 * <p>Not generated, because the runtime cannot do them: process pauses (a node's threads cannot be
 * frozen from outside; crash and isolate come closest) and clock skew (nodes read the JVM's clocks).
 */
public final class FaultSchedules {

  /** The kinds of step a schedule may hold; waits are always allowed. */
  public enum Kind {
    /** {@link Step.Partition}: a minority against the majority. */
    PARTITION,
    /** {@link Step.Isolate}: one node (or the leader) cut off. */
    ISOLATE,
    /** {@link Step.BlockOneWay}. */
    ONE_WAY,
    /** {@link Step.Heal}: always useful after network faults. */
    HEAL,
    /** {@link Step.Crash} and {@link Step.Restart}. */
    CRASH,
    /** {@link Step.AddNode} and {@link Step.RemoveNode}. */
    MEMBERSHIP,
    /** {@link Step.TransferLeader}. */
    TRANSFER_LEADER,
    /**
     * {@link Step.AddNode} and {@link Step.Decommission}: replica moves, for a cluster with a
     * replication factor (use it instead of {@link #MEMBERSHIP} there).
     */
    PLACEMENT,
    /** {@link Step.Split} and {@link Step.Merge} at the split keys, for range-partitioned clusters. */
    SPLIT_MERGE;

    /**
     * The kinds that apply to every cluster, which {@link #arbitrary(int)} generates: all but
     * {@link #PLACEMENT} and {@link #SPLIT_MERGE}, which need a cluster configured for them.
     */
    public static Set<Kind> anyCluster() {
      return EnumSet.range(PARTITION, TRANSFER_LEADER);
    }
  }

  /** The default longest schedule. */
  public static final int DEFAULT_MAX_STEPS = 8;
  /** The default longest wait of one step. */
  public static final Duration DEFAULT_MAX_WAIT = Duration.ofMillis(400);

  private FaultSchedules() {}

  /** The default split keys: between the keys of {@link Workloads#registers} ({@code k0, k1, k2}). */
  public static final List<String> DEFAULT_SPLIT_KEYS = List.of("k1", "k2");

  /**
   * Every {@link Kind#anyCluster() kind that applies to any cluster}, up to
   * {@link #DEFAULT_MAX_STEPS} steps, on a cluster of {@code nodes}.
   */
  public static Arbitrary<FaultSchedule> arbitrary(int nodes) {
    return arbitrary(nodes, Kind.anyCluster(), DEFAULT_MAX_STEPS, DEFAULT_MAX_WAIT);
  }

  /**
   * Schedules of up to {@code maxSteps} steps of the given kinds (plus waits of up to
   * {@code maxWait}) on a cluster of {@code nodes} initial members.
   *
   * @param nodes at least 3, so that there is a minority to cut off
   */
  public static Arbitrary<FaultSchedule> arbitrary(int nodes, Set<Kind> kinds, int maxSteps, Duration maxWait) {
    return arbitrary(nodes, kinds, maxSteps, maxWait, DEFAULT_SPLIT_KEYS);
  }

  /**
   * As {@link #arbitrary(int, Set, int, Duration)}, with {@link Kind#SPLIT_MERGE} steps at
   * {@code splitKeys} (a split there, or a merge of the partition holding one into its left-hand
   * neighbour).
   */
  public static Arbitrary<FaultSchedule> arbitrary(int nodes, Set<Kind> kinds, int maxSteps, Duration maxWait,
      List<String> splitKeys) {
    if (splitKeys.isEmpty()) {
      throw new IllegalArgumentException("need at least one split key");
    }
    if (nodes < 3) {
      throw new IllegalArgumentException("fault schedules need at least 3 nodes, got " + nodes);
    }
    if (maxSteps < 1) {
      throw new IllegalArgumentException("maxSteps must be positive, was " + maxSteps);
    }
    Arbitrary<Long> node = Arbitraries.longs().between(1, nodes);
    Arbitrary<Step.Target> target = Arbitraries.oneOf(
        Arbitraries.just(Step.Target.leader()), node.map(Step.Target::node));
    List<Tuple.Tuple2<Integer, Arbitrary<Step>>> choices = new ArrayList<>();
    add(choices, 4, Arbitraries.longs().between(10, Math.max(10, maxWait.toMillis()))
        .map(ms -> new Step.Wait(Duration.ofMillis(ms))));
    if (kinds.contains(Kind.PARTITION)) {
      add(choices, 2, node.set().ofMinSize(1).ofMaxSize((nodes - 1) / 2).map(Step.Partition::new));
    }
    if (kinds.contains(Kind.ISOLATE)) {
      add(choices, 2, target.map(Step.Isolate::new));
    }
    if (kinds.contains(Kind.ONE_WAY)) {
      add(choices, 1, Combinators.combine(node, node).as(Step.BlockOneWay::new)
          .filter(b -> b.from() != b.to()));
    }
    if (kinds.contains(Kind.HEAL)) {
      add(choices, 2, Arbitraries.just(new Step.Heal()));
    }
    if (kinds.contains(Kind.CRASH)) {
      add(choices, 2, target.map(Step.Crash::new));
      add(choices, 1, Arbitraries.just(new Step.Restart()));
    }
    if (kinds.contains(Kind.MEMBERSHIP)) {
      add(choices, 1, Arbitraries.just(new Step.AddNode()));
      add(choices, 1, target.map(Step.RemoveNode::new));
    }
    if (kinds.contains(Kind.TRANSFER_LEADER)) {
      add(choices, 1, node.map(Step.TransferLeader::new));
    }
    // Heavier than membership steps: many of them are skipped (nothing to decommission, a key that
    // starts a partition already, a first range), and a schedule that asks for them is about them.
    if (kinds.contains(Kind.PLACEMENT)) {
      add(choices, 2, Arbitraries.just(new Step.AddNode()));
      add(choices, 2, target.map(Step.Decommission::new));
    }
    if (kinds.contains(Kind.SPLIT_MERGE)) {
      Arbitrary<String> key = Arbitraries.of(List.copyOf(splitKeys));
      add(choices, 3, key.map(Step.Split::new));
      add(choices, 3, key.map(Step.Merge::new));
    }
    Arbitrary<Step> step = Arbitraries.frequencyOf(choices);
    return step.list().ofMinSize(1).ofMaxSize(maxSteps).map(FaultSchedule::new);
  }

  private static void add(List<Tuple.Tuple2<Integer, Arbitrary<Step>>> choices, int weight,
      Arbitrary<? extends Step> steps) {
    choices.add(Tuple.of(weight, steps.map(Step.class::cast)));
  }
}
