package io.quorumkv.transport;

import io.quorumkv.raft.Message;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Carries Raft messages, snapshots and opaque request/response exchanges between the members of
 * a cluster. One instance per node; every Raft group of the node shares it (the group id travels
 * beside each message, never inside it).
 *
 * <p>Threading: {@link #send} and {@link #request} may be called from any thread and never block.
 * Handlers ({@link MessageHandler}, {@link RequestHandler}, {@link SnapshotReceiver}) are called on
 * the transport's I/O threads and must not block: hand the work to your own queue. Messages from
 * one peer are delivered in the order that peer sent them, unless a fault injector delays them.
 *
 * <p>Delivery is best-effort: Raft tolerates lost, duplicated and reordered messages, so the
 * transport drops (and counts, see {@link #metrics()}) rather than grows without bound when a
 * peer is slow or down.
 *
 * <p>Implementations: {@link NettyTransport} for real networks, {@link MemoryTransport} for tests.
 */
public interface RaftTransport extends AutoCloseable {

  /** Starts listening and connecting to peers. Handlers should be set before this. */
  void start();

  /** This node's id. */
  long nodeId();

  /**
   * Queues {@code m} for {@code toNode}. Never blocks and never throws: if the peer is unknown or
   * down, or its outbound queue is full, the message is dropped and counted in {@link #metrics()}.
   *
   * @param toNode  the receiving node's id
   * @param groupId the Raft group the message belongs to
   * @param m       the message; its {@code to()} normally equals {@code toNode}
   */
  void send(long toNode, long groupId, Message m);

  /**
   * Queues every message of {@code messages} for {@code toNode}, in order, as {@link #send(long,
   * long, Message)} does each, but lets the connection take them all before it writes: a node
   * that sends what all its groups have for a peer in one call pays one frame and one wake-up of
   * the connection's I/O thread for all of them, rather than one per group.
   *
   * @param toNode   the receiving node's id
   * @param messages the messages, each with its group
   */
  default void send(long toNode, List<Envelope> messages) {
    for (Envelope e : messages) {
      send(toNode, e.groupId(), e.message());
    }
  }

  /**
   * About the bytes of Raft log entries that {@code toNode}'s outbound queue takes now before
   * other messages could find it full: the driver's node-wide budget
   * ({@link io.quorumkv.raft.SendBudget}), so that its leaders read from their logs only what can
   * be sent rather than what the transport would drop. {@link Long#MAX_VALUE} when the transport
   * keeps no byte bound.
   */
  default long entryBytesAccepted(long toNode) {
    return Long.MAX_VALUE;
  }

  /** Sets who receives inbound Raft messages. Called on an I/O thread: must not block. */
  void setMessageHandler(MessageHandler handler);

  /**
   * Sends an opaque request to a peer and completes with its response. The future completes
   * exceptionally with {@link java.util.concurrent.TimeoutException} when {@code deadline} passes
   * first (the request may still have been executed by the peer), or with a
   * {@link TransportException} saying why it could not be delivered or what the peer reported.
   * The deadline is also carried to the peer, which may skip work whose caller gave up.
   */
  CompletableFuture<byte[]> request(long toNode, byte[] payload, Duration deadline);

  /** Sets who answers inbound requests, from peers and from {@link TransportClient}s. */
  void setRequestHandler(RequestHandler handler);

  /**
   * Streams a snapshot to {@code toNode} on a lane of its own, in checksummed chunks with at most
   * a bounded number unacknowledged, resuming from the last acknowledged chunk after a dropped
   * connection. When the receiver's {@link SnapshotChunkSink#complete()} has returned, the
   * receiver delivers {@code message} to its {@link MessageHandler} and the returned future
   * completes. The future fails with a {@link TransportException} when the receiver refuses or
   * aborts the snapshot, or when the transfer cannot make progress.
   *
   * @param message the Raft message announcing the snapshot; delivered only after all its data
   * @param source  the data; closed by the transport when the transfer ends either way
   */
  CompletableFuture<Void> sendSnapshot(
      long toNode, long groupId, Message.InstallSnapshot message, SnapshotChunkSource source);

  /** Sets who accepts inbound snapshots. Without one, inbound snapshots are refused. */
  void setSnapshotReceiver(SnapshotReceiver receiver);

  /** The hook that drops, delays or blocks traffic of this node, for fault-injection tests. */
  FaultInjector faults();

  /** A point-in-time copy of the counters. */
  TransportMetrics metrics();

  /**
   * Closes every connection and stops the I/O threads; pending futures fail. Idempotent.
   * Blocks until the threads have stopped, so it must not be called from a handler.
   */
  @Override
  void close();
}
