package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class CounterCheckTest {

  private static SyntheticHistory initialized() {
    return new SyntheticHistory().invoke(9, "init", 0L).ok(9, "init", 0L);
  }

  @Test
  void theFinalValueMayIncludeUnknownIncrementsButNoFailedOnes() {
    SyntheticHistory h = initialized()
        .invoke(1, "incr", List.of(0L, 1L)).ok(1, "incr", List.of(0L, 1L))
        .invoke(2, "incr", List.of(0L, 1L)).complete(2, OpLog.Type.FAIL, "incr", List.of(0L, 1L))
        .invoke(3, "incr", List.of(1L, 2L))                 // unknown: applied after all
        .invoke(4, "final-read", null).ok(4, "final-read", 2L);
    CheckResult r = CounterWorkload.verify(h.lines());
    assertTrue(r.valid(), r.toString());
    assertEquals("increments ok/fail/unknown 1/1/1, final value 2", r.summary());
  }

  @Test
  void anIncrementToldItFailedThatAppliedAnywayIsCaught() {
    // a retried cas applied on its first attempt, then answered "mismatch" to the retry
    SyntheticHistory h = initialized()
        .invoke(1, "incr", List.of(0L, 1L)).complete(1, OpLog.Type.FAIL, "incr", List.of(0L, 1L))
        .invoke(2, "incr", List.of(1L, 2L)).ok(2, "incr", List.of(1L, 2L))
        .invoke(3, "final-read", null).ok(3, "final-read", 2L);
    CheckResult r = CounterWorkload.verify(h.lines());
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).startsWith("final value 2 > 1 acknowledged + 0 unknown"), r.problems().toString());
  }

  @Test
  void twoAcknowledgedIncrementsFromOneValueAndALostIncrementAreCaught() {
    SyntheticHistory h = initialized()
        .invoke(1, "incr", List.of(0L, 1L)).ok(1, "incr", List.of(0L, 1L))
        .invoke(2, "incr", List.of(0L, 1L)).ok(2, "incr", List.of(0L, 1L))
        .invoke(3, "final-read", null).ok(3, "final-read", 1L);
    CheckResult r = CounterWorkload.verify(h.lines());
    assertFalse(r.valid());
    assertEquals(2, r.problems().size(), r.problems().toString());
    assertTrue(r.problems().get(0).startsWith("two increments from 0 both acknowledged"), r.problems().toString());
    assertTrue(r.problems().get(1).startsWith("final value 1 < 2 acknowledged"), r.problems().toString());
  }
}
