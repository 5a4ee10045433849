package io.quorumkv.transport;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.HelloAck;
import io.quorumkv.transport.proto.Lane;
import io.quorumkv.transport.proto.Request;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A connection from something that is not a cluster member (the CLI, a benchmark driver) to one
 * node, for opaque requests answered by the node's {@link RequestHandler} (which sees them from
 * {@link RequestHandler#EXTERNAL_CLIENT}). Many requests may be outstanding at once; each
 * carries an id, so answers may come back in any order.
 *
 * <p>A client does not reconnect: when the connection is lost, outstanding and later requests
 * fail with {@link TransportException.Reason#CLOSED} and the caller connects again (perhaps to
 * another node). Thread-safe.
 *
 * <p>A client has an I/O thread of its own unless it is given an {@link IoThread} to share:
 * a process that talks to several nodes should share one, so that an answer arriving on one
 * connection and the next request sent on another are handled by the same thread, without a
 * wake-up of a second one.
 */
public final class TransportClient implements AutoCloseable {

  /** The largest frame a client sends or accepts: the nodes' default. */
  static final int MAX_FRAME_BYTES = 16 * 1024 * 1024;

  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

  /** The I/O thread, shut down by {@link #close()} when it is the client's own. */
  private final EventLoopGroup group;
  private final boolean ownsGroup;
  private final Channel channel;
  private final PendingRequests pending = new PendingRequests();

  private TransportClient(EventLoopGroup group, boolean ownsGroup, Channel channel) {
    this.group = group;
    this.ownsGroup = ownsGroup;
    this.channel = channel;
  }

  /**
   * One Netty I/O thread that any number of {@link TransportClient}s can share (see
   * {@link TransportClient#connect(InetSocketAddress, long, Optional, IoThread)}). Closing it
   * closes the connections of the clients that use it. Thread-safe.
   */
  public static final class IoThread implements AutoCloseable {
    private final EventLoopGroup group;

    private IoThread(EventLoopGroup group) {
      this.group = group;
    }

    /** Starts an I/O thread named {@code name} (a daemon). */
    public static IoThread start(String name) {
      return new IoThread(Wire.newGroup(1, name));
    }

    /**
     * Runs {@code task} on this thread, after whatever it is doing now (reading answers, writing
     * requests). A request sent from the thread itself is written at once, without a hand-off.
     *
     * @throws RejectedExecutionException once the thread is stopped
     */
    public void execute(Runnable task) {
      group.next().execute(task);
    }

    /** Stops the thread; blocks until it has stopped, so never call it from a client callback. */
    @Override
    public void close() {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }
  }

  /** Connects over plain TCP to the node at {@code address} of cluster {@code clusterId}. */
  public static TransportClient connect(InetSocketAddress address, long clusterId) {
    return connect(address, clusterId, Optional.empty());
  }

  /**
   * Connects to the node at {@code address}, over TLS when {@code tls} is present (its
   * certificate is presented to nodes that require client authentication). Blocks until the
   * node has accepted the connection.
   *
   * @throws TransportException with {@link TransportException.Reason#UNREACHABLE} if the node
   *     cannot be reached or refuses the connection (the message says why)
   */
  public static TransportClient connect(InetSocketAddress address, long clusterId,
      Optional<TlsSettings> tls) {
    return connectWith(address, clusterId, tls.map(Tls::client), null);
  }

  /**
   * As {@link #connect(InetSocketAddress, long, Optional)}, on a shared I/O thread: closing the
   * client closes its connection only, the thread goes on serving the others.
   */
  public static TransportClient connect(InetSocketAddress address, long clusterId,
      Optional<TlsSettings> tls, IoThread io) {
    return connectWith(address, clusterId, tls.map(Tls::client), java.util.Objects.requireNonNull(io, "io"));
  }

  /**
   * {@link #connect} with a ready TLS context (tests use one without a certificate), on
   * {@code io}, or on a thread of its own when null.
   */
  static TransportClient connectWith(InetSocketAddress address, long clusterId,
      Optional<SslContext> ssl, IoThread io) {
    boolean own = io == null;
    EventLoopGroup group = own ? Wire.newGroup(1, "quorumkv-client") : io.group;
    CompletableFuture<Channel> ready = new CompletableFuture<>();
    TransportClient[] self = new TransportClient[1];
    Counters counters = new Counters();
    ConnectionHandler.Dialler dialler = new ConnectionHandler.Dialler() {
      @Override
      public Hello hello() {
        return Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
            .setClusterId(clusterId).setNodeId(RequestHandler.EXTERNAL_CLIENT)
            .setLane(Lane.LANE_CLIENT).build();
      }

      @Override
      public Session accepted(Channel ch, HelloAck ack) throws ProtocolViolation {
        if (ack.getClusterId() != clusterId || ack.getProtocolVersion() != Wire.PROTOCOL_VERSION) {
          throw new ProtocolViolation("node answered for cluster " + ack.getClusterId()
              + " protocol " + ack.getProtocolVersion());
        }
        ready.complete(ch);
        return new ClientSession(self);
      }

      @Override
      public void refused(Channel ch, String reason) {
        ready.completeExceptionally(new TransportException(
            TransportException.Reason.UNREACHABLE, "node at " + address + " refused: " + reason));
      }
    };
    Wire.dial(group, address, ssl, MAX_FRAME_BYTES, CONNECT_TIMEOUT, ch -> {},
        () -> ConnectionHandler.dialling("client", counters, dialler, CONNECT_TIMEOUT))
        .addListener(cf -> {
      if (!cf.isSuccess()) {
        ready.completeExceptionally(new TransportException(TransportException.Reason.UNREACHABLE,
            "cannot connect to " + address + ": " + cf.cause().getMessage()));
      } else {
        ((io.netty.channel.ChannelFuture) cf).channel().closeFuture().addListener(x ->
            ready.completeExceptionally(new TransportException(
                TransportException.Reason.UNREACHABLE,
                "connection to " + address + " closed during the handshake")));
      }
    });
    try {
      Channel ch = ready.get(2 * CONNECT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      TransportClient client = new TransportClient(group, own, ch);
      self[0] = client;
      ch.closeFuture().addListener(x -> client.failAll());
      return client;
    } catch (Exception e) {
      if (own) {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      }
      if (e.getCause() instanceof TransportException te) {
        throw te;
      }
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw new TransportException(TransportException.Reason.UNREACHABLE,
          "cannot connect to " + address + ": " + e);
    }
  }

  /**
   * Sends a request. The future fails with {@link java.util.concurrent.TimeoutException} at the deadline, or with a
   * {@link TransportException} (closed connection, handler failure on the node). Never blocks.
   */
  public CompletableFuture<byte[]> request(byte[] payload, Duration deadline) {
    CompletableFuture<byte[]> result = new CompletableFuture<>();
    if (payload.length > MAX_FRAME_BYTES - 64) {
      result.completeExceptionally(new TransportException(TransportException.Reason.TOO_LARGE,
          "request of " + payload.length + " bytes exceeds the frame limit"));
      return result;
    }
    if (!channel.isActive()) {
      result.completeExceptionally(
          new TransportException(TransportException.Reason.CLOSED, "connection closed"));
      return result;
    }
    long id;
    try {
      id = pending.register(result, channel.eventLoop(), deadline, "the node");
    } catch (RejectedExecutionException e) {
      result.completeExceptionally(
          new TransportException(TransportException.Reason.CLOSED, "client closed"));
      return result;
    }
    Wire.send(channel, Frame.newBuilder().setRequest(Request.newBuilder().setId(id)
        .setPayload(RaftCodec.wrap(payload))
        .setTimeoutMillis(Math.max(1, deadline.toMillis()))).build());
    return result;
  }

  /** Whether the connection is still open. */
  public boolean isOpen() {
    return channel.isActive();
  }

  private void failAll() {
    pending.failAll(new TransportException(TransportException.Reason.CLOSED, "connection closed"));
  }

  /**
   * Closes the connection; outstanding requests fail. Blocks until the connection (and the
   * client's own I/O thread, if it has one) has stopped, so it must not be called from a callback
   * of one of its futures.
   */
  @Override
  public void close() {
    if (channel.eventLoop().inEventLoop()) {
      channel.close(); // a shared thread closing one of its clients: cannot wait for itself
    } else {
      channel.close().awaitUninterruptibly();
    }
    if (ownsGroup) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }
  }

  /** Answers arriving on the client's connection. */
  private static final class ClientSession implements Session {
    private final TransportClient[] client;

    ClientSession(TransportClient[] client) {
      this.client = client;
    }

    @Override
    public boolean onFrame(Channel ch, Frame f, ByteBuf raw) throws ProtocolViolation {
      if (f.getBodyCase() != Frame.BodyCase.RESPONSE) {
        throw new ProtocolViolation("unexpected " + f.getBodyCase() + " from a node");
      }
      TransportClient c = client[0];
      if (c != null) {
        c.pending.complete(f.getResponse());
      }
      return false;
    }

    @Override
    public void onClose(Channel ch) {}
  }
}
