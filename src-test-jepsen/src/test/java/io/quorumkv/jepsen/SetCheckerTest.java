package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SetCheckerTest {

  private final SetChecker checker = new SetChecker();

  @Test
  void everyAcknowledgedAddPresentIsValidAndUnknownAddsMayOrMayNotBeThere() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "add", "e1").ok(1, "add", "e1")
        .invoke(2, "add", "e2")                       // unknown, turns up at the end
        .invoke(3, "add", "e3").complete(3, OpLog.Type.FAIL, "add", "e3")
        .invoke(4, "add", "e4")                       // unknown, never turns up
        .invoke(5, "read", null).ok(5, "read", List.of("e1"))
        .invoke(6, "final-read", null).ok(6, "final-read", List.of("e1", "e2"));
    CheckResult r = checker.check(h.lines());
    assertTrue(r.valid(), r.toString());
    assertEquals("4 adds (1 acknowledged, 2 unknown of which 1 present at the end), 2 reads; lost 0, unexpected 0",
        r.summary());
  }

  @Test
  void anAcknowledgedAddMissingFromALaterReadIsLost() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "add", "e1").ok(1, "add", "e1")
        .invoke(1, "add", "e2").ok(1, "add", "e2")
        .invoke(2, "final-read", null).ok(2, "final-read", List.of("e2"));
    CheckResult r = checker.check(h.lines());
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).startsWith("lost: e1"), r.problems().toString());
  }

  @Test
  void aReadConcurrentWithAnAddMayMissIt() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "add", "e1")
        .invoke(2, "read", null)
        .ok(1, "add", "e1")
        .ok(2, "read", List.of())
        .invoke(3, "final-read", null).ok(3, "final-read", List.of("e1"));
    assertTrue(checker.check(h.lines()).valid());
  }

  @Test
  void anElementNobodyAddedIsUnexpected() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(2, "final-read", null).ok(2, "final-read", List.of("e9"))
        .invoke(1, "add", "e9").ok(1, "add", "e9");
    CheckResult r = checker.check(h.lines());
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).startsWith("unexpected: e9"), r.problems().toString());
  }

  @Test
  void withoutAFinalReadNothingWasChecked() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "add", "e1").ok(1, "add", "e1")
        .invoke(2, "final-read", null).complete(2, OpLog.Type.FAIL, "final-read", null);
    CheckResult r = checker.check(h.lines());
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).startsWith("no successful final read"), r.problems().toString());
  }
}
