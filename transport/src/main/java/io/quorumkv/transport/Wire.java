package io.quorumkv.transport;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.quorumkv.transport.proto.Frame;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The framing shared by nodes and clients: a 4-byte length, then one protobuf {@link Frame};
 * plus the Netty plumbing every connection uses (epoll when available, else NIO).
 */
final class Wire {

  /** The protocol this code speaks; a peer announcing another one is refused. */
  static final int PROTOCOL_VERSION = 1;

  static final int LENGTH_BYTES = 4;

  /** Outbound bytes queued in Netty above which a connection reports itself unwritable. */
  private static final WriteBufferWaterMark WATER_MARK =
      new WriteBufferWaterMark(1024 * 1024, 4 * 1024 * 1024);

  private static final boolean EPOLL = Epoll.isAvailable();

  private Wire() {}

  /** Serialises {@code f} into a new buffer, length first. */
  static ByteBuf encode(ByteBufAllocator alloc, Frame f) {
    int size = f.getSerializedSize();
    ByteBuf buf = alloc.ioBuffer(LENGTH_BYTES + size);
    try {
      buf.writeInt(size);
      CodedOutputStream out = CodedOutputStream.newInstance(buf.nioBuffer(buf.writerIndex(), size));
      f.writeTo(out);
      out.checkNoSpaceLeft();
      buf.writerIndex(buf.writerIndex() + size);
      return buf;
    } catch (IOException | RuntimeException e) {
      buf.release();
      throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
    }
  }

  /** Writes {@code f} to {@code ch} and flushes (coalesced per event-loop turn). */
  static void send(Channel ch, Frame f) {
    ch.writeAndFlush(encode(ch.alloc(), f), ch.voidPromise());
  }

  /** Writes {@code f}, flushes, then closes the channel. */
  static void sendAndClose(Channel ch, Frame f) {
    ch.writeAndFlush(encode(ch.alloc(), f)).addListener(ChannelFutureListener.CLOSE);
  }

  /**
   * Parses one frame (the length already stripped). Byte fields alias {@code payload}: they are
   * valid only while it is not released.
   */
  static Frame decode(ByteBuf payload) throws InvalidProtocolBufferException {
    ByteBuffer nio = payload.nioBufferCount() == 1
        ? payload.nioBuffer()
        : ByteBuffer.wrap(io.netty.buffer.ByteBufUtil.getBytes(payload));
    // Only a CodedInputStream over an "immutable" buffer aliases; a wrapped ByteString is one.
    CodedInputStream in = UnsafeByteOperations.unsafeWrap(nio).newCodedInput();
    in.enableAliasing(true);
    try {
      Frame f = Frame.parseFrom(in);
      in.checkLastTagWas(0);
      return f;
    } catch (InvalidProtocolBufferException e) {
      throw e;
    } catch (IOException e) { // no I/O here: the bytes are all in memory
      throw new InvalidProtocolBufferException(e);
    }
  }

  /** Installs TLS (if any), flush coalescing, framing and {@code handler} on a new channel. */
  static void initPipeline(Channel ch, Optional<SslContext> ssl, InetSocketAddress peer,
      int maxFrameBytes, ConnectionHandler handler) {
    ssl.ifPresent(ctx -> ch.pipeline().addLast("tls", peer == null
        ? ctx.newHandler(ch.alloc())
        : ctx.newHandler(ch.alloc(), peer.getHostString(), peer.getPort())));
    // One flush per event-loop turn, however many writeAndFlush calls were made in it.
    ch.pipeline().addLast("flush", new FlushConsolidationHandler(256, true));
    ch.pipeline().addLast("frames",
        new LengthFieldBasedFrameDecoder(maxFrameBytes + LENGTH_BYTES, 0, LENGTH_BYTES, 0,
            LENGTH_BYTES));
    ch.pipeline().addLast("connection", handler);
  }

  static EventLoopGroup newGroup(int threads, String name) {
    DefaultThreadFactory f = new DefaultThreadFactory(name, true);
    return EPOLL ? new EpollEventLoopGroup(threads, f) : new NioEventLoopGroup(threads, f);
  }

  static Class<? extends Channel> channelClass() {
    return EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
  }

  static Class<? extends ServerChannel> serverChannelClass() {
    return EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
  }

  /** "epoll" or "nio". */
  static String ioKind() {
    return EPOLL ? "epoll" : "nio";
  }

  /**
   * Dials {@code address}: a connection with the standard pipeline, {@code onInit} called on
   * the new channel first (to track it), then {@code handler} as its last handler.
   */
  static ChannelFuture dial(EventLoopGroup group, InetSocketAddress address,
      Optional<SslContext> ssl, int maxFrameBytes, Duration connectTimeout,
      Consumer<Channel> onInit, Supplier<ConnectionHandler> handler) {
    Bootstrap b = new Bootstrap().group(group).channel(channelClass())
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            onInit.accept(ch);
            initPipeline(ch, ssl, address, maxFrameBytes, handler.get());
          }
        })
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis());
    return b.connect(address);
  }

  static void configure(io.netty.bootstrap.ServerBootstrap b) {
    b.childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.SO_KEEPALIVE, true)
        .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
        .option(ChannelOption.SO_REUSEADDR, true);
  }
}
