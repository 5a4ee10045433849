package io.quorumkv.examples;

import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;

/**
 * What the benchmark observes of the node processes around a measured phase, besides the client's
 * latencies: their Prometheus counters (fsyncs, entries synced, messages on the wire, proposals),
 * their CPU time from {@code /proc/<pid>/stat}, their GC pauses from the GC logs
 * ({@code -Xlog:gc*:file=...:timemillis,...}, as run-cluster.sh writes them with QKV_GC_LOG=1)
 * and, on request, their live heap ({@code jcmd <pid> GC.class_histogram}, which runs a full GC).
 * Every source is optional: what is not given is not reported.
 */
final class ClusterProbe {

  /** The counters read from each node's /metrics (Prometheus names, summed over their series). */
  static final List<String> COUNTERS = List.of(
      "quorumkv_fsync_latency_seconds_count",
      "quorumkv_fsync_latency_seconds_sum",
      "quorumkv_log_entries_synced_total",
      "quorumkv_log_bytes_synced_total",
      "quorumkv_proposals_total",
      "quorumkv_commits_total",
      "quorumkv_snapshot_bytes_received_total",
      "quorumkv_leader_changes_total",
      "quorumkv_leader_transfers_balancing_total",
      "quorumkv_messages_dropped_total",
      "process_cpu_time_ns_total",
      "quorumkv_transport_heartbeat_frames_total",
      "quorumkv_transport_messages_total{direction=\"sent\"}",
      "quorumkv_transport_messages_total{direction=\"received\"}");

  private final List<String> metricsUrls;
  private final List<Long> pids;
  private final List<Path> gcLogs;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final ConcurrentLinkedQueue<long[]> driverPauses = new ConcurrentLinkedQueue<>();

  ClusterProbe(List<String> metricsUrls, List<Long> pids, List<Path> gcLogs) {
    this.metricsUrls = List.copyOf(metricsUrls);
    this.pids = List.copyOf(pids);
    this.gcLogs = List.copyOf(gcLogs);
    listenToOwnPauses();
  }

  /** One node's readings at one moment. {@code metrics} is empty when /metrics did not answer. */
  record NodeSample(long node, Map<String, Double> metrics, double fsyncP50Seconds, long cpuTicks) {}

  /** All nodes' readings at one moment. */
  record Sample(long nanos, long epochMillis, List<NodeSample> nodes) {}

  Sample sample() {
    List<NodeSample> nodes = new ArrayList<>();
    int n = Math.max(metricsUrls.size(), pids.size());
    for (int i = 0; i < n; i++) {
      Map<String, Double> m = new HashMap<>();
      long node = i + 1;
      double p50 = Double.NaN;
      if (i < metricsUrls.size()) {
        String text = fetch(metricsUrls.get(i));
        if (text != null) {
          Prometheus p = Prometheus.parse(text);
          for (String c : COUNTERS) {
            m.put(c, p.sum(c));
          }
          p50 = p.sum("quorumkv_fsync_latency_seconds{quantile=\"0.5\"}");
          node = p.node().orElse(node);
        }
      }
      long cpu = i < pids.size() ? cpuTicks(pids.get(i)) : -1;
      nodes.add(new NodeSample(node, m, p50, cpu));
    }
    return new Sample(System.nanoTime(), System.currentTimeMillis(), nodes);
  }

  private String fetch(String url) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
          HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? r.body() : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /**
   * Per node, what happened between two samples: rates per second, entries per fsync, CPU, GC
   * pauses that ended in the interval; then the same summed (and the largest pause) over the nodes
   * and the driver's own pauses. Live heap is added when {@code heap} is set (a full GC per node).
   */
  void describe(Json j, Sample a, Sample b, boolean heap) {
    double seconds = (b.nanos() - a.nanos()) / 1e9;
    List<Json> nodes = new ArrayList<>();
    double maxPause = 0;
    double totalPause = 0;
    long pauses = 0;
    double cpuTotal = 0;
    double sentTotal = 0;
    for (int i = 0; i < b.nodes().size(); i++) {
      NodeSample x = a.nodes().get(i);
      NodeSample y = b.nodes().get(i);
      Json n = new Json().put("node", y.node());
      double cpuPct = Double.NaN;
      if (x.cpuTicks() >= 0 && y.cpuTicks() >= 0) {
        cpuPct = 100.0 * (y.cpuTicks() - x.cpuTicks()) / CLOCK_TICKS / seconds;
      } else if (y.metrics().getOrDefault("process_cpu_time_ns_total", 0.0) > 0
          && x.metrics().getOrDefault("process_cpu_time_ns_total", 0.0) > 0) {
        // No PID for this node (e.g. restarted since): the JVM's own CPU time counter.
        cpuPct = 100.0 * delta(x, y, "process_cpu_time_ns_total") / 1e9 / seconds;
      }
      if (!Double.isNaN(cpuPct)) {
        cpuTotal += cpuPct;
        n.put("cpu_pct", Bench.round(cpuPct, 1));
      }
      if (!x.metrics().isEmpty() && !y.metrics().isEmpty()) {
        double fsyncs = delta(x, y, "quorumkv_fsync_latency_seconds_count");
        double entries = delta(x, y, "quorumkv_log_entries_synced_total");
        double sent = delta(x, y, "quorumkv_transport_messages_total{direction=\"sent\"}");
        sentTotal += sent;
        n.put("fsyncs_per_s", Bench.round(fsyncs / seconds, 1))
            .put("entries_per_fsync", fsyncs == 0 ? 0 : Bench.round(entries / fsyncs, 2))
            .put("fsync_mean_us", fsyncs == 0 ? 0
                : Math.round(delta(x, y, "quorumkv_fsync_latency_seconds_sum") / fsyncs * 1e6))
            .put("fsync_p50_us", Double.isNaN(y.fsyncP50Seconds()) ? 0 : Math.round(y.fsyncP50Seconds() * 1e6))
            .put("log_mb_per_s", Bench.round(delta(x, y, "quorumkv_log_bytes_synced_total") / seconds / 1e6, 3))
            .put("proposals_per_s", Bench.round(delta(x, y, "quorumkv_proposals_total") / seconds, 1))
            .put("applied_per_s", Bench.round(delta(x, y, "quorumkv_commits_total") / seconds, 1))
            .put("msgs_sent_per_s", Bench.round(sent / seconds, 1))
            .put("msgs_received_per_s",
                Bench.round(delta(x, y, "quorumkv_transport_messages_total{direction=\"received\"}") / seconds, 1))
            .put("heartbeat_frames_per_s", Bench.round(delta(x, y, "quorumkv_transport_heartbeat_frames_total") / seconds, 1))
            .put("snapshot_mb_received", Bench.round(delta(x, y, "quorumkv_snapshot_bytes_received_total") / 1e6, 3))
            .put("leader_changes", Math.round(delta(x, y, "quorumkv_leader_changes_total")))
            .put("balancing_transfers", Math.round(delta(x, y, "quorumkv_leader_transfers_balancing_total")))
            .put("inbox_drops", Math.round(delta(x, y, "quorumkv_messages_dropped_total")));
      } else if (i < metricsUrls.size()) {
        n.put("metrics", "unavailable"); // /metrics did not answer (in time) at the start or the end
      }
      if (i < gcLogs.size()) {
        Pauses p = Pauses.fromLog(gcLogs.get(i), a.epochMillis(), b.epochMillis());
        n.put("gc_pauses", p.count()).put("gc_pause_max_ms", Bench.round(p.maxMillis(), 2))
            .put("gc_pause_total_ms", Bench.round(p.totalMillis(), 2));
        maxPause = Math.max(maxPause, p.maxMillis());
        totalPause += p.totalMillis();
        pauses += p.count();
      }
      if (heap && i < pids.size()) {
        long live = liveHeapBytes(pids.get(i));
        n.put("heap_live_mb", live < 0 ? -1 : Bench.round(live / 1048576.0, 1));
      }
      nodes.add(n);
    }
    if (!pids.isEmpty() || !metricsUrls.isEmpty()) {
      j.put("nodes_cpu_pct", Bench.round(cpuTotal, 1));
    }
    if (!metricsUrls.isEmpty()) {
      j.put("nodes_msgs_sent_per_s", Bench.round(sentTotal / seconds, 1));
    }
    if (!gcLogs.isEmpty()) {
      j.put("gc_pauses", pauses).put("gc_pause_max_ms", Bench.round(maxPause, 2))
          .put("gc_pause_total_ms", Bench.round(totalPause, 2));
    }
    Pauses own = driverPauses(a.epochMillis(), b.epochMillis());
    j.put("driver_gc_pauses", own.count()).put("driver_gc_pause_max_ms", Bench.round(own.maxMillis(), 2))
        .put("driver_gc_pause_total_ms", Bench.round(own.totalMillis(), 2));
    if (!nodes.isEmpty()) {
      j.put("nodes", nodes);
    }
  }

  private static double delta(NodeSample x, NodeSample y, String counter) {
    return y.metrics().getOrDefault(counter, 0.0) - x.metrics().getOrDefault(counter, 0.0);
  }

  // ---- CPU ----

  /** USER_HZ: the unit of /proc/<pid>/stat's times; 100 on every Linux build that matters. */
  static final double CLOCK_TICKS = 100;

  /** utime + stime of a process, in clock ticks, or -1 when unknown. */
  static long cpuTicks(long pid) {
    try {
      return parseStatTicks(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** Fields 14 and 15 (utime, stime) of a /proc/<pid>/stat line; the name in parentheses may hold spaces. */
  static long parseStatTicks(String stat) {
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    return Long.parseLong(f[11]) + Long.parseLong(f[12]);
  }

  // ---- heap ----

  /** Live heap after a full GC (jcmd GC.class_histogram's total), or -1. */
  static long liveHeapBytes(long pid) {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    try {
      Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "GC.class_histogram")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return -1;
      }
      return parseHistogramTotal(out);
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("(?m)^Total\\s+(\\d+)\\s+(\\d+)\\s*$");

  /** The bytes of the {@code Total} line of a class histogram, or -1. */
  static long parseHistogramTotal(String histogram) {
    Matcher m = HISTOGRAM_TOTAL.matcher(histogram);
    return m.find() ? Long.parseLong(m.group(2)) : -1;
  }

  // ---- GC pauses ----

  /** GC pauses that ended in an interval. */
  record Pauses(long count, double maxMillis, double totalMillis) {
    static Pauses of(List<double[]> endMillisAndPause, long fromMillis, long toMillis) {
      long n = 0;
      double max = 0;
      double total = 0;
      for (double[] p : endMillisAndPause) {
        if (p[0] >= fromMillis && p[0] <= toMillis) {
          n++;
          max = Math.max(max, p[1]);
          total += p[1];
        }
      }
      return new Pauses(n, max, total);
    }

    /** From a GC log written with the {@code timemillis} decoration; none if it cannot be read. */
    static Pauses fromLog(Path log, long fromMillis, long toMillis) {
      try {
        return of(parseGcLog(Files.readAllLines(log)), fromMillis, toMillis);
      } catch (IOException e) {
        return new Pauses(0, 0, 0);
      }
    }
  }

  private static final Pattern PAUSE = Pattern.compile(
      "\\[(\\d{10,})ms\\].*\\[gc\\s*\\] GC\\(\\d+\\) Pause .* (\\d+(?:\\.\\d+)?)ms\\s*$");

  /** {wall-clock millis when the pause was logged (its end), pause in ms} of every pause line. */
  static List<double[]> parseGcLog(List<String> lines) {
    List<double[]> out = new ArrayList<>();
    for (String line : lines) {
      Matcher m = PAUSE.matcher(line);
      if (m.find()) {
        out.add(new double[] {Long.parseLong(m.group(1)), Double.parseDouble(m.group(2))});
      }
    }
    return out;
  }

  /** Records this JVM's own stop-the-world collections (the driver's pauses are latency too). */
  private void listenToOwnPauses() {
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof NotificationEmitter emitter && !gc.getName().contains("Concurrent")) {
        emitter.addNotificationListener((notification, handback) -> {
          if (notification.getUserData() instanceof CompositeData cd && cd.containsKey("gcInfo")) {
            CompositeData info = (CompositeData) cd.get("gcInfo");
            long duration = (Long) info.get("duration");
            driverPauses.add(new long[] {System.currentTimeMillis(), duration});
          }
        }, n -> n.getType().equals("com.sun.management.gc.notification"), null);
      }
    }
  }

  private Pauses driverPauses(long fromMillis, long toMillis) {
    List<double[]> all = new ArrayList<>();
    for (long[] p : driverPauses) {
      all.add(new double[] {p[0], p[1]});
    }
    return Pauses.of(all, fromMillis, toMillis);
  }

  // ---- Prometheus text ----

  /** Series of a Prometheus text exposition, keyed by name and labels (cluster and node left out). */
  record Prometheus(Map<String, Double> series, java.util.OptionalLong nodeLabel) {
    private static final Pattern LINE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([^}]*)\\})?\\s+(\\S+)");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    static Prometheus parse(String text) {
      Map<String, Double> series = new HashMap<>();
      java.util.OptionalLong node = java.util.OptionalLong.empty();
      for (String line : text.split("\n")) {
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        Matcher m = LINE.matcher(line);
        if (!m.find()) {
          continue;
        }
        double v;
        try {
          v = Double.parseDouble(m.group(4));
        } catch (NumberFormatException e) {
          continue;
        }
        StringBuilder kept = new StringBuilder();
        if (m.group(3) != null) {
          Matcher l = LABEL.matcher(m.group(3));
          while (l.find()) {
            if (l.group(1).equals("node")) {
              try {
                node = java.util.OptionalLong.of(Long.parseLong(l.group(2)));
              } catch (NumberFormatException e) {
                // not one of ours
              }
            } else if (!l.group(1).equals("cluster")) {
              kept.append(kept.length() == 0 ? "" : ",").append(l.group(1)).append("=\"").append(l.group(2)).append('"');
            }
          }
        }
        String key = kept.length() == 0 ? m.group(1) : m.group(1) + "{" + kept + "}";
        series.merge(key, v, Double::sum);
      }
      return new Prometheus(series, node);
    }

    /** The value of {@code key} (name, or name{labels} as keyed), 0 when absent. */
    double sum(String key) {
      return series.getOrDefault(key, 0.0);
    }

    java.util.OptionalLong node() {
      return nodeLabel;
    }
  }
}
