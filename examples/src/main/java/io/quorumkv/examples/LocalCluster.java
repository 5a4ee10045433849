package io.quorumkv.examples;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A cluster of {@link ExampleNode} JVMs on 127.0.0.1, started as child processes with the
 * caller's classpath: free ports, one fresh data dir and log file per node under one temp dir.
 * {@link #close()} stops every child still running and deletes the temp dir; it is idempotent and
 * safe to call from a shutdown hook while another thread still uses the cluster.
 */
final class LocalCluster implements AutoCloseable {

  /**
   * What to start.
   *
   * @param nodes      how many nodes (ids 1..n)
   * @param partitions hash partitions
   * @param clusterId  the cluster's name
   * @param classpath  the classpath of the child JVMs
   * @param javaOpts   extra JVM flags of the child JVMs
   * @param keepDir    keep the temp dir (data and logs) on close
   */
  record Spec(int nodes, int partitions, String clusterId, String classpath, List<String> javaOpts, boolean keepDir) {
    Spec {
      if (nodes < 1) {
        throw new IllegalArgumentException("nodes must be positive, was " + nodes);
      }
      javaOpts = List.copyOf(javaOpts);
    }
  }

  /** One node: its fixed ports and paths, and the process currently running it (if any). */
  static final class Node {
    final long id;
    final String address;
    final int metricsPort;
    final Path dataDir;
    final Path logFile;
    private Process process;

    Node(long id, String address, int metricsPort, Path dataDir, Path logFile) {
      this.id = id;
      this.address = address;
      this.metricsPort = metricsPort;
      this.dataDir = dataDir;
      this.logFile = logFile;
    }

    synchronized Process process() {
      return process;
    }

    synchronized boolean alive() {
      return process != null && process.isAlive();
    }

    String metricsUrl() {
      return "http://127.0.0.1:" + metricsPort + "/metrics";
    }
  }

  /**
   * How a graceful stop went.
   *
   * @param exitCode   the process's exit code (143 = ended by SIGTERM after its shutdown hooks)
   * @param millis     how long the stop took
   * @param clean      whether the node logged that it closed cleanly
   * @param forced     whether it had to be killed after the grace period
   */
  record StopResult(int exitCode, long millis, boolean clean, boolean forced) {}

  static final String CLEAN_STOP_MARKER = "stopped cleanly";

  private final Spec spec;
  private final Path dir;
  private final Map<Long, Node> nodes = new LinkedHashMap<>();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
  private boolean closed;

  private LocalCluster(Spec spec, Path dir) {
    this.spec = spec;
    this.dir = dir;
  }

  /** Picks free ports and creates the temp dir; starts nothing. */
  static LocalCluster create(Spec spec) {
    Path dir;
    try {
      dir = Files.createTempDirectory("quorumkv-demo-");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temp dir: " + e.getMessage(), e);
    }
    LocalCluster c = new LocalCluster(spec, dir);
    int[] ports = freePorts(2 * spec.nodes());
    for (int i = 1; i <= spec.nodes(); i++) {
      c.nodes.put((long) i, new Node(i, "127.0.0.1:" + ports[2 * (i - 1)], ports[2 * (i - 1) + 1],
          dir.resolve("node-" + i), dir.resolve("node-" + i + ".log")));
    }
    return c;
  }

  /** Distinct ports that were free on 127.0.0.1 a moment ago (all held open together while chosen). */
  static int[] freePorts(int n) {
    List<ServerSocket> sockets = new ArrayList<>();
    try {
      int[] ports = new int[n];
      for (int i = 0; i < n; i++) {
        ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        sockets.add(s);
        ports[i] = s.getLocalPort();
      }
      return ports;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find free ports on 127.0.0.1: " + e.getMessage(), e);
    } finally {
      for (ServerSocket s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // best effort: the port is released when the socket is collected anyway
        }
      }
    }
  }

  Path dir() {
    return dir;
  }

  List<Node> nodes() {
    return List.copyOf(nodes.values());
  }

  Node node(long id) {
    Node n = nodes.get(id);
    if (n == null) {
      throw new IllegalArgumentException("no node " + id);
    }
    return n;
  }

  /** Every node's {@code host:port}, in id order. */
  List<String> addresses() {
    return nodes.values().stream().map(n -> n.address).toList();
  }

  /** The {@code --peers} value: every node, {@code id=host:port}, comma-separated. */
  String peersFlag() {
    return nodes.values().stream().map(n -> n.id + "=" + n.address).collect(Collectors.joining(","));
  }

  /** The command line that runs node {@code id}. */
  List<String> command(Node n) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(spec.javaOpts());
    cmd.addAll(List.of("-cp", spec.classpath(), ExampleNode.class.getName(),
        "--id", Long.toString(n.id),
        "--listen", n.address,
        "--peers", peersFlag(),
        "--data-dir", n.dataDir.toString(),
        "--cluster-id", spec.clusterId(),
        "--partitions", Integer.toString(spec.partitions()),
        "--metrics-port", Integer.toString(n.metricsPort),
        "--parent-pid", Long.toString(ProcessHandle.current().pid())));
    return cmd;
  }

  /** Starts node {@code id} (again, after a stop or kill: same ports and data dir); returns its pid. */
  long start(long id) {
    Node n = node(id);
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException("the cluster is closed");
      }
      synchronized (n) {
        if (n.alive()) {
          throw new IllegalStateException("node " + id + " is already running");
        }
        ProcessBuilder pb = new ProcessBuilder(command(n))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(n.logFile.toFile()))
            .redirectInput(ProcessBuilder.Redirect.PIPE);
        try {
          n.process = pb.start();
        } catch (IOException e) {
          throw new UncheckedIOException("cannot start node " + id + ": " + e.getMessage(), e);
        }
        return n.process.pid();
      }
    }
  }

  /** Kills node {@code id} at once (SIGKILL: no shutdown hook runs) and waits until it is gone. */
  void kill(long id) throws InterruptedException {
    Process p = node(id).process();
    if (p == null) {
      return;
    }
    p.destroyForcibly();
    p.waitFor();
  }

  /** Asks node {@code id} to stop (SIGTERM) and waits up to {@code grace}, then kills it. */
  StopResult stop(long id, Duration grace) throws InterruptedException {
    Node n = node(id);
    Process p = n.process();
    if (p == null) {
      throw new IllegalStateException("node " + id + " was never started");
    }
    long t0 = System.nanoTime();
    p.destroy();
    boolean exited = p.waitFor(grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    if (!exited) {
      p.destroyForcibly();
      p.waitFor();
    }
    long millis = (System.nanoTime() - t0) / 1_000_000;
    return new StopResult(p.exitValue(), millis, loggedCleanStop(n), !exited);
  }

  /** Whether the node's log ends with the line its shutdown hook writes after a clean close. */
  static boolean loggedCleanStop(Node n) {
    List<String> tail = tail(n.logFile, 5);
    return !tail.isEmpty() && tail.stream().anyMatch(l -> l.contains(CLEAN_STOP_MARKER));
  }

  /** The HTTP status of {@code path} on node {@code id}'s metrics port, or empty if it does not answer. */
  OptionalInt probe(long id, String path) {
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node(id).metricsPort + path))
        .timeout(Duration.ofSeconds(6)).GET().build();
    try {
      return OptionalInt.of(http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode());
    } catch (IOException e) {
      return OptionalInt.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return OptionalInt.empty();
    }
  }

  /** The body of {@code path} on node {@code id}'s metrics port. */
  String fetch(long id, String path) throws IOException, InterruptedException {
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node(id).metricsPort + path))
        .timeout(Duration.ofSeconds(6)).GET().build();
    return http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)).body();
  }

  /**
   * Waits until node {@code id} answers 200 on {@code /health}, or its process exits, or the
   * deadline passes.
   *
   * @return whether it became healthy
   */
  boolean awaitHealthy(long id, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    Node n = node(id);
    while (System.nanoTime() < deadline) {
      if (!n.alive()) {
        return false;
      }
      if (probe(id, "/health").orElse(-1) == 200) {
        return true;
      }
      Thread.sleep(100);
    }
    return false;
  }

  /** The last {@code lines} lines of a log file (empty if it does not exist). */
  static List<String> tail(Path file, int lines) {
    try (Stream<String> all = Files.lines(file, StandardCharsets.UTF_8)) {
      List<String> l = all.toList();
      return l.subList(Math.max(0, l.size() - lines), l.size());
    } catch (IOException | UncheckedIOException e) {
      return List.of();
    }
  }

  /**
   * Stops every running node (SIGTERM, then SIGKILL after 10 s) and deletes the temp dir unless
   * asked to keep it. Idempotent.
   */
  @Override
  public void close() {
    List<Process> running = new ArrayList<>();
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      for (Node n : nodes.values()) {
        Process p = n.process();
        if (p != null && p.isAlive()) {
          p.destroy();
          running.add(p);
        }
      }
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    for (Process p : running) {
      try {
        if (!p.waitFor(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS)) {
          p.destroyForcibly();
          p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
    if (!spec.keepDir()) {
      deleteRecursively(dir);
    }
  }

  static void deleteRecursively(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root + ": " + e.getMessage(), e);
    }
  }
}
