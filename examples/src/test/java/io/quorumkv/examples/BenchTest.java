package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class BenchTest {

  private static Bench parsed(String... args) {
    Bench b = new Bench();
    ExampleNode.commandLine(b).parseArgs(args);
    return b;
  }

  @Test
  void acceptsThePeersDriverFlags() {
    Bench b = parsed("--system", "quorumkv", "--endpoints", "127.0.0.1:1,127.0.0.1:2", "--clients", "16",
        "--conns", "2", "--phases", "put,get", "--duration", "2", "--warmup", "1", "--keyspace", "1000",
        "--value-size", "64", "--max-ops", "10", "--timeout-ms", "500", "--label", "x");
    assertEquals(List.of("127.0.0.1:1", "127.0.0.1:2"), b.endpoints);
    assertEquals(List.of(16), b.clients);
    assertEquals(List.of("put", "get"), b.phases);
    assertEquals(2.0, b.duration);
    assertEquals(List.of(16, 64, 256), parsed("--clients", "16,64,256").clients);
  }

  @Test
  void badPhasesAndLimitsAreUsageErrors() {
    CommandLine cl = ExampleNode.commandLine(new Bench());
    cl.setErr(new java.io.PrintWriter(new java.io.StringWriter()));
    assertEquals(2, cl.execute("--phases", "put,scan"));
    assertEquals(2, cl.execute("--clients", "0"));
    assertEquals(2, cl.execute("--read-pct", "101"));
    assertEquals(2, cl.execute("--progress", "sometimes"));
  }

  @Test
  void recordHasEveryFieldOfPeersBenchAndMore() {
    Bench b = parsed("--label", "t");
    Histogram gets = new Histogram(ClosedLoop.MAX_TRACKED_NANOS, 3);
    Histogram puts = new Histogram(ClosedLoop.MAX_TRACKED_NANOS, 3);
    for (int i = 1; i <= 900; i++) {
      gets.recordValue(i * 1000L);
    }
    for (int i = 1; i <= 100; i++) {
      puts.recordValue(i * 10_000L);
    }
    Histogram all = gets.copy();
    all.add(puts);
    ClosedLoop.Result r = new ClosedLoop.Result(all, gets, puts, 1000, 3, 450, 0, 2_000_000_000L, new IllegalStateException("x"));
    Json j = b.record(ClosedLoop.Phase.parse("mix", 90), 64, new Workload(10, 256), r, 55.5, 1.25, "client");
    String s = j.toString();
    for (String field : List.of("system", "label", "op", "clients", "conns", "keyspace", "value_bytes", "duration_s",
        "ops", "errors", "ops_per_s", "mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "p9999_us", "max_us",
        "host_cpu_busy_pct", "driver_cpu_s", "host_cores", "hit_ratio", "consistency", "get_ops", "put_ops",
        "get_p99_us", "put_p99_us", "workload", "client", "ts", "first_error")) {
      assertTrue(s.contains("\"" + field + "\":"), field + " missing in " + s);
    }
    assertEquals(500.0, j.get("ops_per_s"));
    assertEquals(2.0, j.get("duration_s"));
    assertEquals(0.5, j.get("hit_ratio"));
    assertEquals(900L, j.get("get_ops"));
    assertEquals(1000L, j.get("max_us"));
    assertEquals(455L, j.get("p50_us")); // 455 gets and 45 puts are at most 455 us
    assertEquals("mix", j.get("op"));
    assertTrue(((String) j.get("workload")).contains("90% linearizable get / 10% put; 64 clients"));
  }

  @Test
  void putRecordHasNoReadFields() {
    Histogram empty = new Histogram(ClosedLoop.MAX_TRACKED_NANOS, 3);
    ClosedLoop.Result r = new ClosedLoop.Result(empty, empty, empty, 0, 0, 0, 0, 0, null);
    Json j = parsed().record(ClosedLoop.Phase.parse("put", 90), 16, new Workload(10, 256), r, -1, 0, "c");
    assertEquals(null, j.get("hit_ratio"));
    assertEquals(0L, j.get("p99_us"));
    assertEquals(0.0, j.get("ops_per_s"));
  }

  @Test
  void hostCpuFromProcStat() {
    assertArrayEquals(new long[] {60, 100}, Bench.parseCpuLine("cpu  10 20 30 30 10 0 0 0 0 0"));
    assertThrows(IllegalArgumentException.class, () -> Bench.parseCpuLine("cpu0 1 2 3 4"));
    assertEquals(50.0, Bench.busyPercent(new long[] {10, 100}, new long[] {60, 200}));
    assertEquals(-1.0, Bench.busyPercent(null, new long[] {1, 2}));
  }
}
