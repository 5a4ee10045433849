package io.quorumkv;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link KvClient}'s attempts: each goes to one node. A first attempt of a single-partition
 * request goes to the partition's leader when the {@link ClientRoutes route table} knows it, else
 * to the current address (which forwards it); after a failure the next attempt follows the leader
 * hint if there is one, otherwise moves to the next address: the configured ones, then the members'
 * addresses the last route table answer named that are not configured. Gets and writes reach the
 * connector through a {@link RequestCoalescer}, which sends those queued for one node at the same
 * time as one multi.
 */
final class RemoteExecutor implements RequestExecutor {

  /** How a client reaches a node. */
  interface Connector extends AutoCloseable {
    /** Sends an encoded request to the node at {@code address}; completes with the encoded answer. */
    CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout);

    /**
     * Runs {@code task} on the thread that writes to the connections (one thread, tasks in order):
     * where {@link RequestCoalescer} drains its queues, so that what is queued while that thread
     * is busy goes out together.
     *
     * @throws java.util.concurrent.RejectedExecutionException once closed
     */
    void execute(Runnable task);

    @Override
    void close();
  }

  private final List<String> addresses;
  /** {@link #addresses} and the members learned outside them, for the route table answer it was built from. */
  private volatile Rotation rotation;
  private final Connector connector;
  private final AtomicInteger current = new AtomicInteger();
  private final ClientRoutes routes = new ClientRoutes();
  private final RequestCoalescer coalescer;
  /** Deadline of a route-table refresh: short, it is only a hint. */
  private final Duration routesTimeout;
  private final ScheduledExecutorService scheduler;
  private volatile boolean closed;

  RemoteExecutor(KvClient.Config config, Connector connector) {
    this.addresses = config.addresses();
    this.rotation = new Rotation(null, addresses);
    this.connector = connector;
    this.coalescer = new RequestCoalescer(connector, this::onLost, this::scheduler,
        RequestCoalescer.STALE_NANOS);
    this.routesTimeout = config.requestTimeout().compareTo(Duration.ofSeconds(2)) < 0
        ? config.requestTimeout() : Duration.ofSeconds(2);
    this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "quorumkv-client-timer");
      t.setDaemon(true);
      return t;
    });
  }

  static Connector transportConnector(KvClient.Config config) {
    return new TransportConnector(config);
  }

  @Override
  public CompletableFuture<KvResponse> attempt(KvRequest request, long deadlineNanos, KvResponse.Failure previous) {
    if (closed) {
      return CompletableFuture.failedFuture(new NodeClosedException("the client is closed", false));
    }
    routes.maybeRefresh(this::fetchRoutes);
    String address;
    if (previous != null && previous.code() == KvResponse.Code.NOT_LEADER && !previous.hintAddress().isEmpty()) {
      address = previous.hintAddress();
      routes.markStale();
    } else {
      String leader = previous == null ? routes.leaderFor(request) : null;
      if (leader != null) {
        address = leader;
      } else {
        List<String> r = rotation();
        int i = previous == null ? current.get() : current.incrementAndGet();
        // A lost attempt has already moved the start on (onLost), so this step may land on a node
        // just lost: with two addresses every retry went back to the lost one. Pass the suspects.
        for (int k = 1; previous != null && k < r.size() && routes.suspected(r.get(Math.floorMod(i, r.size()))); k++) {
          i = current.incrementAndGet();
        }
        address = r.get(Math.floorMod(i, r.size()));
      }
      if (previous != null) {
        routes.markStale();
      }
    }
    // A lost attempt comes back as a retryable failure naming the node, which the routes then avoid.
    return coalescer.submit(address, request, deadlineNanos);
  }

  /**
   * An attempt to {@code address} was lost in the transport (refused, reset, or unanswered until
   * its deadline): the routes avoid the address, and if calls start there, the next call starts
   * at the next address. A call whose only attempt timed out never retries, so without this a
   * client whose first address accepts connections but never answers would keep starting there.
   */
  private void onLost(String address) {
    routes.suspect(address);
    List<String> r = rotation();
    int i = current.get();
    if (r.get(Math.floorMod(i, r.size())).equals(address)) {
      current.compareAndSet(i, i + 1);
    }
  }

  @Override
  public String targets() {
    return "nodes " + String.join(", ", addresses);
  }

  /**
   * Asks one node for its route table: the current address, or the next one not suspected. A
   * refresh the transport lost counts as a lost attempt ({@link #onLost}). Calls that go straight
   * to the leaders the table names never move the current address on, so without this a refresh
   * aimed at a node removed for good failed every time, and the table (with the members it
   * names) stayed as it was until the last node it named was gone too.
   */
  private CompletableFuture<KvResponse> fetchRoutes() {
    if (closed) {
      return CompletableFuture.failedFuture(new NodeClosedException("the client is closed", false));
    }
    List<String> r = rotation();
    int i = current.get();
    for (int k = 1; k < r.size() && routes.suspected(r.get(Math.floorMod(i, r.size()))); k++) {
      i++;
    }
    String address = r.get(Math.floorMod(i, r.size()));
    return send(address, new KvRequest.Routes(), routesTimeout).whenComplete((answer, e) -> {
      if (e != null) {
        onLost(address);
      }
    });
  }

  /** The addresses calls start at and move through, and the route table answer they were built from. */
  private record Rotation(KvResponse.RouteTable table, List<String> addresses) {}

  /**
   * The configured addresses, then the members the last route table answer named that are not
   * among them (by node id), then any leader address of that table still missing (an older node
   * names no members). The configured nodes may all be gone, removed from the cluster one by one
   * as new members were added; the leaders alone are not enough then, since a table whose every
   * leader was on a configured node names no other node. A member the cluster no longer has drops
   * out with the next table. Rebuilt only when the table changes.
   */
  private List<String> rotation() {
    if (addresses.size() == 1) {
      return addresses; // a client given one node talks to that node only (admin, its reads, tests)
    }
    KvResponse.RouteTable table = routes.answer();
    Rotation r = rotation;
    if (r.table() != table) {
      r = new Rotation(table, rotationOf(addresses, table));
      rotation = r;
    }
    return r.addresses();
  }

  /** {@link #rotation()} for {@code configured} addresses and a route table answer. */
  static List<String> rotationOf(List<String> configured, KvResponse.RouteTable table) {
    List<String> all = new ArrayList<>(configured);
    List<String> learned = new ArrayList<>(new java.util.TreeMap<>(table.members()).values());
    for (KvResponse.Route route : table.routes()) {
      learned.add(route.leaderAddress());
    }
    for (String address : learned) {
      if (!address.isEmpty() && !all.contains(address)) {
        all.add(address);
      }
    }
    return List.copyOf(all);
  }

  /** The coalescer of gets and writes into multis (tests, benchmarks). */
  RequestCoalescer coalescer() {
    return coalescer;
  }

  /** The route table (tests). */
  ClientRoutes routes() {
    return routes;
  }

  private CompletableFuture<KvResponse> send(String address, KvRequest request, Duration timeout) {
    return connector.send(address, Codec.encodeRequest(request), timeout).thenApply(Codec::decodeResponse);
  }

  /** The status as seen by one node. */
  ClusterStatus statusOf(String address, Duration timeout) {
    HostPort.parse("address", address);
    KvResponse r = Await.result(send(address, new KvRequest.Status(), timeout)
        .applyToEither(timeoutAfter(timeout), x -> x));
    if (r instanceof KvResponse.StatusReport s) {
      return s.status();
    }
    throw new ClusterUnavailableException("node " + address + " answered " + r, false, null);
  }

  private CompletableFuture<KvResponse> timeoutAfter(Duration timeout) {
    CompletableFuture<KvResponse> f = new CompletableFuture<>();
    scheduler.schedule(() -> f.completeExceptionally(new KvTimeoutException("no answer within " + timeout, null)),
        timeout.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
    return f;
  }

  @Override
  public boolean followsLeaderHints() {
    return true;
  }

  @Override
  public ScheduledExecutorService scheduler() {
    return scheduler;
  }

  void close() {
    if (closed) {
      return;
    }
    closed = true;
    coalescer.close();
    connector.close();
    scheduler.shutdownNow();
  }
}
