package io.quorumkv.transport;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.quorumkv.raft.Message;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.GroupHeartbeat;
import io.quorumkv.transport.proto.GroupHeartbeatResponse;
import io.quorumkv.transport.proto.GroupMessage;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.HelloAck;
import io.quorumkv.transport.proto.Lane;
import io.quorumkv.transport.proto.RaftBatch;
import io.quorumkv.transport.proto.Request;
import io.quorumkv.transport.proto.Response;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link RaftTransport} over TCP: Netty, with protobuf frames.
 *
 * <ul>
 *   <li>One Raft connection per node pair, dialled by the member with the lower id, carrying
 *       every group's messages and the peers' requests; native epoll when available, else NIO.
 *   <li>Each frame is a 4-byte length and a protobuf {@code Frame}, at most
 *       {@link NettyTransportConfig#maxFrameBytes()}; a connection sending anything malformed,
 *       oversized or unexpected is closed with a logged reason, and only that connection.
 *   <li>Outbound messages wait in a bounded queue per peer and are written in batches, one
 *       flush per event-loop turn; all groups' heartbeats to a peer share one frame per flush.
 *       When the queue is full, or the peer is not connected, messages are dropped and counted.
 *   <li>Lost connections are redialled with exponential backoff and jitter.
 *   <li>Each snapshot transfer has a connection of its own, so it never queues ahead of
 *       heartbeats; see {@link #sendSnapshot}.
 *   <li>A handshake carries the protocol version and cluster id; a peer with another of either is
 *       refused, and both sides log why. TLS and mutual TLS are optional.
 * </ul>
 *
 * <p>Handlers run on the Netty event-loop threads: they must not block.
 */
public final class NettyTransport implements RaftTransport {

  private static final Logger log = LoggerFactory.getLogger(NettyTransport.class);

  private final NettyTransportConfig config;
  private final int protocolVersion;
  private final String name;
  private final Counters counters = new Counters();
  private final LinkFaults faults = new LinkFaults(() -> ThreadLocalRandom.current().nextDouble());
  private final EventLoopGroup group;
  /** Runs the snapshot connections this node dials, so their bulk never delays a Raft lane. */
  private final EventLoopGroup snapshotGroup;
  private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final Map<Long, Peer> peers = new ConcurrentHashMap<>();
  private final Optional<SslContext> serverTls;
  private final Optional<SslContext> clientTls;
  private final ExecutorService snapshotIo;
  private final SnapshotInbox inbox;
  private final Set<SnapshotSender> senders = ConcurrentHashMap.newKeySet();
  private volatile MessageHandler messageHandler = (from, group, m) -> {};
  private volatile RequestHandler requestHandler = (from, payload) ->
      CompletableFuture.failedFuture(new IllegalStateException("no request handler on this node"));
  private volatile SnapshotReceiver snapshotReceiver = (from, group, m) -> {
    throw new IOException("no snapshot receiver on this node");
  };
  private volatile Channel server;
  private volatile boolean started;
  private volatile boolean closed;

  /** A transport for {@code config}; call {@link #start()} to listen and dial. */
  public NettyTransport(NettyTransportConfig config) {
    this(config, Wire.PROTOCOL_VERSION);
  }

  /** With another protocol version announced, to test that peers refuse it. */
  NettyTransport(NettyTransportConfig config, int protocolVersion) {
    this.config = Objects.requireNonNull(config, "config");
    this.protocolVersion = protocolVersion;
    this.name = "node " + config.nodeId();
    this.serverTls = config.tls().map(Tls::server);
    this.clientTls = config.tls().map(Tls::client);
    this.group = Wire.newGroup(config.ioThreads(), "quorumkv-io-" + config.nodeId());
    this.snapshotGroup = Wire.newGroup(1, "quorumkv-snapshot-io-" + config.nodeId());
    this.snapshotIo = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "quorumkv-snapshot-" + config.nodeId());
      t.setDaemon(true);
      return t;
    });
    this.inbox = new SnapshotInbox(this);
    config.peers().forEach((id, address) -> {
      if (id != config.nodeId()) {
        peers.put(id, new Peer(id, address, config.nodeId() < id, group.next(), this));
      }
    });
  }

  @Override
  public void start() {
    if (closed) {
      throw new IllegalStateException(name + ": transport is closed");
    }
    ServerBootstrap b = new ServerBootstrap().group(group).channel(Wire.serverChannelClass())
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            track(ch);
            Wire.initPipeline(ch, serverTls, null, config.maxFrameBytes(),
                ConnectionHandler.accepting(name, counters, NettyTransport.this::accept,
                    ack(), config.handshakeTimeout()));
          }
        });
    Wire.configure(b);
    try {
      server = b.bind(config.bindAddress()).sync().channel();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(name + ": interrupted while binding", e);
    } catch (Exception e) {
      throw new IllegalStateException(
          name + ": cannot listen on " + config.bindAddress() + ": " + e.getMessage(), e);
    }
    log.info("{}: listening on {} ({}, {}), cluster {}, protocol {}", name, localAddress(),
        Wire.ioKind(), serverTls.isPresent() ? "TLS" : "plain TCP", config.clusterId(),
        protocolVersion);
    started = true;
    peers.values().stream().filter(p -> p.dialler).forEach(p -> p.loop.execute(p::connect));
  }

  /**
   * Adds a member, or changes the address of one, after a membership change; the configured
   * {@link NettyTransportConfig#peers()} are only the initial members. Takes effect at once (a
   * changed address drops the connection to the old one). Safe from any thread.
   */
  public void setPeer(long nodeId, InetSocketAddress address) {
    if (nodeId <= 0 || nodeId == config.nodeId()) {
      throw new IllegalArgumentException(name + ": cannot add node " + nodeId + " as a peer");
    }
    Objects.requireNonNull(address, "address");
    Peer fresh = new Peer(nodeId, address, config.nodeId() < nodeId, group.next(), this);
    Peer old = peers.put(nodeId, fresh);
    if (old != null) {
      old.remove();
    }
    if (started && fresh.dialler) {
      fresh.loop.execute(fresh::connect);
    }
  }

  /**
   * Forgets a member removed from the cluster: closes its connection, fails its pending
   * requests, and from now on drops its messages and refuses its connections.
   */
  public void removePeer(long nodeId) {
    Peer old = peers.remove(nodeId);
    if (old != null) {
      old.remove();
    }
  }

  /** The address the transport listens on (useful when the configured port was 0). */
  public InetSocketAddress localAddress() {
    Channel s = server;
    if (s == null) {
      throw new IllegalStateException(name + ": not started");
    }
    return (InetSocketAddress) s.localAddress();
  }

  @Override
  public long nodeId() {
    return config.nodeId();
  }

  /**
   * {@inheritDoc}
   *
   * @throws NullPointerException if {@code m} is null: a bug in the caller, not a network fault
   */
  @Override
  public void send(long toNode, long groupId, Message m) {
    Objects.requireNonNull(m, "m");
    Peer peer = peerToSend(toNode);
    if (peer != null) {
      queue(peer, groupId, m);
      peer.drainSoon();
    }
  }

  /** Queues them all, then schedules the peer's connection to write them: one frame, one wake-up. */
  @Override
  public void send(long toNode, List<Envelope> messages) {
    Peer peer = peerToSend(toNode);
    if (peer != null) {
      for (Envelope e : messages) {
        queue(peer, e.groupId(), e.message());
      }
      peer.drainSoon();
    }
  }

  /** The peer to send to, or null (counted as unreachable) when unknown or closed. */
  private Peer peerToSend(long toNode) {
    Peer peer = peers.get(toNode);
    if (peer == null || closed) {
      counters.droppedUnreachable.increment();
      return null;
    }
    return peer;
  }

  /** Queues {@code m} on {@code peer} as the link's faults decide, without scheduling a write. */
  private void queue(Peer peer, long groupId, Message m) {
    LinkFaults.Fate fate = faults.fate(config.nodeId(), peer.id);
    if (fate.drop()) {
      counters.droppedByFault.increment();
      return;
    }
    for (int copy = 0; copy < fate.copies(); copy++) {
      if (fate.delayNanos() == 0) {
        peer.enqueue(groupId, m);
        continue;
      }
      try {
        peer.loop.schedule(() -> {
          peer.enqueue(groupId, m);
          peer.drainSoon();
        }, fate.delayNanos(), TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        counters.droppedUnreachable.increment(); // closing
      }
    }
  }

  @Override
  public void setMessageHandler(MessageHandler handler) {
    this.messageHandler = Objects.requireNonNull(handler, "handler");
  }

  @Override
  public CompletableFuture<byte[]> request(long toNode, byte[] payload, Duration deadline) {
    Peer peer = peers.get(toNode);
    if (peer == null || closed) {
      return CompletableFuture.failedFuture(new TransportException(
          closed ? TransportException.Reason.CLOSED : TransportException.Reason.UNREACHABLE,
          closed ? "transport closed" : "node " + toNode + " is not a known peer"));
    }
    return peer.request(payload, deadline, faults.fate(config.nodeId(), toNode));
  }

  @Override
  public void setRequestHandler(RequestHandler handler) {
    this.requestHandler = Objects.requireNonNull(handler, "handler");
  }

  /**
   * {@inheritDoc}
   *
   * <p>Here the transfer dials a connection of its own to the peer and keeps at most
   * {@link NettyTransportConfig#snapshotWindow()} chunks of
   * {@link NettyTransportConfig#snapshotChunkBytes()} unacknowledged, each with its CRC32C. A
   * chunk failing its check, or a lost connection, makes the sender redial and resume at the
   * last acknowledged offset. The transfer fails after
   * {@link NettyTransportConfig#snapshotStallTimeout()} without progress.
   */
  @Override
  public CompletableFuture<Void> sendSnapshot(
      long toNode, long groupId, Message.InstallSnapshot message, SnapshotChunkSource source) {
    Peer peer = peers.get(toNode);
    if (peer == null || closed) {
      try {
        source.close();
      } catch (IOException e) {
        log.debug("closing snapshot source", e);
      }
      return CompletableFuture.failedFuture(new TransportException(
          closed ? TransportException.Reason.CLOSED : TransportException.Reason.UNREACHABLE,
          closed ? "transport closed" : "node " + toNode + " is not a known peer"));
    }
    SnapshotSender sender = new SnapshotSender(this, peer, groupId, message, source);
    senders.add(sender);
    CompletableFuture<Void> result = sender.start();
    result.whenComplete((ok, error) -> senders.remove(sender));
    if (closed) {
      sender.abort(); // close() may have run before the sender was registered
    }
    return result;
  }

  @Override
  public void setSnapshotReceiver(SnapshotReceiver receiver) {
    this.snapshotReceiver = Objects.requireNonNull(receiver, "receiver");
  }

  @Override
  public FaultInjector faults() {
    return faults;
  }

  @Override
  public TransportMetrics metrics() {
    return counters.snapshot();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Channel s = server;
    if (s != null) {
      s.close().awaitUninterruptibly();
    }
    channels.close().awaitUninterruptibly();
    peers.values().forEach(Peer::failPending);
    senders.forEach(SnapshotSender::abort);
    inbox.abortAll();
    // Let queued snapshot tasks run out (they see the transfer ended and release their buffers).
    snapshotIo.shutdown();
    try {
      if (!snapshotIo.awaitTermination(5, TimeUnit.SECONDS)) {
        log.warn("{}: a snapshot source or sink is still busy after 5 s; abandoning it", name);
        snapshotIo.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      snapshotIo.shutdownNow();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    snapshotGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    log.info("{}: transport closed", name);
  }

  // ---- package-private plumbing for Peer, sessions and snapshots ----

  NettyTransportConfig config() {
    return config;
  }

  Counters counters() {
    return counters;
  }

  String name() {
    return name;
  }

  boolean isClosed() {
    return closed;
  }

  LinkFaults linkFaults() {
    return faults;
  }

  /** The event loop for a new outbound snapshot transfer (its connection and timers). */
  EventLoop snapshotLoop() {
    return snapshotGroup.next();
  }

  ExecutorService snapshotIo() {
    return snapshotIo;
  }

  SnapshotReceiver snapshotReceiver() {
    return snapshotReceiver;
  }

  /** The peer {@code nodeId}, or null (for tests). */
  Peer peer(long nodeId) {
    return peers.get(nodeId);
  }

  @Override
  public long entryBytesAccepted(long toNode) {
    Peer p = peers.get(toNode);
    return p == null ? Long.MAX_VALUE : p.entryBytesAccepted(); // an unknown peer: dropped anyway
  }

  /**
   * Whether the Raft connection to the peer {@code nodeId} is up (false for a node that is not a
   * peer). A member that removed this node neither dials it nor accepts its connections.
   */
  public boolean isConnected(long nodeId) {
    Peer p = peers.get(nodeId);
    return p != null && p.isConnected();
  }

  /** Closes {@code ch} with the transport. */
  void track(Channel ch) {
    channels.add(ch);
    if (closed) {
      ch.close();
    }
  }

  /** Dials {@code address} on {@code loop} with this node's TLS, limits and handshake. */
  ChannelFuture dial(EventLoop loop, InetSocketAddress address, ConnectionHandler.Dialler d) {
    return Wire.dial(loop, address, clientTls, config.maxFrameBytes(), config.connectTimeout(),
        this::track,
        () -> ConnectionHandler.dialling(name, counters, d, config.handshakeTimeout()));
  }

  Hello hello(Lane lane) {
    return Hello.newBuilder().setProtocolVersion(protocolVersion)
        .setClusterId(config.clusterId()).setNodeId(config.nodeId()).setLane(lane).build();
  }

  /** Checks the acceptor's answer to our Hello (and its certificate, if identities are on). */
  void checkAck(Channel ch, HelloAck ack, long expectedNode) throws ProtocolViolation {
    if (ack.getProtocolVersion() != protocolVersion) {
      throw new ProtocolViolation("node " + ack.getNodeId() + " answered with protocol version "
          + ack.getProtocolVersion() + "; this node speaks " + protocolVersion);
    }
    if (ack.getClusterId() != config.clusterId()) {
      throw new ProtocolViolation("node " + ack.getNodeId() + " belongs to cluster "
          + ack.getClusterId() + ", not this node's cluster " + config.clusterId());
    }
    if (ack.getNodeId() != expectedNode) {
      throw new ProtocolViolation(
          "the peer answered as node " + ack.getNodeId() + ", expected node " + expectedNode);
    }
    checkIdentity(ch, expectedNode);
  }

  private void checkIdentity(Channel ch, long nodeId) throws ProtocolViolation {
    if (config.tls().map(TlsSettings::requireNodeIdentity).orElse(false)) {
      Tls.checkIdentity(ch, nodeId);
    }
  }

  /** The acceptor's side of every handshake: who may connect, on which lane. */
  private Session accept(Channel ch, Hello hello) throws ProtocolViolation {
    if (hello.getProtocolVersion() != protocolVersion) {
      throw new ProtocolViolation("protocol version " + hello.getProtocolVersion()
          + " is not supported; this node speaks " + protocolVersion);
    }
    if (hello.getClusterId() != config.clusterId()) {
      throw new ProtocolViolation("cluster id " + hello.getClusterId()
          + " does not match this node's cluster " + config.clusterId());
    }
    long from = hello.getNodeId();
    switch (hello.getLane()) {
      case LANE_RAFT -> {
        Peer peer = peers.get(from);
        if (peer == null) {
          throw new ProtocolViolation("node " + from + " is not a member known to this node");
        }
        if (peer.dialler) {
          throw new ProtocolViolation("node " + from + " has the higher id: this node dials it");
        }
        checkIdentity(ch, from);
        peer.attach(ch);
        return new RaftSession(this, peer, ch);
      }
      case LANE_SNAPSHOT -> {
        if (!peers.containsKey(from)) {
          throw new ProtocolViolation("node " + from + " is not a member known to this node");
        }
        checkIdentity(ch, from);
        return inbox.session(from);
      }
      case LANE_CLIENT -> {
        return new ClientSession();
      }
      default -> throw new ProtocolViolation("unknown lane " + hello.getLane());
    }
  }

  HelloAck ack() {
    return HelloAck.newBuilder().setProtocolVersion(protocolVersion)
        .setClusterId(config.clusterId()).setNodeId(config.nodeId()).build();
  }

  /** Hands a batch's messages to the handler, on the event loop. */
  void deliver(long fromNode, RaftBatch batch) throws ProtocolViolation {
    if (faults.isBlocked(fromNode, config.nodeId())) {
      counters.droppedByFault.add(batch.getMessagesCount()
          + batch.getHeartbeats().getHeartbeatsCount() + batch.getHeartbeats().getResponsesCount());
      return;
    }
    List<Envelope> messages = new ArrayList<>(batch.getMessagesCount()
        + batch.getHeartbeats().getHeartbeatsCount() + batch.getHeartbeats().getResponsesCount());
    for (GroupMessage g : batch.getMessagesList()) {
      Message m;
      try {
        m = RaftCodec.fromProto(g.getMessage());
      } catch (RaftCodec.MalformedMessageException | IllegalArgumentException e) {
        throw new ProtocolViolation("invalid Raft message for group " + g.getGroupId() + ": "
            + e.getMessage());
      }
      messages.add(new Envelope(g.getGroupId(), m));
    }
    for (GroupHeartbeat h : batch.getHeartbeats().getHeartbeatsList()) {
      messages.add(new Envelope(h.getGroupId(), RaftCodec.fromProto(h)));
    }
    for (GroupHeartbeatResponse r : batch.getHeartbeats().getResponsesList()) {
      messages.add(new Envelope(r.getGroupId(), RaftCodec.fromProto(r)));
    }
    handle(fromNode, messages);
  }

  /** Hands one frame's messages (or a snapshot's closing message) to the handler. */
  void handle(long fromNode, List<Envelope> messages) {
    if (messages.isEmpty()) {
      return;
    }
    counters.messagesReceived.add(messages.size());
    try {
      messageHandler.onMessages(fromNode, messages);
    } catch (RuntimeException e) {
      log.warn("{}: message handler failed on {} messages from node {}", name, messages.size(),
          fromNode, e);
    }
  }

  /** Runs the request handler and answers on {@code ch}, unless the caller's deadline passed. */
  void serve(Channel ch, long fromNode, Request request) {
    if (fromNode != RequestHandler.EXTERNAL_CLIENT
        && faults.isBlocked(fromNode, config.nodeId())) {
      counters.droppedByFault.increment();
      return;
    }
    long id = request.getId();
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(request.getTimeoutMillis());
    byte[] payload = request.getPayload().toByteArray();
    CompletableFuture<byte[]> answer = Requests.invoke(requestHandler, fromNode, payload);
    answer.whenComplete((response, error) -> {
      if (!ch.isActive() || System.nanoTime() - deadline > 0) {
        return; // the caller has given up
      }
      Response.Builder r = Response.newBuilder().setId(id);
      if (error != null) {
        r.setError(Requests.errorText(error));
      } else if (response == null) {
        r.setError("request handler completed with null");
      } else if (response.length > config.maxFrameBytes() - 64) {
        r.setError("response of " + response.length + " bytes exceeds the frame limit");
      } else {
        r.setPayload(RaftCodec.wrap(response));
      }
      if (fromNode != RequestHandler.EXTERNAL_CLIENT
          && faults.fate(config.nodeId(), fromNode).drop()) {
        counters.droppedByFault.increment();
        return;
      }
      Responder.of(ch).send(Frame.newBuilder().setResponse(r).build());
    });
  }

  /** A client's lane: requests only. */
  private final class ClientSession implements Session {
    @Override
    public boolean onFrame(Channel ch, Frame f, io.netty.buffer.ByteBuf raw)
        throws ProtocolViolation {
      if (f.getBodyCase() != Frame.BodyCase.REQUEST) {
        throw new ProtocolViolation("unexpected " + f.getBodyCase() + " on a client lane");
      }
      serve(ch, RequestHandler.EXTERNAL_CLIENT, f.getRequest());
      return false;
    }

    @Override
    public void onClose(Channel ch) {}
  }
}
