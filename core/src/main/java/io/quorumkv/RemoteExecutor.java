package io.quorumkv;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link KvClient}'s attempts: each goes to one node; after a failure the next attempt follows
 * the leader hint if there is one, otherwise moves to the next configured address.
 *
 * <p>A first attempt at a key goes straight to the node last seen leading the key's partition
 * (hash partitions; a range-partitioned cluster is served through any node), which saves the
 * forwarding hop a node would otherwise make to the leader. The leaders come from a node's status,
 * fetched in the background when they are older than {@link #ROUTES_MAX_AGE_NANOS} or after a
 * failed attempt. A stale route is harmless: the node forwards (or answers with the leader).
 */
final class RemoteExecutor implements RequestExecutor {

  /** How a client reaches a node. */
  interface Connector extends AutoCloseable {
    /** Sends an encoded request to the node at {@code address}; completes with the encoded answer. */
    CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout);

    @Override
    void close();
  }

  private final List<String> addresses;
  private final Connector connector;
  private final AtomicInteger current = new AtomicInteger();
  private final ScheduledExecutorService scheduler;
  private final AtomicBoolean fetchingRoutes = new AtomicBoolean();
  private volatile Routes routes = Routes.NONE;
  private volatile boolean closed;

  static final long ROUTES_MAX_AGE_NANOS = TimeUnit.SECONDS.toNanos(2);
  private static final Duration ROUTES_TIMEOUT = Duration.ofSeconds(2);

  /**
   * The address of each hash partition's leader, as seen by one node at {@code fetchedNanos};
   * {@code partitioner} is empty when the cluster is not (only) hash-partitioned.
   */
  record Routes(Optional<HashPartitioner> partitioner, Map<Long, String> leaders, long fetchedNanos) {
    static final Routes NONE = new Routes(Optional.empty(), Map.of(), System.nanoTime() - 2 * ROUTES_MAX_AGE_NANOS);

    static Routes of(ClusterStatus status, long nowNanos) {
      Map<Long, String> leaders = new HashMap<>();
      int partitions = 0;
      for (PartitionStatus p : status.partitions()) {
        Optional<KeySpan.HashSlot> slot = KeySpan.HashSlot.parse(p.keys());
        if (slot.isEmpty() || (partitions != 0 && partitions != slot.get().partitions())) {
          return new Routes(Optional.empty(), Map.of(), nowNanos);
        }
        partitions = slot.get().partitions();
        String address = status.members().get(p.leader());
        if (p.leader() != 0 && address != null && !address.isEmpty()) {
          leaders.put(p.partitionId(), address);
        }
      }
      return partitions == 0 ? new Routes(Optional.empty(), Map.of(), nowNanos)
          : new Routes(Optional.of(HashPartitioner.of(partitions)), Map.copyOf(leaders), nowNanos);
    }

    /** The leader's address for {@code key}, if known. */
    Optional<String> leaderOf(byte[] key) {
      return partitioner.map(p -> leaders.get(p.partitionOf(key)));
    }
  }

  RemoteExecutor(KvClient.Config config, Connector connector) {
    this.addresses = config.addresses();
    this.connector = connector;
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
    String address;
    Optional<String> routed = previous == null ? route(request) : Optional.empty();
    if (previous != null) {
      fetchRoutes(); // a leader may have moved
    }
    if (previous != null && previous.code() == KvResponse.Code.NOT_LEADER && !previous.hintAddress().isEmpty()) {
      address = previous.hintAddress();
    } else if (routed.isPresent()) {
      address = routed.get();
    } else {
      int i = previous == null ? current.get() : current.incrementAndGet();
      address = addresses.get(Math.floorMod(i, addresses.size()));
    }
    return send(address, request, Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime())));
  }

  private CompletableFuture<KvResponse> send(String address, KvRequest request, Duration timeout) {
    return connector.send(address, Codec.encodeRequest(request), timeout).thenApply(Codec::decodeResponse);
  }

  /** The last known leader of the partition of a key read or written by {@code request}. */
  private Optional<String> route(KvRequest request) {
    byte[] key;
    if (request instanceof KvRequest.Get g) {
      key = g.key();
    } else if (request instanceof KvRequest.Write w && !w.op().keys().isEmpty()) {
      key = w.op().keys().get(0);
    } else {
      return Optional.empty();
    }
    Routes r = routes;
    if (System.nanoTime() - r.fetchedNanos() > ROUTES_MAX_AGE_NANOS) {
      fetchRoutes();
    }
    return r.leaderOf(key);
  }

  /** Asks the current node for the partitions' leaders, unless a fetch is under way already. */
  private void fetchRoutes() {
    if (closed || !fetchingRoutes.compareAndSet(false, true)) {
      return;
    }
    String address = addresses.get(Math.floorMod(current.get(), addresses.size()));
    CompletableFuture<KvResponse> f;
    try {
      f = send(address, new KvRequest.Status(), ROUTES_TIMEOUT);
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete((r, e) -> {
      long now = System.nanoTime();
      if (r instanceof KvResponse.StatusReport s) {
        routes = Routes.of(s.status(), now);
      } else {
        Routes old = routes; // keep what we had; ask again later, not at once
        routes = new Routes(old.partitioner(), old.leaders(), now);
      }
      fetchingRoutes.set(false);
    });
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
    connector.close();
    scheduler.shutdownNow();
  }
}
