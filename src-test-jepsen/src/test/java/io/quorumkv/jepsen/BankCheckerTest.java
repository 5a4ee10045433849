package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BankCheckerTest {

  private static final List<String> ACCOUNTS = List.of("a", "b", "c");
  private final BankChecker checker = new BankChecker(ACCOUNTS, 30);

  private static Map<String, Object> read(String consistency, long a, long b, long c) {
    Map<String, Object> balances = new LinkedHashMap<>();
    balances.put("a", a);
    balances.put("b", b);
    balances.put("c", c);
    return Map.of("consistency", consistency, "balances", balances);
  }

  private static Map<String, Object> transfer(String from, String to, long amount) {
    return Map.of("from", from, "to", to, "amount", amount);
  }

  @Test
  void readsThatKeepTheTotalAreValid() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "transfer", transfer("a", "b", 5))
        .invoke(2, "read", Map.of("consistency", "STALE"))
        .ok(1, "transfer", transfer("a", "b", 5))
        .ok(2, "read", read("STALE", 10, 10, 10))
        .nemesis("start-kill", "SIGKILL [1]")
        .invoke(3, "read", Map.of("consistency", "LINEARIZABLE"))
        .ok(3, "read", read("LINEARIZABLE", 5, 15, 10))
        .invoke(4, "transfer", transfer("c", "a", 2));
    CheckResult r = checker.check(h.lines());
    assertTrue(r.valid(), r.toString());
    assertTrue(r.summary().startsWith("2 reads (0 wrong), transfers ok/fail/unknown 1/0/1"), r.summary());
  }

  @Test
  void aWrongTotalIsReportedWithTheRead() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "read", Map.of("consistency", "LEASE"))
        .ok(1, "read", read("LEASE", 10, 15, 10));
    CheckResult r = checker.check(h.lines());
    assertEquals(CheckResult.Verdict.INVALID, r.verdict());
    assertTrue(r.problems().get(0).contains("LEASE read: total 35 != 30"), r.problems().toString());
  }

  @Test
  void negativeBalancesAndMissingAccountsAreWrong() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "read", null).ok(1, "read", read("FOLLOWER", -5, 25, 10))
        .invoke(2, "read", null).ok(2, "read", Map.of("consistency", "STALE", "balances", Map.of("a", 30L)));
    CheckResult r = checker.check(h.lines());
    assertFalse(r.valid());
    assertEquals(2, r.problems().size(), r.problems().toString());
    assertTrue(r.problems().get(0).contains("negative balance a=-5"), r.problems().toString());
    assertTrue(r.problems().get(1).contains("saw accounts [a]"), r.problems().toString());
  }

  @Test
  void failedReadsAreIgnoredButAHistoryWithoutAnySuccessfulReadChecksNothing() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "read", null).complete(1, OpLog.Type.FAIL, "read", null);
    CheckResult r = checker.check(h.lines());
    assertFalse(r.valid());
    assertTrue(r.problems().get(0).startsWith("no successful read"), r.problems().toString());
  }
}
