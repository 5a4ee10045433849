package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterProbeTest {

  @Test
  void prometheusSeriesAreKeyedByNameAndLabelsWithoutClusterAndNode() {
    ClusterProbe.Prometheus p = ClusterProbe.Prometheus.parse("""
        # HELP quorumkv_transport_messages_total Raft messages
        # TYPE quorumkv_transport_messages_total counter
        quorumkv_transport_messages_total{cluster="quorumkv",direction="sent",node="2"} 1234.0
        quorumkv_transport_messages_total{cluster="quorumkv",direction="received",node="2"} 99.0
        quorumkv_fsync_latency_seconds{cluster="quorumkv",node="2",quantile="0.5"} 1.5E-4
        quorumkv_fsync_latency_seconds_count{cluster="quorumkv",node="2"} 10
        jvm_gc_pause_seconds_count{action="end of minor GC",cause="a",cluster="quorumkv",gc="G1",node="2"} 3
        jvm_gc_pause_seconds_count{action="end of minor GC",cause="b",cluster="quorumkv",gc="G1",node="2"} 4
        not a metric line
        """);
    assertEquals(1234.0, p.sum("quorumkv_transport_messages_total{direction=\"sent\"}"));
    assertEquals(99.0, p.sum("quorumkv_transport_messages_total{direction=\"received\"}"));
    assertEquals(1.5e-4, p.sum("quorumkv_fsync_latency_seconds{quantile=\"0.5\"}"));
    assertEquals(10.0, p.sum("quorumkv_fsync_latency_seconds_count"));
    assertEquals(0.0, p.sum("absent_total"));
    assertEquals(2L, p.node().orElseThrow());
    assertEquals(3.0, p.sum("jvm_gc_pause_seconds_count{action=\"end of minor GC\",cause=\"a\",gc=\"G1\"}"));
  }

  @Test
  void eachNodeRecordsTheLeadershipsBalancingHandedAwayDuringThePhase() {
    ClusterProbe probe = new ClusterProbe(List.of("http://127.0.0.1:1/metrics"), List.of(), List.of());
    String counter = "quorumkv_leader_transfers_balancing_total";
    ClusterProbe.Sample start = new ClusterProbe.Sample(0, 0,
        List.of(new ClusterProbe.NodeSample(1, Map.of(counter, 5.0), Double.NaN, -1)));
    ClusterProbe.Sample end = new ClusterProbe.Sample(2_000_000_000L, 2_000,
        List.of(new ClusterProbe.NodeSample(1, Map.of(counter, 12.0), Double.NaN, -1)));
    Json j = new Json();
    probe.describe(j, start, end, false);
    assertTrue(ClusterProbe.COUNTERS.contains(counter), "read from /metrics");
    assertEquals(7L, ((Json) ((List<?>) j.get("nodes")).get(0)).get("balancing_transfers"));
  }

  @Test
  void cpuTicksFromProcStatEvenWithParenthesesInTheName() {
    String stat = "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 25 0 0 20 0 40 0 100 0 0";
    assertEquals(175, ClusterProbe.parseStatTicks(stat));
    assertTrue(ClusterProbe.cpuTicks(ProcessHandle.current().pid()) >= 0);
    assertEquals(-1, ClusterProbe.cpuTicks(Long.MAX_VALUE));
  }

  @Test
  void gcPausesOfAWindowFromALogWithWallClockMillis(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("gc.log");
    Files.write(log, List.of(
        "[1.212s][1795655021322ms][info][gc,start    ] GC(0) Pause Young (Normal) (G1 Evacuation Pause)",
        "[1.218s][1795655021328ms][info][gc          ] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 6M->3M(64M) 5.960ms",
        "[1.616s][1795655021726ms][info][gc          ] GC(1) Pause Young (Normal) (G1 Evacuation Pause) 7M->3M(64M) 91.658ms",
        "[1.617s][1795655021727ms][info][gc,phases   ] GC(1)   Other: 0.1ms",
        "[2.182s][1795655022292ms][info][gc          ] GC(2) Pause Remark 9M->5M(64M) 4.357ms",
        "[3.000s][1795655023000ms][info][gc          ] GC(3) Pause Full (System.gc()) 9M->2M(64M) 20.000ms"));
    ClusterProbe.Pauses p = ClusterProbe.Pauses.fromLog(log, 1795655021300L, 1795655022300L);
    assertEquals(3, p.count());
    assertEquals(91.658, p.maxMillis(), 1e-9);
    assertEquals(5.960 + 91.658 + 4.357, p.totalMillis(), 1e-9);
    assertEquals(0, ClusterProbe.Pauses.fromLog(dir.resolve("absent.log"), 0, Long.MAX_VALUE).count());
  }

  @Test
  void liveHeapIsTheClassHistogramsTotal() {
    assertEquals(123456, ClusterProbe.parseHistogramTotal("""
        1234:
         num     #instances         #bytes  class name (module)
        -------------------------------------------------------
           1:          1000          100000  [B (java.base@17)
        Total          2000          123456
        """));
    assertEquals(-1, ClusterProbe.parseHistogramTotal("no such process"));
  }

  @Test
  void describesRatesPerNodeBetweenTwoSamples(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("gc-node-1.log");
    Files.write(log, List.of(
        "[1.0s][1795655001500ms][info][gc          ] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 6M->3M(64M) 7.5ms"));
    ClusterProbe probe = new ClusterProbe(List.of("http://127.0.0.1:1/metrics"), List.of(), List.of(log));
    Map<String, Double> before = Map.of("quorumkv_fsync_latency_seconds_count", 100.0,
        "quorumkv_log_entries_synced_total", 1000.0,
        "quorumkv_transport_messages_total{direction=\"sent\"}", 500.0);
    Map<String, Double> after = Map.of("quorumkv_fsync_latency_seconds_count", 300.0,
        "quorumkv_fsync_latency_seconds_sum", 0.2,
        "quorumkv_log_entries_synced_total", 5000.0,
        "quorumkv_transport_messages_total{direction=\"sent\"}", 2500.0);
    ClusterProbe.Sample a = new ClusterProbe.Sample(0, 1_795_655_000_000L, List.of(new ClusterProbe.NodeSample(1, before, 0, -1)));
    ClusterProbe.Sample b = new ClusterProbe.Sample(2_000_000_000L, 1_795_655_002_000L,
        List.of(new ClusterProbe.NodeSample(1, after, 1e-4, -1)));
    Json j = new Json();
    probe.describe(j, a, b, false);
    Json node = (Json) ((List<?>) j.get("nodes")).get(0);
    assertEquals(100.0, node.get("fsyncs_per_s"));
    assertEquals(20.0, node.get("entries_per_fsync"));
    assertEquals(1000L, node.get("fsync_mean_us"));
    assertEquals(100L, node.get("fsync_p50_us"));
    assertEquals(1000.0, node.get("msgs_sent_per_s"));
    assertEquals(1000.0, j.get("nodes_msgs_sent_per_s"));
    assertEquals(1L, j.get("gc_pauses"));
    assertEquals(7.5, j.get("gc_pause_max_ms"));
    assertEquals(null, node.get("cpu_pct"));

    // Without a PID, the JVM's CPU time counter from /metrics: 1 s of CPU over 2 s is 50 %.
    Map<String, Double> withCpu0 = new java.util.HashMap<>(before);
    withCpu0.put("process_cpu_time_ns_total", 3e9);
    Map<String, Double> withCpu1 = new java.util.HashMap<>(after);
    withCpu1.put("process_cpu_time_ns_total", 4e9);
    Json k = new Json();
    probe.describe(k, new ClusterProbe.Sample(0, 1_795_655_000_000L, List.of(new ClusterProbe.NodeSample(1, withCpu0, 0, -1))),
        new ClusterProbe.Sample(2_000_000_000L, 1_795_655_002_000L, List.of(new ClusterProbe.NodeSample(1, withCpu1, 0, -1))),
        false);
    assertEquals(50.0, ((Json) ((List<?>) k.get("nodes")).get(0)).get("cpu_pct"));
    assertEquals(50.0, k.get("nodes_cpu_pct"));
  }
}
