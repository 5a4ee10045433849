package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NemesisSchedulerTest {

  private static List<Nemesis> all() {
    List<Nemesis> out = new ArrayList<>();
    for (Nemesis.Kind k : Nemesis.Kind.values()) {
      out.add(Nemesis.create(k, null, true)); // dealing never touches the cluster
    }
    return out;
  }

  private static Set<Nemesis.Kind> kinds(List<Nemesis> hand) {
    Set<Nemesis.Kind> out = EnumSet.noneOf(Nemesis.Kind.class);
    for (Nemesis n : hand) {
      out.add(n.kind());
    }
    return out;
  }

  @Test
  void dealingAloneUsesEveryNemesisBeforeRepeatingOne() {
    for (int seed = 0; seed < 20; seed++) {
      NemesisScheduler s = new NemesisScheduler(all(), 1, new NemesisScheduler.Timing(0, 0, 0, 0),
          new Random(seed), (f, v) -> { });
      Set<Nemesis.Kind> firstRound = EnumSet.noneOf(Nemesis.Kind.class);
      for (int i = 0; i < Nemesis.Kind.values().length; i++) {
        List<Nemesis> hand = s.deal(1);
        assertEquals(1, hand.size());
        firstRound.addAll(kinds(hand));
      }
      assertEquals(EnumSet.allOf(Nemesis.Kind.class), firstRound, "seed " + seed);
    }
  }

  @Test
  void combinedHandsHoldDistinctNemesesAndTheDeckStillCoversEveryKind() {
    NemesisScheduler s = new NemesisScheduler(all(), 3, new NemesisScheduler.Timing(0, 0, 0, 0),
        new Random(42), (f, v) -> { });
    Set<Nemesis.Kind> seen = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      List<Nemesis> hand = s.deal(1 + i % 3);
      assertEquals(1 + i % 3, kinds(hand).size(), "distinct");
      seen.addAll(kinds(hand));
    }
    assertEquals(EnumSet.allOf(Nemesis.Kind.class), seen);
  }
}
