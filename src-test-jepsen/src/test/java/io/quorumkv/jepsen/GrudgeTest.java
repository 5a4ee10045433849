package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.jepsen.Grudge.Link;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class GrudgeTest {

  private static final List<Long> FIVE = List.of(1L, 2L, 3L, 4L, 5L);

  /** Nodes reachable from {@code from} over links that are not cut (both directions needed). */
  private static Set<Long> component(Grudge g, long from, List<Long> nodes) {
    Set<Long> seen = new TreeSet<>(Set.of(from));
    for (int round = 0; round < nodes.size(); round++) {
      for (long a : List.copyOf(seen)) {
        for (long b : nodes) {
          if (!g.cuts().contains(new Link(a, b)) && !g.cuts().contains(new Link(b, a))) {
            seen.add(b);
          }
        }
      }
    }
    return seen;
  }

  @Test
  void majorityMinoritySplitsIntoTwoComponentsAndAMajority() {
    for (int seed = 0; seed < 20; seed++) {
      Grudge g = Grudge.random(Grudge.Kind.MAJORITY_MINORITY, FIVE, 0, new Random(seed));
      Set<Long> a = component(g, 1, FIVE);
      assertTrue(a.size() == 2 || a.size() == 3, g.describe());
      assertEquals(2 * a.size() * (5 - a.size()), g.cuts().size(), "every cross link, both ways");
    }
  }

  @Test
  void isolatedLeaderCutsTheLeaderOffAlone() {
    Grudge g = Grudge.random(Grudge.Kind.ISOLATED_LEADER, FIVE, 4, new Random(1));
    assertEquals(Set.of(4L), component(g, 4, FIVE));
    assertEquals(Set.of(1L, 2L, 3L, 5L), component(g, 1, FIVE));
    assertEquals("isolated-leader [[4],[1,2,3,5]]", g.describe());
  }

  @Test
  void aBridgeSeesBothHalvesWhichCannotSeeEachOther() {
    Grudge g = Grudge.bridge(List.of(3L, 1L, 2L, 4L, 5L));
    for (long other : List.of(1L, 2L, 4L, 5L)) {
      assertFalse(g.cuts().contains(new Link(3, other)));
      assertFalse(g.cuts().contains(new Link(other, 3)));
    }
    assertTrue(g.cuts().contains(new Link(1, 4)) && g.cuts().contains(new Link(5, 2)));
    assertFalse(g.cuts().contains(new Link(1, 2)));
    assertEquals("bridge [1,2]<->3<->[4,5]", g.describe());
  }

  @Test
  void oneWayCutsOnlyOneDirection() {
    Grudge out = Grudge.oneWay(2, List.of(1L, 3L), true);
    assertEquals(Set.of(new Link(2, 1), new Link(2, 3)), out.cuts());
    Grudge in = Grudge.oneWay(2, List.of(1L, 3L), false);
    assertEquals(Set.of(new Link(1, 2), new Link(3, 2)), in.cuts());
  }

  @Test
  void eachNodeIsToldExactlyTheCutsThatConcernIt() {
    Grudge g = Grudge.split("x", List.of(1L), List.of(2L, 3L));
    assertEquals(List.of(new Link(1, 2), new Link(1, 3), new Link(2, 1), new Link(3, 1)), g.cutsOf(1));
    assertEquals(List.of(new Link(1, 2), new Link(2, 1)), g.cutsOf(2));
  }
}
