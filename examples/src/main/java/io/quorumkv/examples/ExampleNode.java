package io.quorumkv.examples;

import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.quorumkv.ClusterStatus;
import io.quorumkv.HashPartitioner;
import io.quorumkv.KvNode;
import io.quorumkv.Partitioner;
import io.quorumkv.PartitionStatus;
import io.quorumkv.RangePartitioner;
import io.quorumkv.StorageEngineType;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Runs one QuorumKV node in its own JVM, configured from flags, with {@code /health},
 * {@code /ready} and {@code /metrics} (Prometheus) on 127.0.0.1. Stops gracefully on SIGTERM or
 * Ctrl-C: the shutdown hook closes the node, which first hands its leaderships away. See
 * docs/operations.md.
 */
@Command(name = "example-node", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Runs one QuorumKV node. Stop it with SIGTERM (kill PID) or Ctrl-C: it hands its "
        + "leaderships to another node and closes cleanly.")
public final class ExampleNode implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(ExampleNode.class);

  @Option(names = "--id", required = true, description = "This node's id: positive, unique, never reused.")
  long id;

  @Option(names = "--listen", required = true, paramLabel = "HOST:PORT",
      description = "Address the node listens on for peers and clients (also the one it advertises).")
  String listen;

  @Option(names = "--peers", split = ",", paramLabel = "ID=HOST:PORT",
      description = "The initial members, e.g. 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003. "
          + "This node's own entry may be included (it must then equal --listen).")
  List<String> peers = new ArrayList<>();

  @Option(names = "--join", description = "Join a running cluster instead of bootstrapping one: --peers then "
      + "lists its current members; add the node with 'qkv add-node'.")
  boolean join;

  @Option(names = "--data-dir", paramLabel = "DIR", description = "Where the node keeps its data (RocksDB).")
  Path dataDir;

  @Option(names = "--cluster-id", defaultValue = "quorumkv",
      description = "The cluster's name; peers and data dirs of another cluster are refused. Default: ${DEFAULT-VALUE}.")
  String clusterId;

  @Option(names = "--partitions", defaultValue = "3",
      description = "Number of hash partitions (Raft groups). Default: ${DEFAULT-VALUE}.")
  int partitions;

  @Option(names = "--range-splits", split = ",", paramLabel = "KEY",
      description = "Use range partitioning cut at these keys instead of hash partitions "
          + "(needed for 'qkv split'); e.g. g,p gives [-inf,g) [g,p) [p,+inf).")
  List<String> rangeSplits = new ArrayList<>();

  @Option(names = "--preferred-leaders", split = ",", paramLabel = "ID",
      description = "Keep the partitions' leaders on these nodes when they are up and caught up (any node "
          + "still leads when they are not), balanced among them; e.g. 1 for one node leading every "
          + "partition. Every node gets the same list. Default: none (leaders spread over all nodes).")
  Set<Long> preferredLeaders = new LinkedHashSet<>();

  @Option(names = "--storage", defaultValue = "ROCKSDB",
      description = "ROCKSDB (durable, fsync before ack) or MEMORY (tests only). Default: ${DEFAULT-VALUE}.")
  StorageEngineType storage;

  @Option(names = "--tick-ms", defaultValue = "100", description = "Raft tick length in ms. Default: ${DEFAULT-VALUE}.")
  long tickMs;

  @Option(names = "--election-ticks", defaultValue = "10",
      description = "Ticks without a leader before a follower campaigns. Default: ${DEFAULT-VALUE}.")
  int electionTicks;

  @Option(names = "--log-compaction-mib", defaultValue = "16",
      description = "Compact a partition's log once this many MiB were applied since the last compaction "
          + "(snapshots are taken only for followers that need one). Default: ${DEFAULT-VALUE}.")
  long logCompactionMib;

  @Option(names = "--request-timeout-ms", defaultValue = "5000",
      description = "Deadline of every call the node serves. Default: ${DEFAULT-VALUE}.")
  long requestTimeoutMs;

  @Option(names = "--metrics-port", defaultValue = "0",
      description = "HTTP port on 127.0.0.1 for /health, /ready and /metrics; 0 picks a free one "
          + "(logged), -1 disables. Default: ${DEFAULT-VALUE}.")
  int metricsPort;

  @Option(names = "--parent-pid", paramLabel = "PID",
      description = "Stop when this process exits (used by the demo so no node outlives it).")
  Long parentPid;

  private final CountDownLatch stopped = new CountDownLatch(1);

  /** Runs the node until the JVM is asked to stop. Exit code 1 (one line on stderr) if it cannot start. */
  public static void main(String[] args) {
    System.exit(commandLine(new ExampleNode()).execute(args));
  }

  /** A command line whose execution errors are one line on stderr, not a stack trace. */
  static CommandLine commandLine(Object command) {
    CommandLine cl = new CommandLine(command);
    cl.setCaseInsensitiveEnumValuesAllowed(true);
    cl.setExecutionExceptionHandler((e, line, parsed) -> {
      line.getErr().println("error: " + Errors.describe(e));
      return 1;
    });
    return cl;
  }

  @Override
  public Integer call() throws InterruptedException {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    registry.config().commonTags("cluster", clusterId, "node", Long.toString(id));
    JvmGcMetrics gcMetrics = new JvmGcMetrics();
    for (var binder : List.of(new JvmMemoryMetrics(), gcMetrics, new JvmThreadMetrics(), new ClassLoaderMetrics(),
        new ProcessorMetrics(), new UptimeMetrics(), new FileDescriptorMetrics())) {
      binder.bindTo(registry);
    }
    KvNode node = KvNode.builder()
        .nodeId(id)
        .advertisedAddress(listen)
        .peers(otherPeers())
        .join(join)
        .dataDir(dataDir)
        .clusterId(clusterId)
        .partitioner(partitioner())
        .storageEngine(storage)
        .tickInterval(Duration.ofMillis(tickMs))
        .electionTicks(electionTicks)
        .preferredLeaders(preferredLeaders)
        .logCompactionBytes(logCompactionMib << 20)
        .requestTimeout(Duration.ofMillis(requestTimeoutMs))
        .meterRegistry(registry)
        .build();
    LOG.info("node {} of cluster '{}': listening on {}, {}, {} storage{}, peers {}", id, clusterId, listen,
        node.config().partitioner(), storage, dataDir == null ? "" : " in " + dataDir,
        join ? "(joining)" : otherPeers());

    AtomicBoolean serving = new AtomicBoolean();
    NodeHttpServer http = null;
    if (metricsPort >= 0) {
      http = NodeHttpServer.start(metricsPort, routes(node, registry, serving));
      LOG.info("node {}: metrics on http://127.0.0.1:{}/metrics, probes /health and /ready", id, http.port());
    }
    long t0 = System.nanoTime();
    try {
      node.start();
    } catch (RuntimeException e) {
      node.close();
      if (http != null) {
        http.close();
      }
      throw e;
    }
    serving.set(true);
    LOG.info("node {}: started in {} ms", id, (System.nanoTime() - t0) / 1_000_000);

    NodeHttpServer httpToClose = http;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      long s0 = System.nanoTime();
      LOG.info("node {}: stopping (handing leaderships away, closing storage)", id);
      serving.set(false);
      try {
        node.close();
      } finally {
        if (httpToClose != null) {
          httpToClose.close();
        }
        gcMetrics.close();
        LOG.info("node {}: stopped cleanly in {} ms", id, (System.nanoTime() - s0) / 1_000_000);
        stopped.countDown();
      }
    }, "example-node-shutdown"));

    if (parentPid != null) {
      Optional<ProcessHandle> parent = ProcessHandle.of(parentPid);
      if (parent.isEmpty()) {
        LOG.warn("node {}: parent process {} is gone: stopping", id, parentPid);
        System.exit(0);
      }
      parent.get().onExit().thenRun(() -> {
        LOG.warn("node {}: parent process {} exited: stopping", id, parentPid);
        System.exit(0);
      });
    }
    stopped.await(); // the shutdown hook ends the process; this thread only keeps it alive meanwhile
    return 0;
  }

  /**
   * The peers other than this node, from {@code --peers} (empty entries ignored, so a lone node may
   * pass an empty list); this node's own entry, if listed, must match --listen.
   */
  Map<Long, String> otherPeers() {
    Map<Long, String> others = new LinkedHashMap<>();
    for (String entry : peers) {
      if (entry.isBlank()) {
        continue;
      }
      int eq = entry.indexOf('=');
      long peerId;
      try {
        peerId = eq < 0 ? -1 : Long.parseLong(entry.substring(0, eq).trim());
      } catch (NumberFormatException e) {
        peerId = -1;
      }
      if (peerId < 0) {
        throw new CommandLine.ParameterException(new CommandLine(this),
            "--peers entry '" + entry + "' is not ID=HOST:PORT");
      }
      if (others.put(peerId, entry.substring(eq + 1).trim()) != null) {
        throw new CommandLine.ParameterException(new CommandLine(this), "--peers lists node " + peerId + " twice");
      }
    }
    String own = others.remove(id);
    if (own != null && !own.equals(listen)) {
      throw new CommandLine.ParameterException(new CommandLine(this),
          "--peers lists node " + id + " at " + own + " but --listen is " + listen);
    }
    return others;
  }

  Partitioner partitioner() {
    return rangeSplits.isEmpty() ? HashPartitioner.of(partitions) : RangePartitioner.of(rangeSplits.toArray(String[]::new));
  }

  private Map<String, Supplier<NodeHttpServer.Response>> routes(
      KvNode node, PrometheusMeterRegistry registry, AtomicBoolean serving) {
    Map<String, Supplier<NodeHttpServer.Response>> routes = new LinkedHashMap<>();
    routes.put("/metrics", () -> new NodeHttpServer.Response(200,
        "text/plain; version=0.0.4; charset=utf-8", registry.scrape()));
    routes.put("/health", () -> NodeHttpServer.Response.json(serving.get(),
        new Json().put("status", serving.get() ? "UP" : "DOWN").put("node", id)));
    routes.put("/ready", () -> readiness(node, serving.get()));
    return routes;
  }

  /** Ready when the node serves and knows a leader for every partition it hosts. */
  private NodeHttpServer.Response readiness(KvNode node, boolean isServing) {
    Json body = new Json().put("node", id);
    if (!isServing) {
      return NodeHttpServer.Response.json(false, body.put("status", "DOWN"));
    }
    try {
      return readiness(node.status());
    } catch (RuntimeException e) {
      return NodeHttpServer.Response.json(false, body.put("status", "DOWN").put("error", Errors.describe(e)));
    }
  }

  /**
   * The answer of a serving node whose view is {@code s}: its leaders, and its preferred leaders
   * with the peers that were given other ones (a mismatch does not make the node unready: it
   * serves, and balances leaderships over every voter meanwhile).
   */
  static NodeHttpServer.Response readiness(ClusterStatus s) {
    List<Long> leaderless = s.partitions().stream().filter(p -> p.leader() == 0)
        .map(PartitionStatus::partitionId).toList();
    Map<String, Object> leaders = new LinkedHashMap<>();
    for (PartitionStatus p : s.partitions()) {
      leaders.put(Long.toString(p.partitionId()), p.leader());
    }
    Map<String, Object> mismatch = new LinkedHashMap<>();
    new TreeMap<>(s.preferredLeadersMismatch()).forEach((peer, set) -> mismatch.put(Long.toString(peer), new TreeSet<>(set)));
    boolean ready = leaderless.isEmpty() && !s.partitions().isEmpty();
    return NodeHttpServer.Response.json(ready, new Json().put("node", s.nodeId())
        .put("status", ready ? "READY" : "NO_LEADER").put("leaders", leaders).put("without_leader", leaderless)
        .put("preferred_leaders", new TreeSet<>(s.preferredLeaders())).put("preferred_leaders_mismatch", mismatch));
  }
}
