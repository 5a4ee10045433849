package io.quorumkv.examples;

import io.quorumkv.KvClient;
import io.quorumkv.PartitionStatus;
import io.quorumkv.ReadConsistency;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.HdrHistogram.Histogram;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The load generator: drives a running cluster through {@link KvClient} with the workload of the
 * peers harness (closed loop, 16-byte keys over a fixed key space, random values) in phases, each
 * after an unrecorded warm-up and bounded by time and by an operation count. A progress line goes
 * to stderr; one JSON line per phase to stdout, with the fields of peers.Bench and a few more.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Closed-loop load against a running QuorumKV cluster; one JSON line per phase on stdout.")
public final class Bench implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Option(names = "--endpoints", split = ",", defaultValue = Qkv.DEFAULT_ADDRESSES, paramLabel = "HOST:PORT",
      description = "Nodes to send requests to. Default: ${DEFAULT-VALUE}.")
  List<String> endpoints;

  @Option(names = "--cluster-id", defaultValue = "quorumkv", description = "The cluster's name. Default: ${DEFAULT-VALUE}.")
  String clusterId;

  @Option(names = "--system", defaultValue = "quorumkv", description = "Name in the JSON records. Default: ${DEFAULT-VALUE}.")
  String system;

  @Option(names = "--label", defaultValue = "", description = "Free text in the JSON records.")
  String label;

  @Option(names = "--clients", split = ",", defaultValue = "16",
      description = "Concurrent closed-loop clients; a list runs each in turn. Default: ${DEFAULT-VALUE}.")
  List<Integer> clients;

  @Option(names = "--conns", defaultValue = "1",
      description = "KvClient instances the clients share (round robin). Default: ${DEFAULT-VALUE}.")
  int conns;

  @Option(names = "--phases", split = ",", defaultValue = "put,get,mix,get-lease,get-follower,get-stale",
      description = "put, get (linearizable), get-lease, get-follower, get-stale, mix, or idle (no requests: "
          + "only the nodes are observed). Default: ${DEFAULT-VALUE}.")
  List<String> phases;

  @Option(names = "--read-pct", defaultValue = "90", description = "Gets in the mix phase, in percent. Default: ${DEFAULT-VALUE}.")
  int readPercent;

  @Option(names = "--duration", defaultValue = "20", description = "Recorded seconds per phase. Default: ${DEFAULT-VALUE}.")
  double duration;

  @Option(names = "--warmup", defaultValue = "2", description = "Unrecorded seconds before each phase. Default: ${DEFAULT-VALUE}.")
  double warmup;

  @Option(names = "--keyspace", defaultValue = "100000", description = "Distinct keys. Default: ${DEFAULT-VALUE}.")
  int keyspace;

  @Option(names = "--value-size", defaultValue = "256", description = "Value bytes. Default: ${DEFAULT-VALUE}.")
  int valueSize;

  @Option(names = "--max-ops", defaultValue = "20000000", description = "Operation budget per phase. Default: ${DEFAULT-VALUE}.")
  long maxOps;

  @Option(names = "--timeout-ms", defaultValue = "10000",
      description = "Deadline of each request; a late one is an error. Default: ${DEFAULT-VALUE}.")
  long timeoutMs;

  @Option(names = "--node-metrics", split = ",", paramLabel = "URL",
      description = "The nodes' /metrics URLs, in --endpoints order: adds per node fsyncs/s, entries per fsync, "
          + "messages/s on the wire, proposals/s to each record.")
  List<String> nodeMetrics = new ArrayList<>();

  @Option(names = "--node-pids", split = ",", paramLabel = "PID",
      description = "The nodes' process ids (same host), same order: adds their CPU from /proc.")
  List<Long> nodePids = new ArrayList<>();

  @Option(names = "--node-gc-logs", split = ",", paramLabel = "FILE",
      description = "The nodes' GC logs (-Xlog:gc*:file=FILE:timemillis,...), same order: adds the GC pauses "
          + "that ended during each recorded phase (count, max, total).")
  List<Path> nodeGcLogs = new ArrayList<>();

  @Option(names = "--node-heap",
      description = "After each idle phase, the nodes' live heap (jcmd GC.class_histogram: a full GC each; needs --node-pids).")
  boolean nodeHeap;

  @Option(names = "--before-phase", paramLabel = "COMMAND",
      description = "A shell command run after each warm-up, right before the recorded phase (e.g. restart a node).")
  String beforePhase;

  @Option(names = "--catchup-node", paramLabel = "HOST:PORT",
      description = "A restarted node (one of --endpoints) to watch: each recorded phase ends as soon as its applied "
          + "index reaches, in every partition, the others' commit index at the phase's start (or at --duration); "
          + "adds the catch-up time and rates.")
  String catchupNode;

  /** How progress is shown on stderr. */
  enum ProgressMode { AUTO, LINES, OFF }

  @Option(names = "--progress", defaultValue = "AUTO",
      description = "auto (a line rewritten every second when stderr is a terminal, else a line every 5 s), "
          + "lines, or off. Default: ${DEFAULT-VALUE}.")
  ProgressMode progress;

  /** Runs the phases; exit code 0 if every phase completed some operation. */
  public static void main(String[] args) {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
        System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
    System.exit(ExampleNode.commandLine(new Bench()).execute(args));
  }

  @Override
  public Integer call() throws InterruptedException {
    List<ClosedLoop.Phase> plan = new ArrayList<>();
    try {
      for (String p : phases) {
        plan.add(p.trim().equals(IDLE) ? null : ClosedLoop.Phase.parse(p.trim(), readPercent));
      }
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    if (conns < 1 || clients.stream().anyMatch(c -> c < 1) || duration <= 0 || warmup < 0 || maxOps < 1
        || readPercent < 0 || readPercent > 100) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--conns, --clients, --duration and --max-ops "
          + "must be positive, --warmup not negative, --read-pct in [0, 100]");
    }
    if (catchupNode != null && !endpoints.contains(catchupNode)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--catchup-node must be one of --endpoints");
    }
    Workload workload = new Workload(keyspace, valueSize);
    ClusterProbe probe = new ClusterProbe(nodeMetrics, nodePids, nodeGcLogs);
    List<KvClient> kvs = new ArrayList<>();
    ExecutorService retry = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "bench-retry");
      t.setDaemon(true);
      return t;
    });
    boolean everyPhaseDidWork = true;
    try {
      for (int i = 0; i < conns; i++) {
        kvs.add(KvClient.builder().addresses(endpoints).clusterId(clusterId)
            .requestTimeout(Duration.ofMillis(timeoutMs)).build());
      }
      ClosedLoop loop = new ClosedLoop(operations(kvs), workload, retry);
      String clientDescription = "quorumkv KvClient x" + conns + " -> " + String.join(",", endpoints);
      for (int c : clients) {
        for (ClosedLoop.Phase phase : plan) {
          if (phase == null) {
            System.out.println(idle(probe));
            System.out.flush();
            continue;
          }
          if (warmup > 0) {
            loop.run(phase, limits(c, warmup), progressPrinter(phase.name() + " warm-up", c));
          }
          runBeforePhase();
          if (progress != ProgressMode.OFF && !rewriting()) {
            // marks the start of the recorded interval for tools that sample the nodes' CPU
            System.err.println(phase.name() + " c=" + c + " start");
          }
          Map<Long, Long> leaders0 = leaderCounts(kvs.get(0));
          long[] cpu0 = hostCpu();
          long driver0 = processCpuNanos();
          ClusterProbe.Sample s0 = probe.sample();
          CatchUp catchUp = catchupNode == null ? null : new CatchUp(kvs.get(0), catchupNode,
              endpoints.stream().filter(e -> !e.equals(catchupNode)).toList(), 100);
          CompletableFuture<ClusterProbe.Sample> atCatchUp = catchUp == null ? new CompletableFuture<>()
              : catchUp.done().thenApply(t -> probe.sample());
          ClosedLoop.Result r;
          try {
            r = loop.run(phase, limits(c, duration), progressPrinter(phase.name(), c), atCatchUp);
          } finally {
            if (catchUp != null) {
              catchUp.close();
            }
          }
          ClusterProbe.Sample s1 = probe.sample();
          long driver1 = processCpuNanos();
          long[] cpu1 = hostCpu();
          Map<Long, Long> leaders1 = leaderCounts(kvs.get(0));
          endProgressLine(phase.name(), c, r);
          Json record = record(phase, c, workload, r, busyPercent(cpu0, cpu1), (driver1 - driver0) / 1e9,
              clientDescription);
          probe.describe(record, s0, s1, false);
          record.put("leaders_start", leaders0).put("leaders_end", leaders1);
          if (catchUp != null) {
            catchUp.describe(record, caughtUpBytes(s0, atCatchUp.getNow(null)));
          }
          System.out.println(record);
          System.out.flush();
          everyPhaseDidWork &= r.ok() > 0;
        }
      }
    } finally {
      kvs.forEach(KvClient::close);
      retry.shutdownNow();
    }
    if (!everyPhaseDidWork) {
      System.err.println("error: a phase completed no operation (is the cluster up? see first_error)");
      return 1;
    }
    return 0;
  }

  static final String IDLE = "idle";

  /** The idle phase: no requests for the warm-up, then for --duration the nodes are only observed. */
  private Json idle(ClusterProbe probe) throws InterruptedException {
    if (warmup > 0) {
      Thread.sleep((long) (warmup * 1000));
    }
    runBeforePhase();
    long[] cpu0 = hostCpu();
    ClusterProbe.Sample s0 = probe.sample();
    Thread.sleep((long) (duration * 1000));
    ClusterProbe.Sample s1 = probe.sample();
    long[] cpu1 = hostCpu();
    Json j = new Json().put("system", system);
    if (!label.isEmpty()) {
      j.put("label", label);
    }
    j.put("op", IDLE).put("clients", 0).put("duration_s", round((s1.nanos() - s0.nanos()) / 1e9, 3))
        .put("host_cpu_busy_pct", busyPercent(cpu0, cpu1))
        .put("host_cores", Runtime.getRuntime().availableProcessors());
    probe.describe(j, s0, s1, nodeHeap);
    j.put("workload", "no requests; " + duration + " s observed after " + warmup + " s");
    j.put("ts", Instant.now().toString());
    if (progress != ProgressMode.OFF) {
      System.err.printf(Locale.ROOT, "%-18s done: %.0f s observed%n", IDLE, duration);
    }
    return j;
  }

  /**
   * Leaderships per node (0: partitions without a known leader) as the first endpoint sees them,
   * or null when it does not answer: one status call, so that a record shows whether leaders
   * moved during its phase (leader balancing, elections).
   */
  private Map<Long, Long> leaderCounts(KvClient kv) {
    try {
      Map<Long, Long> counts = new TreeMap<>();
      for (PartitionStatus p : kv.status(endpoints.get(0)).partitions()) {
        counts.merge(p.leader(), 1L, Long::sum);
      }
      return counts;
    } catch (RuntimeException e) {
      return null;
    }
  }

  /** Runs --before-phase (bounded: 120 s), its output on stderr. */
  private void runBeforePhase() throws InterruptedException {
    if (beforePhase == null || beforePhase.isBlank()) {
      return;
    }
    try {
      Process p = new ProcessBuilder("bash", "-c", beforePhase).redirectOutput(ProcessBuilder.Redirect.INHERIT)
          .redirectError(ProcessBuilder.Redirect.INHERIT).start();
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("--before-phase did not finish in 120 s: " + beforePhase);
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException("--before-phase exited with " + p.exitValue() + ": " + beforePhase);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** What the catch-up node received (snapshot payload and synced log bytes) until it caught up, or -1. */
  private long caughtUpBytes(ClusterProbe.Sample before, ClusterProbe.Sample caughtUp) {
    int i = endpoints.indexOf(catchupNode);
    if (caughtUp == null || i >= caughtUp.nodes().size() || caughtUp.nodes().get(i).metrics().isEmpty()) {
      return -1;
    }
    // A node still starting at the phase's start has no counters yet: they start at 0 with it.
    Map<String, Double> from = before.nodes().get(i).metrics();
    double bytes = 0;
    for (String counter : List.of("quorumkv_snapshot_bytes_received_total", "quorumkv_log_bytes_synced_total")) {
      bytes += caughtUp.nodes().get(i).metrics().getOrDefault(counter, 0.0) - from.getOrDefault(counter, 0.0);
    }
    return (long) bytes;
  }

  private ClosedLoop.Limits limits(int c, double seconds) {
    return new ClosedLoop.Limits(c, (long) (seconds * 1e9), maxOps, timeoutMs);
  }

  /** Spreads requests over the clients round robin. */
  static ClosedLoop.Operations operations(List<KvClient> kvs) {
    AtomicInteger next = new AtomicInteger();
    return new ClosedLoop.Operations() {
      private KvClient pick() {
        return kvs.get(Math.floorMod(next.getAndIncrement(), kvs.size()));
      }

      @Override
      public CompletableFuture<?> put(byte[] key, byte[] value) {
        return pick().putAsync(key, value);
      }

      @Override
      public CompletableFuture<Boolean> get(byte[] key, ReadConsistency consistency) {
        return pick().getAsync(key, consistency).thenApply(Optional::isPresent);
      }
    };
  }

  /** The JSON record of one phase: peers.Bench's fields, then ours. */
  Json record(ClosedLoop.Phase phase, int c, Workload workload, ClosedLoop.Result r, double hostBusy,
      double driverCpuSeconds, String clientDescription) {
    Json j = new Json().put("system", system);
    if (!label.isEmpty()) {
      j.put("label", label);
    }
    j.put("op", phase.name())
        .put("clients", c)
        .put("conns", conns)
        .put("keyspace", workload.keyspace())
        .put("value_bytes", workload.valueSize())
        .put("duration_s", round(r.seconds(), 3))
        .put("ops", r.ok())
        .put("errors", r.errors())
        .put("ops_per_s", round(r.opsPerSecond(), 1));
    percentiles(j, "", r.all());
    j.put("host_cpu_busy_pct", hostBusy)
        .put("driver_cpu_s", round(driverCpuSeconds, 2))
        .put("host_cores", Runtime.getRuntime().availableProcessors());
    if (phase.readFraction() > 0) {
      long gets = r.gets().getTotalCount();
      j.put("hit_ratio", gets == 0 ? 0 : round((double) r.hits() / gets, 3));
      j.put("consistency", phase.consistency().name());
    }
    if (phase.readFraction() > 0 && phase.readFraction() < 1) {
      j.put("get_ops", r.gets().getTotalCount()).put("put_ops", r.puts().getTotalCount());
      j.put("get_p50_us", us(r.gets(), 50)).put("get_p99_us", us(r.gets(), 99));
      j.put("put_p50_us", us(r.puts(), 50)).put("put_p99_us", us(r.puts(), 99));
    }
    j.put("workload", workload.describe() + "; " + phase.describe() + "; " + c + " clients; warm-up "
        + warmup + " s excluded; bounded by " + duration + " s and " + maxOps + " ops; timeout " + timeoutMs + " ms");
    j.put("client", clientDescription);
    j.put("ts", Instant.now().toString());
    if (r.firstError() != null) {
      j.put("first_error", Errors.describe(r.firstError()));
    }
    return j;
  }

  /** mean and percentiles in microseconds, from a histogram in nanoseconds. */
  static void percentiles(Json j, String prefix, Histogram h) {
    j.put(prefix + "mean_us", h.getTotalCount() == 0 ? 0 : round(h.getMean() / 1000, 1));
    j.put(prefix + "p50_us", us(h, 50));
    j.put(prefix + "p90_us", us(h, 90));
    j.put(prefix + "p99_us", us(h, 99));
    j.put(prefix + "p999_us", us(h, 99.9));
    j.put(prefix + "p9999_us", us(h, 99.99));
    j.put(prefix + "max_us", h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000);
  }

  static long us(Histogram h, double percentile) {
    return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile) / 1000;
  }

  static double round(double v, int decimals) {
    double f = Math.pow(10, decimals);
    return Math.round(v * f) / f;
  }

  // ---- progress ----

  private boolean rewriting() {
    return progress == ProgressMode.AUTO && stderrIsTerminal();
  }

  /** Whether stderr is a terminal (Linux: where fd 2 points); stdout is often a file meanwhile. */
  static boolean stderrIsTerminal() {
    try {
      String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
      return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      return System.console() != null;
    }
  }

  private ClosedLoop.Progress progressPrinter(String what, int c) {
    if (progress == ProgressMode.OFF) {
      return null;
    }
    boolean rewrite = rewriting();
    int every = rewrite ? 1 : 5;
    PrintStream err = System.err;
    return (elapsed, ok, errors, interval) -> {
      long second = Math.round(elapsed / 1e9);
      if (second % every != 0) {
        return;
      }
      String line = String.format(Locale.ROOT, "%-18s c=%-4d %4ds  %,10d ok  %,6d errors  last 1s: %,8d ops/s p50 %,7d us p99 %,8d us",
          what, c, second, ok, errors, interval.getTotalCount(), us(interval, 50), us(interval, 99));
      if (rewrite) {
        err.print("\r" + line + "\033[K");
      } else {
        err.println(line);
      }
      err.flush();
    };
  }

  /** Ends the live line with the phase's totals (a line of its own when not rewriting). */
  private void endProgressLine(String what, int c, ClosedLoop.Result r) {
    if (progress == ProgressMode.OFF) {
      return;
    }
    String line = String.format(Locale.ROOT, "%-18s c=%-4d done: %,d ok, %,d errors, %,.0f ops/s, p50 %,d us, p99 %,d us",
        what, c, r.ok(), r.errors(), r.opsPerSecond(), us(r.all(), 50), us(r.all(), 99));
    System.err.println(rewriting() ? "\r" + line + "\033[K" : line);
  }

  // ---- CPU ----

  /** Busy and total jiffies of the whole host from /proc/stat (Linux), or null. */
  static long[] hostCpu() {
    try {
      String first = Files.readAllLines(Path.of("/proc/stat")).get(0);
      return parseCpuLine(first);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The aggregate {@code cpu} line: busy = total - idle - iowait, over the first eight counters. */
  static long[] parseCpuLine(String line) {
    String[] f = line.trim().split("\\s+");
    if (!f[0].equals("cpu")) {
      throw new IllegalArgumentException("not the aggregate cpu line: " + line);
    }
    long total = 0;
    long idle = 0;
    for (int i = 1; i < f.length && i <= 8; i++) {
      long v = Long.parseLong(f[i]);
      total += v;
      if (i == 4 || i == 5) {
        idle += v;
      }
    }
    return new long[] {total - idle, total};
  }

  /** The host's busy percentage between two samples, or -1 when unknown. */
  static double busyPercent(long[] before, long[] after) {
    if (before == null || after == null || after[1] == before[1]) {
      return -1;
    }
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1);
  }

  static long processCpuNanos() {
    return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
        ? os.getProcessCpuTime() : -1;
  }
}
