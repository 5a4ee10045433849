package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * A session's window of writes in flight against the obvious model (a sorted set of the numbers
 * in flight): the lowest number in flight is what every write tells the nodes they may forget
 * below, so it must never pass a write still in flight nor lag behind answered ones.
 */
class SessionWindowProperties {

  @Property(tries = 200)
  void theLowestInFlightIsTheModelsLowest(@ForAll long seed, @ForAll @IntRange(min = 1, max = 2000) int steps,
      @ForAll @IntRange(min = 0, max = 100) int beginPercent) {
    Random rnd = new Random(seed);
    SessionWindow w = new SessionWindow();
    TreeSet<Long> inFlight = new TreeSet<>();
    List<Long> handedOut = new ArrayList<>();
    long next = 1;
    for (int i = 0; i < steps; i++) {
      if (inFlight.isEmpty() || rnd.nextInt(100) < beginPercent) {
        long s = w.begin();
        assertEquals(next++, s, "numbers are handed out in order");
        inFlight.add(s);
        handedOut.add(s);
      } else {
        // Any handed-out number ends, in any order, sometimes twice (a duplicate end is harmless).
        long s = rnd.nextInt(4) == 0 ? handedOut.get(rnd.nextInt(handedOut.size()))
            : new ArrayList<>(inFlight).get(rnd.nextInt(inFlight.size()));
        w.end(s);
        inFlight.remove(s);
      }
      assertEquals(inFlight.isEmpty() ? next : inFlight.first(), w.lowest(), "after step " + i);
    }
  }

  @Property(tries = 20)
  void oneStuckWriteHoldsTheWindowOpenWhileThousandsPassIt(@ForAll @IntRange(min = 100, max = 5000) int passing) {
    SessionWindow w = new SessionWindow();
    long stuck = w.begin();
    for (int i = 0; i < passing; i++) {
      w.end(w.begin());
      assertEquals(stuck, w.lowest());
    }
    w.end(stuck);
    assertEquals(passing + 2L, w.lowest(), "once it ends, nothing is in flight");
  }
}
