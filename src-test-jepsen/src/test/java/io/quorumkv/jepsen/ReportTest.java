package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ReportTest {

  private static final long S = 1_000_000_000L;

  private static SyntheticHistory faults() {
    return new SyntheticHistory()
        .sleep(S).nemesis("start-partition", "majority-minority [[1],[2,3]]")
        .sleep(2 * S).nemesis("start-kill", "SIGKILL [2]")
        .sleep(S).nemesis("stop-kill", "restart [2]")
        .sleep(S).nemesis("stop-partition", "heal")
        .sleep(S).nemesis("start-pause", "SIGSTOP [3]");  // never stopped
  }

  @Test
  void faultWindowsPairEachStartWithTheNextStopOfItsKind() {
    List<Report.FaultWindow> w = Report.windows(faults().lines(), 10 * S);
    assertEquals(3, w.size(), w.toString());
    assertEquals("partition", w.get(0).kind());
    assertEquals(S + 1, w.get(0).start());
    assertEquals(5 * S + 4, w.get(0).end());
    assertEquals("kill", w.get(1).kind());
    assertEquals(3 * S + 2, w.get(1).start());
    assertEquals("pause", w.get(2).kind());
    assertEquals(10 * S, w.get(2).end(), "an unstopped fault lasts to the end");
  }

  @Test
  void operationsPairInvocationsAndCompletionsAndOpenOnesAreUnknown() {
    SyntheticHistory h = new SyntheticHistory()
        .invoke(1, "add", "e1").invoke(2, "add", "e2").ok(1, "add", "e1")
        .nemesis("start-kill", "x")
        .invoke(3, "read", null).complete(3, OpLog.Type.FAIL, "read", null);
    List<Report.Operation> ops = Report.operations("set", h.lines(), Map.of(1L, 0, 2L, 1, 3L, 0), 100);
    assertEquals(3, ops.size());
    assertEquals(Report.Outcome.OK, ops.get(0).outcome());
    assertEquals(Report.Outcome.INFO, ops.get(1).outcome());
    assertEquals(100, ops.get(1).end());
    assertEquals(1, ops.get(1).lane());
    assertEquals(Report.Outcome.FAIL, ops.get(2).outcome());
  }

  @Test
  void theReportIsOneSelfContainedPageWithVerdictChecksTimelineLatencyAndFaults() {
    List<Report.Operation> ops = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      Report.Outcome outcome = i % 10 == 0 ? Report.Outcome.INFO : i % 7 == 0 ? Report.Outcome.FAIL : Report.Outcome.OK;
      ops.add(new Report.Operation(i % 2 == 0 ? "bank" : "set", i % 4, i, "add", outcome, i * S / 10, i * S / 10 + 3_000_000, "p" + i + " add <e" + i + ">"));
    }
    Map<String, String> params = new LinkedHashMap<>();
    params.put("nodes", "3");
    List<CheckResult> checks = List.of(
        CheckResult.of("bank", "12 reads", List.of()),
        CheckResult.of("set", "lost 1", List.of("lost: e1 acknowledged at 1.000s")));
    String html = Report.html(new Report.Run("partition-3", false, params, checks, ops, faults().lines(), 10 * S,
        List.of("clock-skew nemesis skipped: no libfaketime")));

    assertTrue(html.startsWith("<!DOCTYPE html>"));
    assertTrue(html.contains("class=\"verdict fail\">FAIL"));
    assertTrue(html.contains("lost: e1 acknowledged at 1.000s"));
    assertTrue(html.contains("clock-skew nemesis skipped"));
    assertEquals(2, count(html, "<svg "), "a timeline and a latency chart");
    assertTrue(html.contains("fill=\"#f4a261\" fill-opacity=\"0.18\""), "partition window shaded");
    assertTrue(html.contains("p3 add &lt;e3&gt;"), "tooltips are escaped");
    assertEquals(50, count(html, "<rect x=") - 3 * 2, "one bar per operation, plus three shaded windows per chart");
    assertFalse(html.contains("<script"), "no script");
    assertFalse(html.contains("src=\"http") || html.contains("href=\"http"), "no external assets");
  }

  @Test
  void bigRunsAreSampledButKeepEveryFailure() {
    List<Report.Operation> ops = new ArrayList<>();
    int n = 5 * Report.MAX_DRAWN;
    for (int i = 0; i < n; i++) {
      ops.add(new Report.Operation("register", 0, i, "get", i == n - 3 ? Report.Outcome.FAIL : Report.Outcome.OK,
          i, i + 1, "op" + i));
    }
    String html = Report.html(new Report.Run("big", true, Map.of(), List.of(), ops, List.of(), n + 1, List.of()));
    int bars = count(html, "<rect x=");
    assertTrue(bars <= Report.MAX_DRAWN + 2, "bars: " + bars);
    assertTrue(html.contains(">register op" + (n - 3) + " fail"), "the failure is drawn");
  }

  private static int count(String s, String needle) {
    int c = 0;
    for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
      c++;
    }
    return c;
  }
}
