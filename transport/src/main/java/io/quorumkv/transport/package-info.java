/**
 * How bytes travel between QuorumKV nodes: Raft messages of every group, snapshots, and opaque
 * request/response exchanges.
 *
 * <h2>Public surface</h2>
 * <ul>
 *   <li>{@link io.quorumkv.transport.RaftTransport}: the interface core codes against, with
 *       {@link io.quorumkv.transport.MessageHandler}, {@link io.quorumkv.transport.RequestHandler}
 *       and {@link io.quorumkv.transport.SnapshotReceiver} for inbound traffic, and
 *       {@link io.quorumkv.transport.SnapshotChunkSource} /
 *       {@link io.quorumkv.transport.SnapshotChunkSink} for streamed snapshots.
 *   <li>{@link io.quorumkv.transport.NettyTransport} (configured by
 *       {@link io.quorumkv.transport.NettyTransportConfig}, optionally with
 *       {@link io.quorumkv.transport.TlsSettings}): TCP between real nodes.
 *   <li>{@link io.quorumkv.transport.TransportClient}: a non-member (CLI, load generator)
 *       sending requests to a node.
 *   <li>{@link io.quorumkv.transport.MemoryNetwork} / {@link io.quorumkv.transport.MemoryTransport}:
 *       the same contract in one process, for tests.
 *   <li>{@link io.quorumkv.transport.FaultInjector}: partitions, one-way blocks, drop rates and
 *       delays on both implementations, also as text commands for other processes.
 * </ul>
 *
 * <h2>Threading rules for callers</h2>
 * <ul>
 *   <li>{@code send}, {@code request} and {@code sendSnapshot} may be called from any thread and
 *       never block; {@code send} never throws.
 *   <li>Handlers run on I/O threads (Netty event loops; the network thread of a
 *       {@code MemoryNetwork}) and must not block: queue the work to the Raft loop.
 *       Futures returned by {@code request} also complete on I/O threads, so their callbacks
 *       must not block either (use the {@code ...Async} variants with an executor of your own).
 *   <li>Snapshot sources and sinks run on a separate snapshot pool and may block on disk.
 *   <li>Messages from one peer arrive in the order it sent them, except that heartbeats and
 *       heartbeat responses travel in a compact list of their own within each batch, so they may
 *       overtake other kinds queued in the same flush. Raft does not depend on order.
 * </ul>
 *
 * <h2>Wire</h2>
 * A connection carries 4-byte length-prefixed protobuf frames ({@code quorumkv_transport.proto}),
 * opened by a Hello naming protocol version, cluster id, node id and lane (Raft, snapshot or
 * client). Nodes refuse other versions and clusters, log why on both sides, and close any
 * connection that sends a malformed, oversized or unexpected frame.
 */
package io.quorumkv.transport;
