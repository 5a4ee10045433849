package io.quorumkv.transport;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.HelloAck;
import io.quorumkv.transport.proto.Refusal;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of every connection: runs the handshake, then hands frames to the
 * connection's {@link Session}. Any bad input (undecodable frame, frame too large, frame
 * unexpected in this state, TLS failure) closes this connection, and only it, with a logged
 * reason; every inbound buffer is released on every path.
 */
final class ConnectionHandler extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(ConnectionHandler.class);

  /** The dialler's half of the handshake. */
  interface Dialler {
    Hello hello();

    /** Checks the acceptor's answer; throw to close the connection. */
    Session accepted(Channel ch, HelloAck ack) throws ProtocolViolation;

    /** The acceptor refused us; the connection closes after this. */
    void refused(Channel ch, String reason);
  }

  /** The acceptor's half of the handshake. */
  @FunctionalInterface
  interface Acceptor {
    /** Checks a Hello; throw to refuse the peer with the exception's message. */
    Session accept(Channel ch, Hello hello) throws ProtocolViolation;
  }

  private final String self;
  private final Counters counters;
  private final Dialler dialler;
  private final Acceptor acceptor;
  private final HelloAck ack;
  private final Duration handshakeTimeout;
  private Session session;
  private ScheduledFuture<?> handshakeTimer;
  private boolean closing;

  private ConnectionHandler(String self, Counters counters, Dialler dialler, Acceptor acceptor,
      HelloAck ack, Duration handshakeTimeout) {
    this.ack = ack;
    this.self = self;
    this.counters = counters;
    this.dialler = dialler;
    this.acceptor = acceptor;
    this.handshakeTimeout = handshakeTimeout;
  }

  static ConnectionHandler dialling(String self, Counters counters, Dialler d, Duration timeout) {
    return new ConnectionHandler(self, counters, d, null, null, timeout);
  }

  static ConnectionHandler accepting(String self, Counters counters, Acceptor a, HelloAck ack,
      Duration timeout) {
    return new ConnectionHandler(self, counters, null, a, ack, timeout);
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    handshakeTimer = ctx.executor().schedule(
        () -> reject(ctx, "no handshake within " + handshakeTimeout.toMillis() + " ms"),
        handshakeTimeout.toMillis(), TimeUnit.MILLISECONDS);
    if (dialler != null) {
      Wire.send(ctx.channel(), Frame.newBuilder().setHello(dialler.hello()).build());
    }
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ByteBuf buf = (ByteBuf) msg;
    boolean kept = false;
    try {
      if (closing) {
        return;
      }
      Frame f;
      try {
        f = Wire.decode(buf);
      } catch (InvalidProtocolBufferException e) {
        throw new ProtocolViolation("malformed frame of " + buf.readableBytes() + " bytes: "
            + e.getMessage());
      }
      if (session != null) {
        kept = session.onFrame(ctx.channel(), f, buf);
      } else {
        handshake(ctx, f);
      }
    } catch (ProtocolViolation v) {
      reject(ctx, v.getMessage());
    } catch (RuntimeException e) {
      log.error("{}: bug while handling a frame from {}", self, ctx.channel().remoteAddress(), e);
      reject(ctx, "internal error: " + e);
    } finally {
      if (!kept) {
        buf.release();
      }
    }
  }

  private void handshake(ChannelHandlerContext ctx, Frame f) throws ProtocolViolation {
    Channel ch = ctx.channel();
    if (acceptor != null) {
      if (f.getBodyCase() != Frame.BodyCase.HELLO) {
        throw new ProtocolViolation("expected a Hello, got " + f.getBodyCase());
      }
      Hello hello = f.getHello();
      try {
        session = acceptor.accept(ch, hello);
      } catch (ProtocolViolation refusal) {
        closing = true;
        counters.framesRejected.increment();
        log.warn("{}: refused connection from {} (node {}, lane {}, protocol {}): {}", self,
            ch.remoteAddress(), hello.getNodeId(), hello.getLane(), hello.getProtocolVersion(),
            refusal.getMessage());
        Wire.sendAndClose(ch, Frame.newBuilder()
            .setRefusal(Refusal.newBuilder().setReason(refusal.getMessage())).build());
        return;
      }
      handshakeTimer.cancel(false);
      Wire.send(ch, Frame.newBuilder().setHelloAck(ack).build());
      return;
    }
    switch (f.getBodyCase()) {
      case REFUSAL -> {
        closing = true;
        dialler.refused(ch, f.getRefusal().getReason());
        ch.close();
      }
      case HELLO_ACK -> {
        session = dialler.accepted(ch, f.getHelloAck());
        handshakeTimer.cancel(false);
      }
      default -> throw new ProtocolViolation("expected a HelloAck, got " + f.getBodyCase());
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closing = true;
    if (handshakeTimer != null) {
      handshakeTimer.cancel(false);
    }
    if (session != null) {
      session.onClose(ctx.channel());
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (session != null && ctx.channel().isWritable()) {
      session.onWritable(ctx.channel());
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof SslHandshakeCompletionEvent e && !e.isSuccess()) {
      reject(ctx, "TLS handshake failed: " + e.cause().getMessage());
    } else if (evt instanceof IdleStateEvent idle && !closing) {
      if (idle.state() == IdleState.READER_IDLE) {
        reject(ctx, "nothing received for " + readerIdleMillis(ctx)
            + " ms: the peer or the path is dead");
      } else if (idle.state() == IdleState.WRITER_IDLE) {
        Wire.send(ctx.channel(), KEEP_ALIVE); // an empty batch: bytes that say "still here"
      }
    }
    ctx.fireUserEventTriggered(evt);
  }

  private static final Frame KEEP_ALIVE =
      Frame.newBuilder().setRaftBatch(io.quorumkv.transport.proto.RaftBatch.getDefaultInstance())
          .build();

  /**
   * Watches a Raft connection for silence: a keep-alive after {@code timeout / 4} without
   * writing, and the connection closed after {@code timeout} without reading.
   */
  static void watchForSilence(Channel ch, Duration timeout) {
    long ms = timeout.toMillis();
    ch.pipeline().addBefore("connection", "idle",
        new IdleStateHandler(ms, Math.max(1, ms / 4), 0, TimeUnit.MILLISECONDS));
  }

  private static long readerIdleMillis(ChannelHandlerContext ctx) {
    IdleStateHandler h = (IdleStateHandler) ctx.pipeline().get("idle");
    return h == null ? 0 : h.getReaderIdleTimeInMillis();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof TooLongFrameException) {
      reject(ctx, "oversized frame: " + cause.getMessage());
    } else if (cause instanceof DecoderException && cause.getCause() instanceof SSLException ssl) {
      reject(ctx, "TLS failure: " + ssl.getMessage());
    } else if (cause instanceof DecoderException) {
      reject(ctx, "undecodable input: " + cause.getMessage());
    } else if (cause instanceof IOException) {
      log.debug("{}: connection {} lost: {}", self, ctx.channel().remoteAddress(), cause.toString());
      closing = true;
      ctx.close();
    } else {
      reject(ctx, "unexpected error: " + cause);
    }
  }

  /** Closes this connection for a reason worth logging. */
  private void reject(ChannelHandlerContext ctx, String reason) {
    if (closing) {
      return;
    }
    closing = true;
    counters.framesRejected.increment();
    log.warn("{}: closing connection {} ({}): {}", self, ctx.channel().remoteAddress(),
        session == null ? "before handshake" : "lane open", reason);
    ctx.close();
  }
}
