package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.Op;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class StaleReadCheckerTest {

  private final AtomicLong clock = new AtomicLong();

  /** v1 written at t=1..2, v2's write invoked at t=3 and never completed. */
  private History writes() {
    HistoryRecorder rec = new HistoryRecorder(clock::incrementAndGet);
    Op put = rec.invoke(Op.put(1, "k", "v1", 0));
    rec.ok(put);
    rec.invoke(Op.cas(2, "k", "v1", "v2", 0));
    return rec.history();
  }

  private static Map<String, Object> result(Object value, long node, long applied) {
    return result(value, node, 1, applied);
  }

  /** A read's answer; {@code run} is the node's incarnation, or null if unknown. */
  private static Map<String, Object> result(Object value, long node, Integer run, long applied) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("key", "k");
    m.put("value", value);
    m.put("node", node);
    m.put("partition", 1L);
    m.put("applied", applied);
    m.put("incarnation", run);
    return m;
  }

  @Test
  void oldValuesAbsenceAndPendingWritesAreAllowed() {
    History writes = writes();
    SyntheticHistory stale = new SyntheticHistory().sleep(10)
        .invoke(9, "stale-get", null).ok(9, "stale-get", result(null, 1, 3))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v2", 2, 9))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 1, 5));
    CheckResult r = new StaleReadChecker().check(stale.lines(), writes);
    assertTrue(r.valid(), r.toString());
    assertEquals("3 stale reads; invented values 0, applied index going backwards 0", r.summary());
  }

  @Test
  void aValueNeverWrittenIsInvented() {
    SyntheticHistory stale = new SyntheticHistory().sleep(10)
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v7", 1, 3));
    CheckResult r = new StaleReadChecker().check(stale.lines(), writes());
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).contains("returned v7, which no write ever wrote"), r.problems().toString());
  }

  @Test
  void aValueWhoseWriteCameLaterIsInvented() {
    History writes = writes(); // writes at t=1..3
    SyntheticHistory stale = new SyntheticHistory()   // read completes at t=2
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v2", 1, 3));
    CheckResult r = new StaleReadChecker().check(stale.lines(), writes);
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).contains("whose write was invoked only at"), r.problems().toString());
  }

  @Test
  void aReplicaGoingBackInItsAppliedIndexIsCaughtButOverlappingReadsMayDisagree() {
    SyntheticHistory overlapping = new SyntheticHistory().sleep(10)
        .invoke(8, "stale-get", null).invoke(9, "stale-get", null)
        .ok(8, "stale-get", result("v1", 1, 7)).ok(9, "stale-get", result("v1", 1, 5));
    assertTrue(new StaleReadChecker().check(overlapping.lines(), writes()).valid());

    SyntheticHistory successive = new SyntheticHistory().sleep(10)
        .invoke(8, "stale-get", null).ok(8, "stale-get", result("v1", 1, 7))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 1, 5))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 2, 1));
    CheckResult r = new StaleReadChecker().check(successive.lines(), writes());
    assertFalse(r.valid());
    assertEquals(1, r.problems().size(), r.problems().toString());
    assertTrue(r.problems().get(0).contains("node 1 (run 1) partition 1 served a read invoked at"),
        r.problems().toString());
  }

  @Test
  void aReplicaMayComeBackLowerAfterARestartButNotGoBackWithinARun() {
    SyntheticHistory restarted = new SyntheticHistory().sleep(10)
        .invoke(8, "stale-get", null).ok(8, "stale-get", result("v1", 1, 1, 7))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 1, null, 2)) // restarted meanwhile
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 1, 2, 5))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 1, 2, 6));
    CheckResult r = new StaleReadChecker().check(restarted.lines(), writes());
    assertTrue(r.valid(), r.toString());

    SyntheticHistory backInTheNewRun = new SyntheticHistory().sleep(10)
        .invoke(8, "stale-get", null).ok(8, "stale-get", result("v1", 1, 2, 7))
        .invoke(9, "stale-get", null).ok(9, "stale-get", result("v1", 1, 2, 5));
    assertFalse(new StaleReadChecker().check(backInTheNewRun.lines(), writes()).valid());
  }
}
