package io.quorumkv.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Known-good and known-bad register histories. Each test builds its history with a recorder, in
 * real-time order, so the line order is the story the test tells.
 */
class LinearizabilityCheckerTest {

  private final LinearizabilityChecker checker = new LinearizabilityChecker();
  private long clock;
  private final HistoryRecorder h = new HistoryRecorder(() -> clock += 1_000);

  private Verdict check() {
    return checker.check(h.history());
  }

  private void assertLinearizable() {
    Verdict v = check();
    assertTrue(v.isLinearizable(), v::describe);
  }

  private Verdict.NotLinearizable assertNotLinearizable(String key) {
    Verdict v = check();
    Verdict.NotLinearizable bad = assertInstanceOf(Verdict.NotLinearizable.class, v, v::describe);
    assertEquals(key, bad.key());
    return bad;
  }

  @Test
  void emptyHistoryIsLinearizable() {
    assertEquals(new Verdict.Linearizable(0, 0), check());
  }

  @Test
  void sequentialPutThenGetIsLinearizable() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    assertLinearizable();
  }

  @Test
  void readOfAnAbsentKeyIsNil() {
    h.read(h.invoke(Op.get(1, "k", 0)), null);
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    assertLinearizable();
  }

  @Test
  void staleReadAfterACompletedWriteIsRejected() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.ok(h.invoke(Op.put(1, "k", "b", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    Verdict.NotLinearizable bad = assertNotLinearizable("k");
    assertTrue(bad.counterexample().contains("p2 get k -> a (lines 5-6)"), bad::counterexample);
    assertTrue(bad.counterexample().contains("register holds \"b\""), bad::counterexample);
  }

  @Test
  void readsConcurrentWithAWriteMaySeeEitherValue() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    Op write = h.invoke(Op.put(1, "k", "b", 0));
    Op r2 = h.invoke(Op.get(2, "k", 0));
    Op r3 = h.invoke(Op.get(3, "k", 0));
    h.read(r2, "b");
    h.read(r3, "a"); // r3 took effect before the write, r2 after it
    h.ok(write);
    assertLinearizable();
  }

  @Test
  void readsMustNotGoBackInTime() {
    // Both reads overlap the write, but the second starts after the first saw the new value.
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    Op write = h.invoke(Op.put(1, "k", "b", 0));
    h.read(h.invoke(Op.get(2, "k", 0)), "b");
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    h.ok(write);
    Verdict.NotLinearizable bad = assertNotLinearizable("k");
    assertTrue(bad.counterexample().contains("p3 get k -> a (lines 6-7) must take effect"), bad::counterexample);
  }

  @Test
  void readOfAValueNeverWrittenIsRejected() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "zz");
    assertNotLinearizable("k");
  }

  @Test
  void infoWriteThatTookEffectIsAccepted() {
    h.info(h.invoke(Op.put(1, "k", "a", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    assertLinearizable();
  }

  @Test
  void infoWriteThatNeverTookEffectIsAccepted() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.info(h.invoke(Op.put(2, "k", "b", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    assertLinearizable();
  }

  @Test
  void infoWriteMayTakeEffectLongAfterItsTimeout() {
    h.info(h.invoke(Op.put(1, "k", "late", 0)));
    h.ok(h.invoke(Op.put(2, "k", "a", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    h.read(h.invoke(Op.get(3, "k", 0)), "late");
    assertLinearizable();
  }

  @Test
  void infoWriteTakesEffectOnlyOnce() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.info(h.invoke(Op.put(2, "k", "b", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "b");
    h.ok(h.invoke(Op.put(3, "k", "a", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    assertLinearizable();
    h.read(h.invoke(Op.get(3, "k", 0)), "b"); // b would have to be written twice
    assertNotLinearizable("k");
  }

  @Test
  void missingCompletionIsTreatedAsInfo() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.invoke(Op.put(2, "k", "b", 0)); // never completes
    h.read(h.invoke(Op.get(3, "k", 0)), "b");
    h.read(h.invoke(Op.get(3, "k", 0)), "b");
    assertLinearizable();
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    assertNotLinearizable("k");
  }

  @Test
  void failedWriteNeverTookEffect() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.fail(h.invoke(Op.put(2, "k", "b", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    assertLinearizable();
    h.read(h.invoke(Op.get(3, "k", 0)), "b");
    assertNotLinearizable("k");
  }

  @Test
  void infoReadConstrainsNothing() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.info(h.invoke(Op.get(2, "k", 0)));
    assertEquals(new Verdict.Linearizable(1, 1), check());
  }

  @Test
  void casAppliesOnlyWhenTheExpectedValueIsThere() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.ok(h.invoke(Op.cas(1, "k", "a", "b", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "b");
    assertLinearizable();
    h.ok(h.invoke(Op.cas(1, "k", "a", "c", 0))); // the register holds b: this cas cannot succeed
    assertNotLinearizable("k");
  }

  @Test
  void casFromNilCreatesTheKey() {
    h.ok(h.invoke(Op.cas(1, "k", null, "a", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    assertLinearizable();
    h.ok(h.invoke(Op.cas(1, "k", null, "b", 0)));
    assertNotLinearizable("k");
  }

  @Test
  void failedCasConstrainsNothing() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.fail(h.invoke(Op.cas(1, "k", "a", "b", 0))); // could be a compare miss or a lost request
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    assertLinearizable();
  }

  @Test
  void infoCasMayApplyOrNot() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.info(h.invoke(Op.cas(2, "k", "a", "b", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "a");
    h.read(h.invoke(Op.get(3, "k", 0)), "b");
    assertLinearizable();
  }

  @Test
  void infoCasCannotApplyWhenItsExpectedValueIsNeverThere() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.info(h.invoke(Op.cas(2, "k", "x", "b", 0)));
    h.read(h.invoke(Op.get(3, "k", 0)), "b");
    assertNotLinearizable("k");
  }

  @Test
  void concurrentCasesSerialise() {
    h.ok(h.invoke(Op.put(1, "k", "0", 0)));
    Op c1 = h.invoke(Op.cas(1, "k", "0", "1", 0));
    Op c2 = h.invoke(Op.cas(2, "k", "1", "2", 0));
    h.ok(c2); // c2 returned first, yet c1 must have gone before it
    h.ok(c1);
    h.read(h.invoke(Op.get(3, "k", 0)), "2");
    assertLinearizable();
  }

  @Test
  void deleteRemovesTheKey() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.ok(h.invoke(Op.delete(1, "k", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), null);
    h.ok(h.invoke(Op.cas(2, "k", null, "b", 0)));
    assertLinearizable();
  }

  @Test
  void readOfADeletedValueIsRejected() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.ok(h.invoke(Op.delete(1, "k", 0)));
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    assertNotLinearizable("k");
  }

  @Test
  void keysAreIndependentAndTheBadOneIsNamed() {
    h.ok(h.invoke(Op.put(1, "a", "1", 0)));
    h.ok(h.invoke(Op.put(1, "b", "1", 0)));
    h.ok(h.invoke(Op.put(1, "b", "2", 0)));
    h.read(h.invoke(Op.get(2, "a", 0)), "1");
    h.read(h.invoke(Op.get(2, "b", 0)), "1");
    assertNotLinearizable("b");
  }

  @Test
  void nemesisEventsAreSkipped() {
    h.ok(h.invoke(Op.put(1, "k", "a", 0)));
    h.nemesis("partition", "[[1,2],[3]]");
    h.read(h.invoke(Op.get(2, "k", 0)), "a");
    assertLinearizable();
  }

  @Test
  void lineOrderDecidesNotTime() {
    // Times are equal everywhere; the lines still say the write finished before the read began.
    History history = History.parse("""
        {"process":1,"type":"invoke","f":"put","key":"k","value":"a","time":5}
        {"process":1,"type":"ok","f":"put","key":"k","value":"a","time":5}
        {"process":1,"type":"invoke","f":"put","key":"k","value":"b","time":5}
        {"process":1,"type":"ok","f":"put","key":"k","value":"b","time":5}
        {"process":2,"type":"invoke","f":"get","key":"k","value":null,"time":5}
        {"process":2,"type":"ok","f":"get","key":"k","value":"a","time":5}
        """);
    assertFalse(checker.check(history).isLinearizable());
  }

  @Test
  void searchBudgetGivesUnknown() {
    for (int p = 1; p <= 12; p++) {
      h.info(h.invoke(Op.put(p, "k", "v" + p, 0)));
    }
    h.read(h.invoke(Op.get(100, "k", 0)), "never");
    Verdict v = new LinearizabilityChecker(50).check(h.history());
    assertInstanceOf(Verdict.Unknown.class, v, v::describe);
    assertInstanceOf(Verdict.NotLinearizable.class, checker.check(h.history()));
  }

  @Test
  void completionWithoutInvocationIsMalformed() {
    History history = History.parse(
        "{\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k\",\"value\":\"a\",\"time\":1}\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> checker.check(history));
    assertTrue(e.getMessage().contains("line 1"), e::getMessage);
  }

  @Test
  void invokingAfterInfoIsMalformed() {
    h.info(h.invoke(Op.put(1, "k", "a", 0)));
    h.invoke(Op.put(1, "k", "b", 0));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, this::check);
    assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("after its info at line 2"),
        e::getMessage);
  }

  @Test
  void invokingTwiceIsMalformed() {
    h.invoke(Op.put(1, "k", "a", 0));
    h.invoke(Op.put(1, "k", "b", 0));
    assertThrows(IllegalArgumentException.class, this::check);
  }

  @Test
  void completionMustMatchItsInvocation() {
    History history = History.parse("""
        {"process":1,"type":"invoke","f":"put","key":"k","value":"a","time":1}
        {"process":1,"type":"ok","f":"put","key":"j","value":"a","time":2}
        """);
    assertThrows(IllegalArgumentException.class, () -> checker.check(history));
  }
}
