package io.quorumkv.transport;

import io.quorumkv.raft.Message;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link RaftTransport} inside a {@link MemoryNetwork}: same contract as {@link NettyTransport}
 * (never blocks in {@code send}, bounded queues, deadlines, fault rules), no sockets.
 *
 * <p>Messages are handed over by reference, not serialised, so a test must not mutate entry data
 * after sending it (the Raft types are immutable except for byte arrays, which Raft never
 * mutates). Snapshots are streamed chunk by chunk on the network's snapshot thread; a transfer
 * over a blocked link fails at once with {@link TransportException.Reason#UNREACHABLE}.
 */
public final class MemoryTransport implements RaftTransport {

  private static final Logger log = LoggerFactory.getLogger(MemoryTransport.class);

  /** Chunk size of in-memory snapshot transfers. */
  static final int SNAPSHOT_CHUNK_BYTES = 64 * 1024;

  private enum State { NEW, STARTED, CLOSED }

  private final long nodeId;
  private final MemoryNetwork network;
  private final Counters counters = new Counters();
  /** Undelivered messages per destination, to bound what a slow or partitioned link holds. */
  private final Map<Long, AtomicInteger> inFlight = new ConcurrentHashMap<>();
  private volatile State state = State.NEW;
  private volatile MessageHandler messageHandler = (from, group, m) -> {};
  private volatile RequestHandler requestHandler = (from, payload) ->
      CompletableFuture.failedFuture(new IllegalStateException("no request handler on this node"));
  private volatile SnapshotReceiver snapshotReceiver = (from, group, m) -> {
    throw new IOException("no snapshot receiver on this node");
  };

  MemoryTransport(long nodeId, MemoryNetwork network) {
    this.nodeId = nodeId;
    this.network = network;
  }

  @Override
  public void start() {
    if (state == State.CLOSED) {
      throw new IllegalStateException("transport of node " + nodeId + " is closed");
    }
    state = State.STARTED;
  }

  boolean isLive() {
    return state == State.STARTED;
  }

  @Override
  public long nodeId() {
    return nodeId;
  }

  @Override
  public void send(long toNode, long groupId, Message m) {
    MemoryTransport to = isLive() ? network.live(toNode) : null;
    if (to == null) {
      counters.droppedUnreachable.increment();
      return;
    }
    LinkFaults.Fate fate = network.linkFaults().fate(nodeId, toNode);
    if (fate.drop()) {
      counters.droppedByFault.increment();
      return;
    }
    AtomicInteger queued = inFlight.computeIfAbsent(toNode, k -> new AtomicInteger());
    for (int copy = 0; copy < fate.copies(); copy++) {
      if (queued.incrementAndGet() > network.linkQueueLimit()) {
        queued.decrementAndGet();
        counters.droppedQueueFull.increment();
        return;
      }
      counters.messagesSent.increment();
      deliver(fate, () -> {
        queued.decrementAndGet();
        to.receive(nodeId, groupId, m);
      });
    }
  }

  private void receive(long fromNode, long groupId, Message m) {
    if (!isLive()) {
      return;
    }
    counters.messagesReceived.increment();
    try {
      messageHandler.onMessage(fromNode, groupId, m);
    } catch (RuntimeException e) {
      log.warn("node {}: message handler failed on {} from node {} group {}", nodeId,
          m.getClass().getSimpleName(), fromNode, groupId, e);
    }
  }

  /** Runs {@code task} on the network thread after the fate's delay; drops it if shut down. */
  private void deliver(LinkFaults.Fate fate, Runnable task) {
    try {
      if (fate.delayNanos() > 0) {
        network.networkThread().schedule(task, fate.delayNanos(), TimeUnit.NANOSECONDS);
      } else {
        network.networkThread().execute(task);
      }
    } catch (RejectedExecutionException e) {
      counters.droppedUnreachable.increment();
    }
  }

  @Override
  public void setMessageHandler(MessageHandler handler) {
    this.messageHandler = Objects.requireNonNull(handler, "handler");
  }

  @Override
  public CompletableFuture<byte[]> request(long toNode, byte[] payload, Duration deadline) {
    CompletableFuture<byte[]> result = new CompletableFuture<>();
    MemoryTransport to = isLive() ? network.live(toNode) : null;
    if (to == null) {
      result.completeExceptionally(new TransportException(
          TransportException.Reason.UNREACHABLE, "node " + toNode + " is not reachable"));
      return result;
    }
    try {
      network.networkThread().schedule(
          () -> result.completeExceptionally(new TimeoutException(
              "no response from node " + toNode + " within " + deadline)),
          deadline.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      result.completeExceptionally(
          new TransportException(TransportException.Reason.CLOSED, "network closed"));
      return result;
    }
    LinkFaults.Fate there = network.linkFaults().fate(nodeId, toNode);
    if (there.drop()) {
      return result; // lost: the deadline answers
    }
    deliver(there, () -> to.serve(nodeId, payload).whenComplete((response, error) -> {
      LinkFaults.Fate back = network.linkFaults().fate(toNode, nodeId);
      if (!back.drop()) {
        deliver(back, () -> complete(result, response, error));
      }
    }));
    return result;
  }

  private static void complete(CompletableFuture<byte[]> result, byte[] response, Throwable error) {
    if (error == null && response != null) {
      result.complete(response);
    } else {
      result.completeExceptionally(new TransportException(TransportException.Reason.REMOTE_ERROR,
          error == null ? "request handler completed with null" : Requests.errorText(error)));
    }
  }

  private CompletableFuture<byte[]> serve(long fromNode, byte[] payload) {
    if (!isLive()) {
      return CompletableFuture.failedFuture(new IllegalStateException("node closed"));
    }
    return Requests.invoke(requestHandler, fromNode, payload);
  }

  @Override
  public void setRequestHandler(RequestHandler handler) {
    this.requestHandler = Objects.requireNonNull(handler, "handler");
  }

  @Override
  public CompletableFuture<Void> sendSnapshot(
      long toNode, long groupId, Message.InstallSnapshot message, SnapshotChunkSource source) {
    CompletableFuture<Void> result = new CompletableFuture<>();
    try {
      network.snapshotThread().execute(() -> transfer(toNode, groupId, message, source, result));
    } catch (RejectedExecutionException e) {
      closeQuietly(source);
      result.completeExceptionally(
          new TransportException(TransportException.Reason.CLOSED, "network closed"));
    }
    return result;
  }

  private void transfer(long toNode, long groupId, Message.InstallSnapshot message,
      SnapshotChunkSource source, CompletableFuture<Void> result) {
    SnapshotChunkSink sink = null;
    try (source) {
      MemoryTransport to = isLive() ? network.live(toNode) : null;
      if (to == null || network.linkFaults().isBlocked(nodeId, toNode)) {
        throw new TransportException(TransportException.Reason.UNREACHABLE,
            "node " + toNode + " is not reachable");
      }
      sink = to.snapshotReceiver.open(nodeId, groupId, message);
      long offset = 0;
      while (true) {
        if (network.linkFaults().isBlocked(nodeId, toNode) || !to.isLive()) {
          throw new TransportException(TransportException.Reason.UNREACHABLE,
              "link to node " + toNode + " cut during snapshot transfer at offset " + offset);
        }
        SnapshotChunk chunk = source.read(offset, SNAPSHOT_CHUNK_BYTES);
        if (chunk.offset() != offset) {
          throw new IOException("source returned offset " + chunk.offset() + ", asked " + offset);
        }
        sink.write(offset, ByteBuffer.wrap(chunk.data()).asReadOnlyBuffer());
        counters.snapshotChunksSent.increment();
        to.counters.snapshotChunksReceived.increment();
        offset += chunk.data().length;
        if (chunk.last()) {
          break;
        }
      }
      sink.complete();
      sink = null;
      network.networkThread().execute(() -> {
        to.receive(nodeId, groupId, message);
        result.complete(null);
      });
    } catch (Exception e) {
      if (sink != null) {
        sink.abort(e);
      }
      result.completeExceptionally(e instanceof TransportException ? e
          : new TransportException(TransportException.Reason.REMOTE_ERROR,
              "snapshot transfer to node " + toNode + " failed: " + e));
    }
  }

  private static void closeQuietly(SnapshotChunkSource source) {
    try {
      source.close();
    } catch (IOException e) {
      log.debug("closing snapshot source", e);
    }
  }

  @Override
  public void setSnapshotReceiver(SnapshotReceiver receiver) {
    this.snapshotReceiver = Objects.requireNonNull(receiver, "receiver");
  }

  @Override
  public FaultInjector faults() {
    return network.faults();
  }

  @Override
  public TransportMetrics metrics() {
    return counters.snapshot();
  }

  @Override
  public void close() {
    if (state != State.CLOSED) {
      state = State.CLOSED;
      network.remove(this);
    }
  }
}
