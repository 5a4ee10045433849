package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * {@link LeaderPlacement#plan}, the leader balancing plan every node computes from its view of
 * the leaders: whatever the view, it moves each giver's whole excess, never fills a target past
 * its share, and leaves the same plan to nodes that see some of its transfers done and others
 * not (which is why two nodes over their share never both fill the same node's deficit while
 * their views lag behind the transfers in flight).
 */
@AddLifecycleHook(FixedSeedUnlessLong.class)
class LeaderBalancingPlanProperties {

  /** A random view: {@code nodes} nodes (ids 1..nodes), each partition led by one of them or by none known. */
  private static Map<Long, Integer> view(Random rnd, int nodes, int partitions) {
    Map<Long, Integer> led = new TreeMap<>();
    // Skewed, as after a start or a restart: one node often leads most.
    long favourite = 1 + rnd.nextInt(nodes);
    int skew = rnd.nextInt(100);
    for (int p = 0; p < partitions; p++) {
      int roll = rnd.nextInt(100);
      long leader = roll < 5 ? 0 : roll < skew ? favourite : 1 + rnd.nextInt(nodes);
      if (leader != 0) {
        led.merge(leader, 1, Integer::sum);
      }
    }
    return led;
  }

  private static Set<Long> candidates(Random rnd, int nodes) {
    Set<Long> c = new TreeSet<>();
    if (rnd.nextBoolean()) {
      for (long n = 1; n <= nodes; n++) {
        c.add(n); // no preference: every voter
      }
    } else {
      for (long n = 1; n <= nodes; n++) {
        if (rnd.nextInt(3) == 0) {
          c.add(n);
        }
      }
      c.add(1 + (long) rnd.nextInt(nodes)); // a preference names at least one voter
    }
    return c;
  }

  @Property(tries = 2000)
  void everyGiverHandsItsWholeExcessAndNoTargetGetsMoreThanItsShare(@ForAll long seed,
      @ForAll @IntRange(min = 2, max = 7) int nodes, @ForAll @IntRange(min = 1, max = 1000) int partitions) {
    Random rnd = new Random(seed);
    Map<Long, Integer> led = view(rnd, nodes, partitions);
    Set<Long> candidates = candidates(rnd, nodes);
    int share = (partitions + candidates.size() - 1) / candidates.size();
    Map<Long, Map<Long, Integer>> plan = LeaderPlacement.plan(led, candidates, partitions);
    String ctx = "view " + led + ", candidates " + candidates + ", " + partitions + " partitions: " + plan;
    Map<Long, Integer> after = new TreeMap<>(led);
    plan.forEach((giver, part) -> {
      int excess = led.getOrDefault(giver, 0) - (candidates.contains(giver) ? share : 0);
      assertEquals(excess, part.values().stream().mapToInt(Integer::intValue).sum(), "giver " + giver + ", " + ctx);
      part.forEach((target, n) -> {
        assertTrue(n > 0, ctx);
        assertTrue(candidates.contains(target), "target " + target + " is no candidate: " + ctx);
        assertTrue(led.getOrDefault(target, 0) < share, "target " + target + " was not under its share: " + ctx);
        after.merge(target, n, Integer::sum);
        after.merge(giver, -n, Integer::sum);
      });
    });
    after.forEach((n, count) -> {
      if (candidates.contains(n)) {
        assertTrue(count <= share, "node " + n + " ends with " + count + " > share " + share + ": " + ctx);
      } else {
        assertEquals(0, count, "node " + n + " is no candidate and keeps leaderships: " + ctx);
      }
    });
    // Every node left over its share gives: nothing is left for a later round but what the
    // executing nodes could not hand away.
    led.forEach((n, count) -> {
      boolean over = candidates.contains(n) ? count > share : count > 0;
      assertEquals(over, plan.containsKey(n), "node " + n + ", " + ctx);
    });
  }

  @Property(tries = 2000)
  void transfersOfThePlanSeenDoneLeaveTheRestOfThePlanUnchanged(@ForAll long seed,
      @ForAll @IntRange(min = 2, max = 7) int nodes, @ForAll @IntRange(min = 1, max = 300) int partitions) {
    Random rnd = new Random(seed);
    Map<Long, Integer> led = view(rnd, nodes, partitions);
    Set<Long> candidates = candidates(rnd, nodes);
    Map<Long, Map<Long, Integer>> plan = LeaderPlacement.plan(led, candidates, partitions);
    // Another node's view: any part of any giver's transfers already done (the partition seen at
    // its new leader), the rest still at the old one.
    Map<Long, Integer> later = new TreeMap<>(led);
    Map<Long, Map<Long, Integer>> rest = new TreeMap<>();
    plan.forEach((giver, part) -> part.forEach((target, n) -> {
      int done = rnd.nextInt(n + 1);
      later.merge(giver, -done, Integer::sum);
      later.merge(target, done, Integer::sum);
      if (n - done > 0) {
        rest.computeIfAbsent(giver, g -> new TreeMap<>()).put(target, n - done);
      }
    }));
    assertEquals(rest, LeaderPlacement.plan(later, candidates, partitions),
        "view " + led + " -> " + later + ", candidates " + candidates + ", plan " + plan);
  }

  @Property(tries = 500)
  void aBalancedViewPlansNothing(@ForAll long seed, @ForAll @IntRange(min = 2, max = 7) int nodes,
      @ForAll @IntRange(min = 1, max = 1000) int partitions) {
    Random rnd = new Random(seed);
    Set<Long> candidates = candidates(rnd, nodes);
    int share = (partitions + candidates.size() - 1) / candidates.size();
    // Leaders dealt to the candidates round robin from a random one, some partitions leaderless.
    Map<Long, Integer> led = new TreeMap<>();
    Long[] c = candidates.toArray(new Long[0]);
    int from = rnd.nextInt(c.length);
    for (int p = 0; p < partitions; p++) {
      if (rnd.nextInt(20) != 0) {
        led.merge(c[(from + p) % c.length], 1, Integer::sum);
      }
    }
    assertTrue(led.values().stream().allMatch(n -> n <= share));
    assertFalse(!LeaderPlacement.plan(led, candidates, partitions).isEmpty(), "view " + led + " is balanced");
  }
}
