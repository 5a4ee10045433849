package io.quorumkv.examples;

import io.quorumkv.ClusterStatus;
import io.quorumkv.KvClient;
import io.quorumkv.PartitionStatus;
import io.quorumkv.ReadConsistency;
import io.quorumkv.ReadResult;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The demo behind {@code examples/run-demo.sh}: starts three {@link ExampleNode} JVMs on
 * 127.0.0.1, waits for leaders, writes keys and reads them back at every consistency level, kills
 * a leader with SIGKILL while writes go on, shows another node take over with no acknowledged write
 * lost, restarts the killed node and shows it catch up, then stops every node with SIGTERM. Exit
 * code 0 only if every check passed. The temp dir and every child process are removed at the end,
 * also on Ctrl-C.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Runs a three-node QuorumKV cluster on this machine, crashes its leader and checks "
        + "that no acknowledged write is lost.")
public final class Demo implements Callable<Integer> {

  static final ReadConsistency[] LEVELS = ReadConsistency.values();

  @Option(names = "--keys", defaultValue = "300", description = "Keys written before the crash. Default: ${DEFAULT-VALUE}.")
  int keys;

  @Option(names = "--writers", defaultValue = "8", description = "Concurrent writers. Default: ${DEFAULT-VALUE}.")
  int writers;

  @Option(names = "--partitions", defaultValue = "3", description = "Hash partitions (Raft groups). Default: ${DEFAULT-VALUE}.")
  int partitions;

  @Option(names = "--cluster-id", defaultValue = "demo", description = "Cluster name. Default: ${DEFAULT-VALUE}.")
  String clusterId;

  @Option(names = "--keep", description = "Keep the temp dir (data dirs and node logs) instead of deleting it.")
  boolean keep;

  @Option(names = "--node-java-opts", split = " ",
      defaultValue = "-Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
      description = "JVM flags of the node processes. Default: ${DEFAULT-VALUE}.")
  List<String> nodeJavaOpts;

  @Option(names = "--classpath", hidden = true, description = "Classpath of the node JVMs (default: this JVM's).")
  String classpath;

  /** Bounds on every wait, so that a broken cluster fails the demo instead of hanging it. */
  static final Duration START_TIMEOUT = Duration.ofSeconds(60);
  static final Duration LEADER_TIMEOUT = Duration.ofSeconds(20);
  static final Duration CATCH_UP_TIMEOUT = Duration.ofSeconds(30);
  static final Duration STOP_GRACE = Duration.ofSeconds(20);
  /** Long enough that a put outlives a leader change on a loaded machine (the client retries within it). */
  static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(15);
  static final int MIN_WRITES_AFTER_FAILOVER = 20;

  /** One check the demo makes, and whether it held. */
  record Check(String name, boolean passed, String detail) {}

  /** Every check of a run. */
  record Outcome(List<Check> checks) {
    boolean passed() {
      return !checks.isEmpty() && checks.stream().allMatch(Check::passed);
    }
  }

  private PrintStream out = System.out;
  private long t0;
  private final List<Check> checks = new ArrayList<>();

  /** Runs the demo; exit code 0 only if every check passed. */
  public static void main(String[] args) {
    System.exit(ExampleNode.commandLine(new Demo()).execute(args));
  }

  @Override
  public Integer call() {
    return run(System.out).passed() ? 0 : 1;
  }

  /** Runs the demo, printing its story to {@code printer}; the checks are returned as well. */
  Outcome run(PrintStream printer) {
    this.out = printer;
    this.t0 = System.nanoTime();
    checks.clear();
    String cp = classpath != null ? classpath : System.getProperty("java.class.path");
    LocalCluster cluster = LocalCluster.create(new LocalCluster.Spec(3, partitions, clusterId, cp, nodeJavaOpts, keep));
    AtomicBoolean finished = new AtomicBoolean();
    Thread hook = new Thread(() -> {
      if (!finished.get()) {
        out.println();
        out.println("interrupted: stopping every node and removing " + cluster.dir());
      }
      cluster.close();
    }, "demo-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
    out.printf("QuorumKV demo: 3 nodes on 127.0.0.1, %d partitions, data and logs in %s%n", partitions, cluster.dir());
    try {
      story(cluster);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      fail("demo", "interrupted");
    } catch (RuntimeException e) {
      fail("demo", "stopped early: " + Errors.describe(e));
    } finally {
      if (checks.stream().anyMatch(c -> !c.passed())) {
        printLogTails(cluster);
      }
      finished.set(true);
      cluster.close();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException alreadyShuttingDown) {
        // the hook is running or has run; cleanup is idempotent
      }
    }
    Outcome outcome = new Outcome(List.copyOf(checks));
    long failed = checks.stream().filter(c -> !c.passed()).count();
    say(keep ? "kept " + cluster.dir() : "removed " + cluster.dir());
    if (outcome.passed()) {
      say("demo PASSED: all " + checks.size() + " checks held");
    } else {
      say("demo FAILED: " + failed + " of " + checks.size() + " checks did not hold:");
      checks.stream().filter(c -> !c.passed()).forEach(c -> out.println("    - " + c.name() + ": " + c.detail()));
    }
    return outcome;
  }

  private void story(LocalCluster cluster) throws InterruptedException {
    // 1. Start three node JVMs.
    for (LocalCluster.Node n : cluster.nodes()) {
      long pid = cluster.start(n.id);
      say("started node %d: pid %d, raft and clients on %s, metrics %s", n.id, pid, n.address, n.metricsUrl());
    }
    long healthy = 0;
    for (LocalCluster.Node n : cluster.nodes()) {
      if (cluster.awaitHealthy(n.id, START_TIMEOUT)) {
        healthy++;
      }
    }
    say(healthy == 3 ? "all 3 nodes are up" : healthy + " of 3 nodes came up");
    if (!check("3 nodes start and answer /health", healthy == 3, healthy + " of 3 healthy")) {
      return;
    }

    try (KvClient client = KvClient.builder().addresses(cluster.addresses()).clusterId(clusterId)
        .requestTimeout(REQUEST_TIMEOUT).build()) {
      // 2. Leaders.
      long tl = System.nanoTime();
      Map<Long, PartitionStatus> leaders = awaitLeaders(client, cluster, List.of(1L, 2L, 3L));
      if (leaders != null) {
        say("leaders elected in %s: %s", secs(System.nanoTime() - tl), describeLeaders(leaders));
      }
      if (!check("a leader is elected for every partition", leaders != null,
          "no agreed leader within " + LEADER_TIMEOUT.toSeconds() + " s")) {
        return;
      }
      List<String> notReady = cluster.nodes().stream().filter(n -> cluster.probe(n.id, "/ready").orElse(-1) != 200)
          .map(n -> "node " + n.id).toList();
      check("every node reports /ready", notReady.isEmpty(), notReady + " answered otherwise");

      // 3. Writes, then reads at each level.
      WriteLedger ledger = new WriteLedger();
      List<String> firstKeys = new ArrayList<>();
      for (int i = 0; i < keys; i++) {
        firstKeys.add(String.format(Locale.ROOT, "demo-a-%05d", i));
      }
      Histogram putLatency = new Histogram(3);
      long tw = System.nanoTime();
      Map<String, Throwable> putErrors = forEach(firstKeys, writers, k -> {
        long s = System.nanoTime();
        return client.putAsync(utf8(k), utf8(valueOf(k))).whenComplete((v, e) -> {
          if (e == null) {
            synchronized (putLatency) {
              putLatency.recordValue((System.nanoTime() - s) / 1000);
            }
          }
        });
      });
      long twNanos = System.nanoTime() - tw;
      for (String k : firstKeys) {
        ledger.record(k, valueOf(k), putErrors.get(k));
      }
      long acked = ledger.count(WriteLedger.Outcome.ACKED);
      say("wrote %d keys from %d concurrent writers in %s: %d acknowledged (latency p50 %.1f ms, p99 %.1f ms, max %.1f ms)",
          keys, writers, secs(twNanos), acked, putLatency.getValueAtPercentile(50) / 1000.0,
          putLatency.getValueAtPercentile(99) / 1000.0, putLatency.getMaxValue() / 1000.0);
      if (!check("every put is acknowledged", acked == keys, (keys - acked) + " puts failed, first: "
          + putErrors.values().stream().findFirst().map(Errors::describe).orElse("-"))) {
        return;
      }
      say("reading every key back at each consistency level:");
      for (ReadConsistency level : LEVELS) {
        readBack(client, ledger, firstKeys, level);
      }

      showMetrics(cluster, leaders.get(1L).leader());

      // 4. Crash the leader of partition 1 while writes go on. Leaders may have moved since (the
      // nodes balance them), so ask again right before the kill.
      say("writing continuously with %d writers; in a second, the leader of partition 1 gets SIGKILL", writers);
      Background writes = new Background(client, ledger, writers);
      writes.start();
      Thread.sleep(1000);
      Map<Long, PartitionStatus> before = currentLeaders(client, cluster);
      long victim = before.get(1L).leader();
      List<Long> ledByVictim = before.values().stream().filter(p -> p.leader() == victim)
          .map(PartitionStatus::partitionId).toList();
      List<Long> survivors = cluster.nodes().stream().map(n -> n.id).filter(id -> id != victim).toList();
      long tk = System.nanoTime();
      long victimPid = cluster.node(victim).process().pid();
      cluster.kill(victim);
      say("kill -9 %d: node %d, leader of partition%s %s, is gone", victimPid, victim, ledByVictim.size() > 1 ? "s" : "",
          ledByVictim.stream().map(String::valueOf).collect(Collectors.joining(", ")));
      Map<Long, PartitionStatus> after = awaitLeaders(client, cluster, survivors);
      long failoverNanos = System.nanoTime() - tk;
      if (after != null) {
        say("new leaders %s after the kill: %s", secs(failoverNanos), describeLeaders(after));
      }
      boolean tookOver = after != null;
      check("a surviving node takes over every partition node " + victim + " led", tookOver,
          "no new leader within " + LEADER_TIMEOUT.toSeconds() + " s");
      // Keep writing for a second under the new leaders, longer (bounded) if none is acknowledged yet.
      long tookOverAt = tk + failoverNanos;
      long writeUntil = System.nanoTime() + Duration.ofSeconds(1).toNanos();
      long writeAtMost = System.nanoTime() + REQUEST_TIMEOUT.toNanos();
      while (System.nanoTime() < writeAtMost
          && (System.nanoTime() < writeUntil || writes.ackedAfter(tookOverAt) < MIN_WRITES_AFTER_FAILOVER)) {
        Thread.sleep(50);
      }
      writes.stop();
      long stall = ledger.longestAckGapNanos(tk, System.nanoTime());
      long afterFailover = writes.ackedAfter(tookOverAt);
      say("writes during the failover: %d acknowledged (%d of them after the new leaders took over), "
          + "%d certainly failed, %d with unknown outcome; longest pause between acknowledgements %s",
          writes.count(WriteLedger.Outcome.ACKED), afterFailover, writes.count(WriteLedger.Outcome.FAILED),
          writes.count(WriteLedger.Outcome.UNKNOWN), secs(stall));
      check("writes continue after the failover", afterFailover >= MIN_WRITES_AFTER_FAILOVER,
          afterFailover + " writes acknowledged after the new leaders took over, wanted " + MIN_WRITES_AFTER_FAILOVER);

      // 5. Every acknowledged write is there.
      List<String> all = ledger.writes().stream().map(WriteLedger.Write::key).sorted().toList();
      long tv = System.nanoTime();
      Map<String, Optional<String>> seen = readAll(client, all, ReadConsistency.LINEARIZABLE, null);
      List<String> violations = ledger.violations(seen);
      long ackedTotal = ledger.count(WriteLedger.Outcome.ACKED);
      say("checked all %d keys with linearizable reads in %s: %d acknowledged writes, %s", all.size(),
          secs(System.nanoTime() - tv), ackedTotal, violations.isEmpty() ? "every one present with its value" : violations.size() + " violations");
      violations.stream().limit(10).forEach(v -> out.println("    " + v));
      check("no acknowledged write is lost", violations.isEmpty(), violations.size() + " violations, first: "
          + violations.stream().findFirst().orElse("-"));

      // 6. Restart the killed node and watch it catch up.
      long tr = System.nanoTime();
      long pid = cluster.start(victim);
      say("restarted node %d from its data dir (pid %d)", victim, pid);
      if (!check("node " + victim + " restarts", cluster.awaitHealthy(victim, START_TIMEOUT), "not healthy")) {
        return;
      }
      catchUp(client, cluster, victim, tr, ledger);
    }

    // 7. Graceful stop.
    say("stopping every node with SIGTERM");
    boolean allClean = true;
    for (LocalCluster.Node n : cluster.nodes()) {
      LocalCluster.StopResult r = cluster.stop(n.id, STOP_GRACE);
      out.printf("           node %d: %s in %d ms (exit code %d)%n", n.id,
          r.forced() ? "did not stop, killed" : r.clean() ? "closed cleanly" : "exited without its clean-stop line",
          r.millis(), r.exitCode());
      allClean &= r.clean() && !r.forced();
    }
    check("every node stops cleanly on SIGTERM", allClean, "see the lines above");
  }

  /** What a node's /metrics says about the writes so far (the same numbers a Prometheus server scrapes). */
  private void showMetrics(LocalCluster cluster, long id) {
    String scrape;
    try {
      scrape = cluster.fetch(id, "/metrics");
    } catch (java.io.IOException e) {
      check("node " + id + " serves /metrics", false, Errors.describe(e));
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    double applied = metric(scrape, "quorumkv_commits_total", "").orElse(-1);
    double fsyncs = metric(scrape, "quorumkv_fsync_latency_seconds_count", "").orElse(-1);
    double p99 = metric(scrape, "quorumkv_fsync_latency_seconds", "quantile=\"0.99\"").orElse(Double.NaN);
    say("node %d's metrics (%s): %.0f log entries applied, %.0f fsyncs (group commit), fsync p99 %.1f ms",
        id, cluster.node(id).metricsUrl(), applied, fsyncs, p99 * 1000);
    check("node " + id + " serves /metrics with its replication counters", applied > 0 && fsyncs > 0,
        "quorumkv_commits_total " + applied + ", quorumkv_fsync_latency_seconds_count " + fsyncs);
  }

  /**
   * The value of the first sample of {@code name} in a Prometheus text scrape whose labels contain
   * {@code labelFragment}.
   */
  static java.util.OptionalDouble metric(String scrape, String name, String labelFragment) {
    for (String line : scrape.split("\n")) {
      if (!line.startsWith(name) || line.length() == name.length()) {
        continue;
      }
      char next = line.charAt(name.length());
      int space = line.lastIndexOf(' ');
      if ((next == '{' || next == ' ') && line.substring(0, space).contains(labelFragment)) {
        try {
          return java.util.OptionalDouble.of(Double.parseDouble(line.substring(space + 1)));
        } catch (NumberFormatException e) {
          return java.util.OptionalDouble.empty();
        }
      }
    }
    return java.util.OptionalDouble.empty();
  }

  /** Restarted node: its applied index reaches what the leaders had committed, and it serves every key. */
  private void catchUp(KvClient client, LocalCluster cluster, long victim, long restartNanos, WriteLedger ledger)
      throws InterruptedException {
    String address = cluster.node(victim).address;
    Map<Long, Long> target = new TreeMap<>();
    for (PartitionStatus p : currentLeaders(client, cluster).values()) {
      target.put(p.partitionId(), p.commitIndex());
    }
    long deadline = System.nanoTime() + CATCH_UP_TIMEOUT.toNanos();
    Map<Long, Long> applied = Map.of();
    boolean caughtUp = false;
    while (!caughtUp && System.nanoTime() < deadline) {
      try {
        applied = client.status(address).partitions().stream()
            .collect(Collectors.toMap(PartitionStatus::partitionId, PartitionStatus::appliedIndex));
        Map<Long, Long> a = applied;
        caughtUp = !target.isEmpty() && target.entrySet().stream().allMatch(e -> a.getOrDefault(e.getKey(), 0L) >= e.getValue());
      } catch (RuntimeException e) {
        // not answering yet
      }
      if (!caughtUp) {
        Thread.sleep(100);
      }
    }
    Map<Long, Long> finalApplied = applied;
    String progress = target.entrySet().stream().map(e -> "partition " + e.getKey() + " applied "
        + finalApplied.getOrDefault(e.getKey(), 0L) + "/" + e.getValue()).collect(Collectors.joining(", "));
    say("node %d %s %s after the restart (%s)", victim, caughtUp ? "caught up" : "did NOT catch up",
        secs(System.nanoTime() - restartNanos), progress);
    if (!check("node " + victim + " catches up with the leaders' commit index", caughtUp, progress)) {
      return;
    }
    List<String> ackedKeys = ledger.writes().stream().filter(w -> w.outcome() == WriteLedger.Outcome.ACKED)
        .map(WriteLedger.Write::key).sorted().toList();
    try (KvClient local = KvClient.builder().addresses(address).clusterId(clusterId).requestTimeout(REQUEST_TIMEOUT).build()) {
      AtomicInteger elsewhere = new AtomicInteger();
      Map<String, Optional<String>> seen = readAll(local, ackedKeys, ReadConsistency.STALE, r -> {
        if (r.servedBy() != victim) {
          elsewhere.incrementAndGet();
        }
      });
      List<String> violations = ledger.violations(seen).stream()
          .filter(v -> !v.contains("reported as failed")).toList(); // only acked keys were read
      say("STALE reads served by node %d's own replica: %d of %d acknowledged keys present with their value",
          victim, ackedKeys.size() - violations.size(), ackedKeys.size());
      check("the restarted node's replica holds every acknowledged write", violations.isEmpty() && elsewhere.get() == 0,
          violations.size() + " missing or wrong, " + elsewhere.get() + " reads served by another node");
    }
  }

  /** Reads every key at {@code level} and checks each value; STALE reads get a few more tries to converge. */
  private void readBack(KvClient client, WriteLedger ledger, List<String> keyList, ReadConsistency level)
      throws InterruptedException {
    Map<Long, AtomicInteger> servedBy = new ConcurrentHashMap<>();
    long t = System.nanoTime();
    Map<String, Optional<String>> seen = readAll(client, keyList, level,
        r -> servedBy.computeIfAbsent(r.servedBy(), x -> new AtomicInteger()).incrementAndGet());
    long nanos = System.nanoTime() - t;
    List<String> violations = ledger.violations(seen);
    int firstPass = keyList.size() - violations.size();
    // A STALE read may miss recent writes by design; it must converge, and never show a wrong value.
    for (int attempt = 0; level == ReadConsistency.STALE && !violations.isEmpty() && attempt < 20; attempt++) {
      Thread.sleep(100);
      seen = readAll(client, keyList, level, null);
      violations = ledger.violations(seen);
    }
    String served = new TreeMap<>(servedBy).entrySet().stream()
        .map(e -> "node " + e.getKey() + ": " + e.getValue()).collect(Collectors.joining(", "));
    out.printf(Locale.ROOT, "           %-12s %d/%d correct in %s (served by %s)%s%n", level, keyList.size() - violations.size(),
        keyList.size(), secs(nanos), served,
        level == ReadConsistency.STALE && firstPass < keyList.size() ? ", " + firstPass + " on the first pass" : "");
    check(level + " reads return every acknowledged value", violations.isEmpty(),
        violations.size() + " wrong, first: " + violations.stream().findFirst().orElse("-"));
  }

  /** Keys to the value read (empty = absent); keys whose read failed are left out. */
  private Map<String, Optional<String>> readAll(KvClient client, List<String> keyList, ReadConsistency level,
      java.util.function.Consumer<ReadResult> onRead) throws InterruptedException {
    Map<String, Optional<String>> seen = new ConcurrentHashMap<>();
    forEach(keyList, 32, k -> client.readAsync(utf8(k), level).thenAccept(r -> {
      if (onRead != null) {
        onRead.accept(r);
      }
      seen.put(k, r.value().map(v -> new String(v, StandardCharsets.UTF_8)));
    }));
    return seen;
  }

  /**
   * Runs {@code call} for every key with at most {@code concurrency} calls in flight; returns the
   * failures by key. Each call is bounded by the client's deadline, so this is too.
   */
  static Map<String, Throwable> forEach(List<String> keyList, int concurrency,
      Function<String, CompletableFuture<?>> call) throws InterruptedException {
    Semaphore permits = new Semaphore(concurrency);
    Map<String, Throwable> errors = new ConcurrentHashMap<>();
    for (String k : keyList) {
      permits.acquire();
      CompletableFuture<?> f;
      try {
        f = call.apply(k);
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      f.whenComplete((v, e) -> {
        if (e != null) {
          errors.put(k, e);
        }
        permits.release();
      });
    }
    permits.acquire(concurrency); // wait for the last calls
    return errors;
  }

  /**
   * Waits until every node in {@code live} answers a status in which each partition has the same
   * leader and that leader is live.
   *
   * @return the leaders' status per partition, or null on timeout
   */
  private Map<Long, PartitionStatus> awaitLeaders(KvClient client, LocalCluster cluster, List<Long> live)
      throws InterruptedException {
    long deadline = System.nanoTime() + LEADER_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      Map<Long, PartitionStatus> agreed = agreedLeaders(client, cluster, live);
      if (agreed != null) {
        return agreed;
      }
      Thread.sleep(100);
    }
    return null;
  }

  private Map<Long, PartitionStatus> agreedLeaders(KvClient client, LocalCluster cluster, List<Long> live) {
    Map<Long, Long> leaderOf = new TreeMap<>();
    Map<Long, ClusterStatus> views = new TreeMap<>();
    for (long id : live) {
      ClusterStatus s;
      try {
        s = client.status(cluster.node(id).address);
      } catch (RuntimeException e) {
        return null;
      }
      views.put(id, s);
      if (s.partitions().size() != partitions) {
        return null;
      }
      for (PartitionStatus p : s.partitions()) {
        Long before = leaderOf.putIfAbsent(p.partitionId(), p.leader());
        if (p.leader() == 0 || !live.contains(p.leader()) || (before != null && before != p.leader())) {
          return null;
        }
      }
    }
    Map<Long, PartitionStatus> result = new TreeMap<>();
    for (Map.Entry<Long, Long> e : leaderOf.entrySet()) {
      // report the leader's own view of its partition (its term and commit index)
      views.get(e.getValue()).partitions().stream().filter(p -> p.partitionId() == e.getKey())
          .findFirst().ifPresent(p -> result.put(e.getKey(), p));
    }
    return result.size() == leaderOf.size() ? result : null;
  }

  /** The leaders as the live nodes agree on them now (bounded wait). */
  private Map<Long, PartitionStatus> currentLeaders(KvClient client, LocalCluster cluster) throws InterruptedException {
    List<Long> live = cluster.nodes().stream().filter(LocalCluster.Node::alive).map(n -> n.id).toList();
    Map<Long, PartitionStatus> m = awaitLeaders(client, cluster, live);
    if (m == null) {
      throw new IllegalStateException("the live nodes do not agree on leaders");
    }
    return m;
  }

  static String describeLeaders(Map<Long, PartitionStatus> leaders) {
    return leaders.values().stream()
        .map(p -> "partition " + p.partitionId() + " -> node " + p.leader() + " (term " + p.term() + ")")
        .collect(Collectors.joining(", "));
  }

  /** Closed-loop writers of fresh keys ({@value #PREFIX}...), recording every outcome in the ledger. */
  private static final class Background {
    static final String PREFIX = "demo-b-";
    private static final int MAX_KEYS = 200_000; // bound on the loop whatever the timing
    private final KvClient client;
    private final WriteLedger ledger;
    private final List<Thread> threads = new ArrayList<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicInteger next = new AtomicInteger();

    Background(KvClient client, WriteLedger ledger, int writers) {
      this.client = client;
      this.ledger = ledger;
      for (int i = 0; i < writers; i++) {
        threads.add(new Thread(this::loop, "demo-writer-" + i));
      }
    }

    void start() {
      threads.forEach(Thread::start);
    }

    private void loop() {
      while (running.get()) {
        int i = next.getAndIncrement();
        if (i >= MAX_KEYS) {
          return;
        }
        String k = String.format(Locale.ROOT, PREFIX + "%06d", i);
        Throwable failure = null;
        try {
          client.put(k, valueOf(k));
        } catch (RuntimeException e) {
          failure = e;
        }
        ledger.record(k, valueOf(k), failure);
      }
    }

    void stop() throws InterruptedException {
      running.set(false);
      for (Thread t : threads) {
        t.join(REQUEST_TIMEOUT.toMillis() * 2);
      }
    }

    /** How many of these writers' writes ended with {@code outcome}. */
    long count(WriteLedger.Outcome outcome) {
      return ledger.writes().stream().filter(w -> w.key().startsWith(PREFIX) && w.outcome() == outcome).count();
    }

    /** How many of these writers' writes were acknowledged after {@code nanos}. */
    long ackedAfter(long nanos) {
      return ledger.writes().stream().filter(w -> w.key().startsWith(PREFIX)
          && w.outcome() == WriteLedger.Outcome.ACKED && w.completedNanos() > nanos).count();
    }
  }

  private boolean check(String name, boolean passed, String detailIfFailed) {
    checks.add(new Check(name, passed, passed ? "" : detailIfFailed));
    out.printf("           [%s] %s%n", passed ? "ok" : "FAILED", name + (passed ? "" : ": " + detailIfFailed));
    return passed;
  }

  private void fail(String name, String detail) {
    check(name, false, detail);
  }

  private void printLogTails(LocalCluster cluster) {
    for (LocalCluster.Node n : cluster.nodes()) {
      List<String> tail = LocalCluster.tail(n.logFile, 15);
      out.println("---- last lines of node " + n.id + "'s log (" + n.logFile + ") ----");
      tail.forEach(l -> out.println("  " + l));
    }
  }

  private void say(String format, Object... args) {
    out.printf(Locale.ROOT, "[%6.1fs] %s%n", (System.nanoTime() - t0) / 1e9,
        args.length == 0 ? format : String.format(Locale.ROOT, format, args));
  }

  static String secs(long nanos) {
    return nanos < 1_000_000_000L ? (nanos / 1_000_000) + " ms" : String.format(Locale.ROOT, "%.1f s", nanos / 1e9);
  }

  static String valueOf(String key) {
    return "value-of-" + key;
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

}
