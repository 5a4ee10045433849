package io.quorumkv.transport;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Configuration of a {@link NettyTransport}. Build it with {@link #builder(long, long)}; every
 * field is validated and a bad one is reported by name.
 *
 * @param nodeId               this node's id (positive)
 * @param clusterId            the cluster's id; peers of another cluster are refused
 * @param bindAddress          where to accept peers and clients
 * @param peers                every member's address by node id (this node's entry, if any,
 *                             is ignored)
 * @param maxFrameBytes        the largest frame accepted or sent; a peer sending a bigger one is
 *                             disconnected, a bigger message is dropped
 * @param outboundQueueLimit   messages held per peer while it is slow or disconnected; more are
 *                             dropped and counted
 * @param outboundQueueBytes   about the bytes held per peer (of the messages' entries and
 *                             payloads); more are dropped and counted, except a single message
 *                             when nothing else is queued. Raft entries may fill only half of it
 *                             ({@link RaftTransport#entryBytesAccepted}), so heartbeats and votes
 *                             always find room
 * @param reconnectBackoffMin  first delay before redialling a lost peer
 * @param reconnectBackoffMax  cap of the exponentially growing redial delay (jittered)
 * @param connectTimeout       how long one dial may take
 * @param handshakeTimeout     how long a new connection may take to identify itself
 * @param peerTimeout          a Raft connection that brings no byte for this long is closed
 *                             (and redialled) as dead; each side sends a keep-alive after a
 *                             quarter of it without writing, so an idle but healthy link stays
 *                             up
 * @param tls                  TLS settings, or empty for plain TCP
 * @param snapshotChunkBytes   size of a snapshot chunk (well below {@code maxFrameBytes})
 * @param snapshotWindow       snapshot chunks sent but not yet acknowledged, at most
 * @param snapshotStallTimeout a snapshot transfer that makes no progress this long fails
 * @param ioThreads            Netty event-loop threads (0: Netty's default, 2 x cores)
 */
public record NettyTransportConfig(
    long nodeId,
    long clusterId,
    InetSocketAddress bindAddress,
    Map<Long, InetSocketAddress> peers,
    int maxFrameBytes,
    int outboundQueueLimit,
    long outboundQueueBytes,
    Duration reconnectBackoffMin,
    Duration reconnectBackoffMax,
    Duration connectTimeout,
    Duration handshakeTimeout,
    Duration peerTimeout,
    Optional<TlsSettings> tls,
    int snapshotChunkBytes,
    int snapshotWindow,
    Duration snapshotStallTimeout,
    int ioThreads) {

  /** Room a chunk frame needs beyond the chunk's bytes (header fields). */
  static final int CHUNK_FRAME_OVERHEAD = 128;

  /** Validates every field; the message of the exception names the bad one. */
  public NettyTransportConfig {
    if (nodeId <= 0) {
      throw new IllegalArgumentException("nodeId must be positive: " + nodeId);
    }
    Objects.requireNonNull(bindAddress, "bindAddress is required");
    Objects.requireNonNull(peers, "peers is required");
    peers.forEach((id, address) -> {
      if (id == null || id <= 0 || address == null) {
        throw new IllegalArgumentException("peers: bad entry " + id + " -> " + address);
      }
    });
    peers = Map.copyOf(peers);
    if (maxFrameBytes < 1024) {
      throw new IllegalArgumentException("maxFrameBytes must be at least 1024: " + maxFrameBytes);
    }
    if (outboundQueueLimit <= 0) {
      throw new IllegalArgumentException(
          "outboundQueueLimit must be positive: " + outboundQueueLimit);
    }
    if (outboundQueueBytes <= 0) {
      throw new IllegalArgumentException(
          "outboundQueueBytes must be positive: " + outboundQueueBytes);
    }
    positive("reconnectBackoffMin", reconnectBackoffMin);
    positive("reconnectBackoffMax", reconnectBackoffMax);
    if (reconnectBackoffMax.compareTo(reconnectBackoffMin) < 0) {
      throw new IllegalArgumentException("reconnectBackoffMax " + reconnectBackoffMax
          + " is below reconnectBackoffMin " + reconnectBackoffMin);
    }
    positive("connectTimeout", connectTimeout);
    positive("handshakeTimeout", handshakeTimeout);
    positive("peerTimeout", peerTimeout);
    Objects.requireNonNull(tls, "tls");
    if (snapshotChunkBytes <= 0 || snapshotChunkBytes > maxFrameBytes - CHUNK_FRAME_OVERHEAD) {
      throw new IllegalArgumentException("snapshotChunkBytes must be in 1.." 
          + (maxFrameBytes - CHUNK_FRAME_OVERHEAD) + " (maxFrameBytes less headers): "
          + snapshotChunkBytes);
    }
    if (snapshotWindow <= 0) {
      throw new IllegalArgumentException("snapshotWindow must be positive: " + snapshotWindow);
    }
    positive("snapshotStallTimeout", snapshotStallTimeout);
    if (ioThreads < 0) {
      throw new IllegalArgumentException("ioThreads must not be negative: " + ioThreads);
    }
  }

  private static long defaultOutboundQueueBytes() {
    return Math.min(64L << 20, Math.max(4L << 20, Runtime.getRuntime().maxMemory() / 16));
  }

  private static void positive(String field, Duration d) {
    Objects.requireNonNull(d, field);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(field + " must be positive: " + d);
    }
  }

  /** A builder with sensible defaults for everything but the ids and addresses. */
  public static Builder builder(long nodeId, long clusterId) {
    return new Builder(nodeId, clusterId);
  }

  /** Builds a {@link NettyTransportConfig}; defaults are listed on each setter. */
  public static final class Builder {
    private final long nodeId;
    private final long clusterId;
    private InetSocketAddress bindAddress;
    private final Map<Long, InetSocketAddress> peers = new HashMap<>();
    private int maxFrameBytes = 16 * 1024 * 1024;
    private int outboundQueueLimit = 8192;
    private long outboundQueueBytes = defaultOutboundQueueBytes();
    private Duration reconnectBackoffMin = Duration.ofMillis(50);
    private Duration reconnectBackoffMax = Duration.ofSeconds(2);
    private Duration connectTimeout = Duration.ofSeconds(2);
    private Duration handshakeTimeout = Duration.ofSeconds(5);
    private Duration peerTimeout = Duration.ofSeconds(10);
    private TlsSettings tls;
    private int snapshotChunkBytes = 1024 * 1024;
    private int snapshotWindow = 4;
    private Duration snapshotStallTimeout = Duration.ofSeconds(30);
    private int ioThreads = 2;

    private Builder(long nodeId, long clusterId) {
      this.nodeId = nodeId;
      this.clusterId = clusterId;
    }

    /** Where to listen (required). */
    public Builder bindAddress(InetSocketAddress address) {
      this.bindAddress = address;
      return this;
    }

    /** Adds one member's address. */
    public Builder peer(long id, InetSocketAddress address) {
      peers.put(id, address);
      return this;
    }

    /** Adds members' addresses. */
    public Builder peers(Map<Long, InetSocketAddress> addresses) {
      peers.putAll(addresses);
      return this;
    }

    /** Default 16 MiB. */
    public Builder maxFrameBytes(int bytes) {
      this.maxFrameBytes = bytes;
      return this;
    }

    /** Default 8192 messages per peer. */
    public Builder outboundQueueLimit(int messages) {
      this.outboundQueueLimit = messages;
      return this;
    }

    /**
     * Default: a sixteenth of the heap, at least 4 MiB and at most 64 MiB per peer. The bound by
     * count alone let up to 8,192 AppendEntries of up to 1 MiB each wait behind a peer that reads
     * slowly (a new learner catching up a long log): a node with a 256 MiB heap ran out of memory
     * so in the Jepsen suite; with 64 MiB per peer the same node ran out again, a learner's queue
     * and another peer's holding most of the heap between them.
     */
    public Builder outboundQueueBytes(long bytes) {
      this.outboundQueueBytes = bytes;
      return this;
    }

    /** Defaults 50 ms and 2 s. */
    public Builder reconnectBackoff(Duration min, Duration max) {
      this.reconnectBackoffMin = min;
      this.reconnectBackoffMax = max;
      return this;
    }

    /** Default 2 s. */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = timeout;
      return this;
    }

    /** Default 5 s. */
    public Builder handshakeTimeout(Duration timeout) {
      this.handshakeTimeout = timeout;
      return this;
    }

    /** Default 10 s. */
    public Builder peerTimeout(Duration timeout) {
      this.peerTimeout = timeout;
      return this;
    }

    /** Default: no TLS. */
    public Builder tls(TlsSettings settings) {
      this.tls = settings;
      return this;
    }

    /** Defaults: 1 MiB chunks, 4 unacknowledged, fail after 30 s without progress. */
    public Builder snapshotFlow(int chunkBytes, int window, Duration stallTimeout) {
      this.snapshotChunkBytes = chunkBytes;
      this.snapshotWindow = window;
      this.snapshotStallTimeout = stallTimeout;
      return this;
    }

    /** Default 2. */
    public Builder ioThreads(int threads) {
      this.ioThreads = threads;
      return this;
    }

    /** Validates and builds. */
    public NettyTransportConfig build() {
      return new NettyTransportConfig(nodeId, clusterId, bindAddress, peers, maxFrameBytes,
          outboundQueueLimit, outboundQueueBytes, reconnectBackoffMin, reconnectBackoffMax, connectTimeout,
          handshakeTimeout, peerTimeout, Optional.ofNullable(tls), snapshotChunkBytes, snapshotWindow,
          snapshotStallTimeout, ioThreads);
    }
  }
}
