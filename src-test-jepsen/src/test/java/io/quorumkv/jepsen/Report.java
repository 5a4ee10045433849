package io.quorumkv.jepsen;

import io.quorumkv.testkit.Json;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * One run's HTML report: the verdict, each check, a timeline of operations per client thread with
 * fault windows shaded, latency over time with the same windows, and the nemesis events. One
 * file, inline SVG and CSS, no script and no external asset, so it opens anywhere and can be
 * attached to an issue.
 */
final class Report {
  private Report() {}

  /** How an operation ended. */
  enum Outcome { OK, FAIL, INFO }

  /**
   * One operation as drawn.
   *
   * @param lane  the client thread (a row of the timeline)
   * @param start invocation, nanoseconds since the run began
   * @param end   completion, or the end of the run for an operation that never completed
   * @param text  a short description for the tooltip
   */
  record Operation(String workload, int lane, long process, String f, Outcome outcome, long start, long end, String text) {}

  /** A fault, from its {@code start-<kind>} to its {@code stop-<kind>} event. */
  record FaultWindow(String kind, String detail, long start, long end) {}

  /**
   * Everything a report shows.
   *
   * @param parameters  what was run (nodes, nemeses, seed, ...), in display order
   * @param nemesis     the nemesis events ({@code start-x}, {@code stop-x}, others)
   * @param duration    nanoseconds from the start of the run to its end
   * @param notes       things a reader must know, e.g. a nemesis that was skipped and why
   */
  record Run(String name, boolean passed, Map<String, String> parameters, List<CheckResult> checks,
      List<Operation> operations, List<OpLog.Line> nemesis, long duration, List<String> notes) {}

  /** At most this many operations are drawn per chart (evenly sampled beyond). */
  static final int MAX_DRAWN = 2000;

  private static final String[] PALETTE = {
      "#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#2ca02c"};
  private static final Map<String, String> FAULT_COLORS = Map.of(
      "partition", "#f4a261", "kill", "#e63946", "pause", "#457b9d", "clock", "#2a9d8f",
      "membership", "#8338ec", "transfer", "#6c757d", "depose", "#d62828", "stall", "#1d3557",
      "split", "#ff006e", "disk", "#8d6e63");

  private static final int WIDTH = 1100;
  private static final int LEFT = 150;

  static String html(Run run) {
    StringBuilder out = new StringBuilder(64 * 1024);
    List<FaultWindow> windows = windows(run.nemesis(), run.duration());
    out.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
        .append(esc(run.name())).append(" - ").append(run.passed() ? "PASS" : "FAIL")
        .append("</title>\n<style>")
        .append("body{font-family:system-ui,sans-serif;margin:24px;color:#222}")
        .append("table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}")
        .append(".pass{color:#fff;background:#2a9d4b}.fail{color:#fff;background:#c0392b}.unknown{color:#000;background:#f2b134}")
        .append(".verdict{display:inline-block;padding:4px 14px;font-size:22px;font-weight:bold;border-radius:4px}")
        .append("code,.mono{font-family:ui-monospace,monospace;font-size:12px}svg{background:#fafafa;border:1px solid #ddd}")
        .append("</style></head><body>\n");
    out.append("<h1>").append(esc(run.name())).append(" <span class=\"verdict ")
        .append(run.passed() ? "pass\">PASS" : "fail\">FAIL").append("</span></h1>\n");
    out.append("<table>");
    for (Map.Entry<String, String> p : run.parameters().entrySet()) {
      out.append("<tr><th>").append(esc(p.getKey())).append("</th><td>").append(esc(p.getValue())).append("</td></tr>");
    }
    out.append("</table>\n");
    for (String note : run.notes()) {
      out.append("<p><b>Note:</b> ").append(esc(note)).append("</p>\n");
    }
    checks(out, run.checks());
    out.append("<h2>Timeline</h2>\n<p>One row per client thread; green ok, red fail, amber unknown (info). "
        + "Shaded bands are faults.</p>\n");
    timeline(out, run.operations(), windows, run.duration());
    out.append("<h2>Latency</h2>\n");
    latency(out, run.operations(), windows, run.duration());
    out.append("<h2>Nemesis events</h2>\n<table><tr><th>time</th><th>event</th><th>detail</th></tr>");
    for (OpLog.Line e : run.nemesis()) {
      out.append("<tr><td class=\"mono\">").append(Millis.of(e.time())).append("</td><td>").append(esc(e.f()))
          .append("</td><td class=\"mono\">").append(esc(String.valueOf(e.value()))).append("</td></tr>");
    }
    out.append("</table>\n</body></html>\n");
    return out.toString();
  }

  private static void checks(StringBuilder out, List<CheckResult> checks) {
    out.append("<h2>Checks</h2>\n<table><tr><th>check</th><th>verdict</th><th>summary</th><th>history</th></tr>");
    for (CheckResult c : checks) {
      String cls = switch (c.verdict()) {
        case VALID -> "pass";
        case INVALID -> "fail";
        case UNKNOWN -> "unknown";
      };
      out.append("<tr><td>").append(esc(c.name())).append("</td><td class=\"").append(cls).append("\">")
          .append(c.verdict()).append("</td><td>").append(esc(c.summary()));
      if (!c.problems().isEmpty()) {
        out.append("<ul>");
        for (String p : c.problems()) {
          out.append("<li class=\"mono\">").append(esc(p)).append("</li>");
        }
        out.append("</ul>");
      }
      out.append("</td><td>");
      if (c.history() != null) {
        out.append("<a href=\"").append(esc(c.history())).append("\">").append(esc(c.history())).append("</a>");
      }
      out.append("</td></tr>");
    }
    out.append("</table>\n");
  }

  private static void timeline(StringBuilder out, List<Operation> ops, List<FaultWindow> windows, long duration) {
    // rows: workload, then lane
    Map<String, Integer> rows = new LinkedHashMap<>();
    List<Operation> sorted = new ArrayList<>(ops);
    sorted.sort(Comparator.comparing(Operation::workload).thenComparingInt(Operation::lane));
    for (Operation op : sorted) {
      rows.putIfAbsent(row(op), rows.size());
    }
    int rowHeight = 12;
    int top = 20;
    int height = top + Math.max(1, rows.size()) * rowHeight + 24;
    svgOpen(out, height);
    shade(out, windows, duration, top, height - 24);
    for (Map.Entry<String, Integer> row : rows.entrySet()) {
      int y = top + row.getValue() * rowHeight;
      out.append("<text x=\"4\" y=\"").append(y + 9).append("\" font-size=\"9\">").append(esc(row.getKey())).append("</text>");
    }
    for (Operation op : sample(ops)) {
      int y = top + rows.get(row(op)) * rowHeight + 2;
      double x0 = x(op.start(), duration);
      double x1 = Math.max(x0 + 1, x(Math.min(op.end(), duration), duration));
      String color = switch (op.outcome()) {
        case OK -> "#2a9d4b";
        case FAIL -> "#d1495b";
        case INFO -> "#f2b134";
      };
      out.append("<rect x=\"").append(fmt(x0)).append("\" y=\"").append(y).append("\" width=\"")
          .append(fmt(x1 - x0)).append("\" height=\"8\" fill=\"").append(color).append("\"><title>")
          .append(esc(op.workload() + " " + op.text() + " " + op.outcome().name().toLowerCase(Locale.ROOT)
              + " " + Millis.of(op.start()) + ".." + Millis.of(op.end())))
          .append("</title></rect>");
    }
    axis(out, duration, height - 20);
    out.append("</svg>\n");
  }

  /** The timeline row of an operation: its client thread, or the final reads (lane -1). */
  private static String row(Operation op) {
    return op.workload() + (op.lane() < 0 ? " final" : " #" + op.lane());
  }

  private static void latency(StringBuilder out, List<Operation> ops, List<FaultWindow> windows, long duration) {
    int top = 10;
    int plot = 260;
    int height = top + plot + 30;
    svgOpen(out, height);
    shade(out, windows, duration, top, top + plot);
    // log scale from 0.1 ms to 10 s
    double lo = Math.log10(0.1);
    double hi = Math.log10(10_000);
    for (double ms : new double[] {1, 10, 100, 1000, 10_000}) {
      double y = top + plot - (Math.log10(ms) - lo) / (hi - lo) * plot;
      out.append("<line x1=\"").append(LEFT).append("\" x2=\"").append(WIDTH).append("\" y1=\"").append(fmt(y))
          .append("\" y2=\"").append(fmt(y)).append("\" stroke=\"#ddd\"/><text x=\"").append(LEFT - 50)
          .append("\" y=\"").append(fmt(y + 3)).append("\" font-size=\"10\">").append(ms >= 1000 ? (int) (ms / 1000) + " s" : (int) ms + " ms")
          .append("</text>");
    }
    Map<String, String> colors = new TreeMap<>();
    for (Operation op : ops) {
      colors.putIfAbsent(op.workload(), "");
    }
    int i = 0;
    for (Map.Entry<String, String> e : colors.entrySet()) {
      e.setValue(PALETTE[i++ % PALETTE.length]);
    }
    for (Operation op : sample(ops)) {
      if (op.end() > duration) {
        continue;
      }
      double ms = Math.max(0.1, (op.end() - op.start()) / 1e6);
      double y = top + plot - (Math.min(Math.log10(ms), hi) - lo) / (hi - lo) * plot;
      out.append("<circle cx=\"").append(fmt(x(op.end(), duration))).append("\" cy=\"").append(fmt(y))
          .append("\" r=\"").append(op.outcome() == Outcome.OK ? "1.5" : "2.5").append("\" fill=\"")
          .append(colors.get(op.workload())).append("\"").append(op.outcome() == Outcome.OK ? "" : " stroke=\"#000\" stroke-width=\"0.5\"")
          .append("/>");
    }
    int lx = LEFT;
    for (Map.Entry<String, String> e : colors.entrySet()) {
      out.append("<circle cx=\"").append(lx).append("\" cy=\"").append(top + 6).append("\" r=\"4\" fill=\"").append(e.getValue())
          .append("\"/><text x=\"").append(lx + 7).append("\" y=\"").append(top + 10).append("\" font-size=\"10\">")
          .append(esc(e.getKey())).append("</text>");
      lx += 30 + 7 * e.getKey().length();
    }
    axis(out, duration, height - 18);
    out.append("</svg>\n<p>Completion time against latency (log scale); outlined dots did not succeed.</p>\n");
  }

  private static void svgOpen(StringBuilder out, int height) {
    out.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(WIDTH + 10).append("\" height=\"")
        .append(height).append("\" viewBox=\"0 0 ").append(WIDTH + 10).append(' ').append(height).append("\">");
  }

  private static void shade(StringBuilder out, List<FaultWindow> windows, long duration, int top, int bottom) {
    for (FaultWindow w : windows) {
      double x0 = x(w.start(), duration);
      double x1 = Math.max(x0 + 2, x(w.end(), duration));
      String color = FAULT_COLORS.getOrDefault(w.kind(), "#999");
      out.append("<rect x=\"").append(fmt(x0)).append("\" y=\"").append(top).append("\" width=\"").append(fmt(x1 - x0))
          .append("\" height=\"").append(bottom - top).append("\" fill=\"").append(color).append("\" fill-opacity=\"0.18\"><title>")
          .append(esc(w.kind() + ": " + w.detail() + " " + Millis.of(w.start()) + ".." + Millis.of(w.end())))
          .append("</title></rect><text x=\"").append(fmt(x0 + 2)).append("\" y=\"").append(top - 2)
          .append("\" font-size=\"9\" fill=\"").append(color).append("\">").append(esc(w.kind())).append("</text>");
    }
  }

  private static void axis(StringBuilder out, long duration, int y) {
    long seconds = Math.max(1, duration / 1_000_000_000L);
    long step = Math.max(1, seconds / 10);
    for (long s = 0; s <= seconds; s += step) {
      double x = x(s * 1_000_000_000L, duration);
      out.append("<text x=\"").append(fmt(x)).append("\" y=\"").append(y + 12).append("\" font-size=\"10\">")
          .append(s).append("s</text><line x1=\"").append(fmt(x)).append("\" x2=\"").append(fmt(x)).append("\" y1=\"")
          .append(y).append("\" y2=\"").append(y + 3).append("\" stroke=\"#333\"/>");
    }
  }

  private static List<Operation> sample(List<Operation> ops) {
    if (ops.size() <= MAX_DRAWN) {
      return ops;
    }
    // evenly spaced, plus every failure and unknown (what a reader looks for), bounded
    List<Operation> out = new ArrayList<>(2 * MAX_DRAWN);
    double stride = ops.size() / (double) MAX_DRAWN;
    double next = 0;
    int extra = 0;
    for (int i = 0; i < ops.size(); i++) {
      Operation op = ops.get(i);
      if (i >= next) {
        out.add(op);
        next += stride;
      } else if (op.outcome() != Outcome.OK && extra < MAX_DRAWN / 2) {
        out.add(op);
        extra++;
      }
    }
    return out;
  }

  private static double x(long t, long duration) {
    return LEFT + (WIDTH - LEFT) * (Math.max(0, Math.min(t, duration)) / (double) Math.max(1, duration));
  }

  private static String fmt(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  /**
   * The fault windows of a nemesis log: each {@code start-<kind>} with the next
   * {@code stop-<kind>}; a fault never stopped lasts until {@code end}.
   */
  static List<FaultWindow> windows(List<OpLog.Line> nemesis, long end) {
    Map<String, Deque<OpLog.Line>> open = new HashMap<>();
    List<FaultWindow> out = new ArrayList<>();
    for (OpLog.Line e : nemesis) {
      if (e.f().startsWith("start-")) {
        open.computeIfAbsent(e.f().substring(6), k -> new ArrayDeque<>()).add(e);
      } else if (e.f().startsWith("stop-")) {
        String kind = e.f().substring(5);
        OpLog.Line start = open.getOrDefault(kind, new ArrayDeque<>()).poll();
        if (start != null) {
          out.add(new FaultWindow(kind, String.valueOf(start.value()), start.time(), e.time()));
        }
      }
    }
    for (Map.Entry<String, Deque<OpLog.Line>> e : open.entrySet()) {
      for (OpLog.Line start : e.getValue()) {
        out.add(new FaultWindow(e.getKey(), String.valueOf(start.value()), start.time(), end));
      }
    }
    out.sort(Comparator.comparingLong(FaultWindow::start));
    return out;
  }

  /** Pairs an {@link OpLog} history into report operations (nemesis lines are skipped). */
  static List<Operation> operations(String workload, List<OpLog.Line> lines, Map<Long, Integer> lanes, long end) {
    List<Operation> out = new ArrayList<>();
    for (OpLog.Pair p : OpLog.pairs(lines)) {
      OpLog.Line inv = p.invoke();
      String text = "p" + inv.process() + " " + inv.f() + (inv.value() == null ? "" : " " + abbreviate(Json.write(inv.value())));
      out.add(new Operation(workload, lanes.getOrDefault(inv.process(), 0), inv.process(), inv.f(),
          Outcome.valueOf(p.outcome().name()), inv.time(), p.completion() == null ? end : p.completion().time(), text));
    }
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }
}
