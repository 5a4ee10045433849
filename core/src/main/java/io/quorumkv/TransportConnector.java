package io.quorumkv;

import io.quorumkv.transport.TransportClient;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

/**
 * A {@link RemoteExecutor.Connector} over the transport's external client connections: one per
 * node address, opened on first use (off the caller's thread) and reopened after it breaks. All
 * of them share one I/O thread, so the answer from one node and the next request to another are
 * handled by the same thread (no hand-off between two I/O threads per request).
 */
final class TransportConnector implements RemoteExecutor.Connector {

  private final long clusterId;
  private final Map<String, CompletableFuture<TransportClient>> connections = new ConcurrentHashMap<>();
  private final ExecutorService dialer = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "quorumkv-client-dial");
    t.setDaemon(true);
    return t;
  });
  private final TransportClient.IoThread io = TransportClient.IoThread.start("quorumkv-client");
  private volatile boolean closed;

  TransportConnector(KvClient.Config config) {
    this(NodeRuntime.clusterIdNumber(config.clusterId()));
  }

  /** For the transport's numeric cluster id (a node's own polls, see {@link NodeRuntime#request}). */
  TransportConnector(long clusterId) {
    this.clusterId = clusterId;
  }

  @Override
  public CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout) {
    if (closed) {
      return CompletableFuture.failedFuture(new NodeClosedException("the client is closed", false));
    }
    CompletableFuture<TransportClient> c = connection(address);
    if (c.isDone() && !c.isCompletedExceptionally()) {
      return c.join().request(request, timeout); // open already: no stage in between
    }
    return c.thenCompose(open -> open.request(request, timeout));
  }

  @Override
  public void execute(Runnable task) {
    io.execute(task);
  }

  private CompletableFuture<TransportClient> connection(String address) {
    CompletableFuture<TransportClient> open = connections.get(address);
    if (open != null && open.isDone() && !open.isCompletedExceptionally() && open.join().isOpen()) {
      return open; // the common case, without the map's lock
    }
    TransportClient[] broken = new TransportClient[1];
    CompletableFuture<TransportClient> f = connections.compute(address, (a, old) -> {
      if (old != null && (!old.isDone() || (!old.isCompletedExceptionally() && old.join().isOpen()))) {
        return old;
      }
      if (old != null && old.isDone() && !old.isCompletedExceptionally()) {
        // Closed below, outside the map's lock: closing waits for the I/O thread, which may be
        // the thread here or be waiting for this lock to send (a coalescer's drain).
        broken[0] = old.join();
      }
      HostPort hp = HostPort.parse("address", a);
      try {
        return CompletableFuture.supplyAsync(
            () -> TransportClient.connect(new InetSocketAddress(hp.host(), hp.port()), clusterId,
                java.util.Optional.empty(), io), dialer);
      } catch (RejectedExecutionException e) {
        return CompletableFuture.failedFuture(new NodeClosedException("the client is closed", false));
      }
    });
    if (broken[0] != null) {
      broken[0].close();
    }
    // A failed dial is forgotten so the next attempt dials again.
    f.whenComplete((c, e) -> {
      if (e != null) {
        connections.remove(address, f);
      }
    });
    return f;
  }

  @Override
  public void close() {
    closed = true;
    dialer.shutdownNow();
    for (CompletableFuture<TransportClient> f : connections.values()) {
      if (f.isDone() && !f.isCompletedExceptionally()) {
        f.join().close();
      }
    }
    connections.clear();
    io.close();
  }
}
