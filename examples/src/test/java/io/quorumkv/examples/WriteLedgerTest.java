package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.ClusterUnavailableException;
import io.quorumkv.KvTimeoutException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class WriteLedgerTest {

  private static WriteLedger ledger() {
    WriteLedger l = new WriteLedger();
    l.record("acked", "v1", null);
    l.record("failed", "v2", new ClusterUnavailableException("no quorum", false, null));
    l.record("unknown", "v3", new CompletionException(new KvTimeoutException("deadline", null)));
    return l;
  }

  @Test
  void classifiesOutcomes() {
    WriteLedger l = ledger();
    assertEquals(1, l.count(WriteLedger.Outcome.ACKED));
    assertEquals(1, l.count(WriteLedger.Outcome.FAILED));
    assertEquals(1, l.count(WriteLedger.Outcome.UNKNOWN));
    assertEquals(WriteLedger.Outcome.UNKNOWN, WriteLedger.outcomeOf(new RuntimeException("other")));
  }

  @Test
  void aConsistentHistoryHasNoViolation() {
    WriteLedger l = ledger();
    assertEquals(List.of(), l.violations(Map.of("acked", Optional.of("v1"), "failed", Optional.empty(),
        "unknown", Optional.of("v3"))));
    assertEquals(List.of(), l.violations(Map.of("acked", Optional.of("v1"), "failed", Optional.empty(),
        "unknown", Optional.empty())));
  }

  @Test
  void reportsEveryKindOfViolation() {
    WriteLedger l = ledger();
    Map<String, Optional<String>> seen = new HashMap<>();
    seen.put("acked", Optional.empty());
    seen.put("failed", Optional.of("v2"));
    seen.put("unknown", Optional.of("garbage"));
    List<String> v = l.violations(seen);
    assertEquals(3, v.size(), v.toString());
    assertTrue(v.get(0).contains("LOST"), v.toString());
    assertTrue(v.get(1).contains("reported as failed"), v.toString());
    assertTrue(v.get(2).contains("never written"), v.toString());
    assertTrue(l.violations(Map.of()).get(0).contains("could not be read back"));
    assertTrue(l.violations(Map.of("acked", Optional.of("other"))).get(0).contains("but read 'other'"));
  }

  @Test
  void keysAreWrittenOnce() {
    WriteLedger l = ledger();
    assertThrows(IllegalStateException.class, () -> l.record("acked", "again", null));
  }

  @Test
  void longestGapBetweenAcknowledgements() throws InterruptedException {
    WriteLedger l = new WriteLedger();
    long from = System.nanoTime();
    l.record("a", "1", null);
    Thread.sleep(50);
    l.record("b", "2", null);
    long to = System.nanoTime();
    long gap = l.longestAckGapNanos(from, to);
    assertTrue(gap >= 45_000_000L && gap <= to - from, "gap " + gap);
  }
}
