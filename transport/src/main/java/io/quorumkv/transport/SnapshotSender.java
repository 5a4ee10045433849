package io.quorumkv.transport;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.quorumkv.raft.Message;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.HelloAck;
import io.quorumkv.transport.proto.Lane;
import io.quorumkv.transport.proto.SnapshotAbort;
import io.quorumkv.transport.proto.SnapshotOffer;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sending side of one snapshot transfer, on a connection of its own.
 *
 * <p>Flow control is credit-based: at most {@code snapshotWindow} chunks are sent and not yet
 * acknowledged, so neither side ever holds more than that many chunks. The source is read on
 * the snapshot pool, never on an event loop. After a lost connection the sender redials (with
 * backoff) and offers the same transfer id; the receiver answers with the offset it has, and the
 * stream resumes there.
 */
final class SnapshotSender implements Session {

  private static final Logger log = LoggerFactory.getLogger(SnapshotSender.class);

  private final NettyTransport transport;
  private final Peer peer;
  private final long groupId;
  private final Message.InstallSnapshot message;
  private final SnapshotChunkSource source;
  private final long transferId = ThreadLocalRandom.current().nextLong() | 1;
  private final CompletableFuture<Void> result = new CompletableFuture<>();
  private final SerialExecutor reads;
  /** Connection and timers of this transfer: never a Raft lane's loop. */
  private final EventLoop loop;
  private final int window;
  private final int chunkBytes;

  // Guarded by this.
  private Channel channel;
  private long nextToSend;
  private int inflight;
  private boolean lastSent;
  private boolean finished;
  private int attempts;
  private long lastProgressNanos;
  private ScheduledFuture<?> watchdog;

  SnapshotSender(NettyTransport transport, Peer peer, long groupId,
      Message.InstallSnapshot message, SnapshotChunkSource source) {
    this.transport = transport;
    this.peer = peer;
    this.groupId = groupId;
    this.message = message;
    this.source = source;
    this.reads = new SerialExecutor(transport.snapshotIo());
    this.loop = transport.snapshotLoop();
    this.window = transport.config().snapshotWindow();
    this.chunkBytes = transport.config().snapshotChunkBytes();
  }

  CompletableFuture<Void> start() {
    long period = Math.max(10, transport.config().snapshotStallTimeout().toMillis() / 10);
    synchronized (this) {
      lastProgressNanos = System.nanoTime();
      try {
        watchdog = loop.scheduleAtFixedRate(this::watch, period, period,
            TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException e) {
        finished = true;
      }
    }
    if (watchdog == null) {
      closeSource();
      result.completeExceptionally(
          new TransportException(TransportException.Reason.CLOSED, "transport closed"));
      return result;
    }
    try {
      loop.execute(this::dial);
    } catch (RejectedExecutionException e) {
      abort();
    }
    return result;
  }

  private void dial() {
    synchronized (this) {
      if (finished) {
        return;
      }
    }
    if (transport.isClosed()) {
      abort();
      return;
    }
    transport.dial(loop, peer.address, new Dialler()).addListener((ChannelFuture cf) -> {
      if (cf.isSuccess()) {
        cf.channel().closeFuture().addListener(x -> redialLater());
      } else {
        redialLater();
      }
    });
  }

  private void redialLater() {
    long delay;
    synchronized (this) {
      channel = null;
      if (finished) {
        return;
      }
      delay = Peer.backoffNanos(attempts, transport.config().reconnectBackoffMin(),
          transport.config().reconnectBackoffMax());
      attempts = Math.min(attempts + 1, 30);
    }
    log.info("{}: snapshot transfer {} to node {} has no connection; redialling to resume",
        transport.name(), Long.toHexString(transferId), peer.id);
    try {
      loop.schedule(this::dial, delay, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      fail(TransportException.Reason.CLOSED, "transport closed");
    }
  }

  private final class Dialler implements ConnectionHandler.Dialler {
    @Override
    public Hello hello() {
      return transport.hello(Lane.LANE_SNAPSHOT);
    }

    @Override
    public Session accepted(Channel ch, HelloAck ack) throws ProtocolViolation {
      transport.checkAck(ch, ack, peer.id);
      synchronized (SnapshotSender.this) {
        channel = ch;
        attempts = 0;
      }
      Wire.send(ch, Frame.newBuilder().setSnapshotOffer(SnapshotOffer.newBuilder()
          .setTransferId(transferId).setGroupId(groupId)
          .setMessage(RaftCodec.toProto(message))).build());
      return SnapshotSender.this;
    }

    @Override
    public void refused(Channel ch, String reason) {
      log.warn("{}: node {} refused snapshot connection: {}", transport.name(), peer.id, reason);
      fail(TransportException.Reason.UNREACHABLE, "node " + peer.id + " refused: " + reason);
    }
  }

  @Override
  public boolean onFrame(Channel ch, Frame f, ByteBuf raw) throws ProtocolViolation {
    switch (f.getBodyCase()) {
      case SNAPSHOT_ACCEPT -> {
        checkId(f.getSnapshotAccept().getTransferId());
        synchronized (this) {
          nextToSend = f.getSnapshotAccept().getNextOffset();
          inflight = 0;
          lastSent = false;
          lastProgressNanos = System.nanoTime();
        }
        pump();
      }
      case SNAPSHOT_ACK -> {
        checkId(f.getSnapshotAck().getTransferId());
        if (f.getSnapshotAck().getDone()) {
          finish(null, false);
          return false;
        }
        synchronized (this) {
          inflight = Math.max(0, inflight - 1);
          lastProgressNanos = System.nanoTime();
        }
        pump();
      }
      case SNAPSHOT_ABORT -> {
        checkId(f.getSnapshotAbort().getTransferId());
        finish(new TransportException(TransportException.Reason.REMOTE_ERROR,
            "node " + peer.id + " aborted the snapshot: " + f.getSnapshotAbort().getReason()),
            false);
      }
      default -> throw new ProtocolViolation("unexpected " + f.getBodyCase()
          + " on a snapshot lane");
    }
    return false;
  }

  private void checkId(long id) throws ProtocolViolation {
    if (id != transferId) {
      throw new ProtocolViolation("answer for snapshot transfer " + Long.toHexString(id)
          + " on the lane of transfer " + Long.toHexString(transferId));
    }
  }

  @Override
  public void onClose(Channel ch) {
    // The close-future listener of dial() redials.
  }

  private void pump() {
    try {
      reads.execute(this::pumpNow);
    } catch (RejectedExecutionException e) {
      fail(TransportException.Reason.CLOSED, "transport closed");
    }
  }

  /** Sends chunks while credit lasts; runs on the snapshot pool, one call at a time. */
  private void pumpNow() {
    for (int i = 0; i < window; i++) {
      Channel ch;
      long offset;
      synchronized (this) {
        ch = channel;
        if (finished || ch == null || !ch.isActive() || inflight >= window || lastSent
            || transport.linkFaults().isBlocked(transport.nodeId(), peer.id)) {
          return;
        }
        offset = nextToSend;
      }
      SnapshotChunk chunk;
      try {
        chunk = source.read(offset, chunkBytes);
      } catch (IOException | RuntimeException e) {
        fail(TransportException.Reason.REMOTE_ERROR,
            "reading the snapshot source at offset " + offset + " failed: " + e);
        return;
      }
      if (chunk.offset() != offset || chunk.data().length > chunkBytes) {
        fail(TransportException.Reason.REMOTE_ERROR, "snapshot source returned "
            + chunk.data().length + " bytes at offset " + chunk.offset() + " for a read of "
            + chunkBytes + " at " + offset);
        return;
      }
      CRC32C crc = new CRC32C();
      crc.update(chunk.data());
      Frame frame = Frame.newBuilder().setSnapshotChunk(
          io.quorumkv.transport.proto.SnapshotChunk.newBuilder()
              .setTransferId(transferId).setOffset(offset).setData(RaftCodec.wrap(chunk.data()))
              .setCrc32C((int) crc.getValue()).setLast(chunk.last())).build();
      synchronized (this) {
        if (ch != channel || nextToSend != offset || finished) {
          return; // reconnected meanwhile: the new Accept restarts the pump
        }
        nextToSend += chunk.data().length;
        inflight++;
        lastSent = chunk.last();
      }
      Wire.send(ch, frame);
      transport.counters().snapshotChunksSent.increment();
    }
    pump(); // more credit may remain: yield the pool thread between bursts
  }

  private void watch() {
    long idle;
    synchronized (this) {
      if (finished) {
        return;
      }
      idle = System.nanoTime() - lastProgressNanos;
    }
    if (idle > transport.config().snapshotStallTimeout().toNanos()) {
      fail(TransportException.Reason.UNREACHABLE, "snapshot transfer to node " + peer.id
          + " made no progress for " + transport.config().snapshotStallTimeout().toMillis()
          + " ms");
    } else {
      pump(); // in case a fault rule stopped it and has been lifted
    }
  }

  /** The transport is closing. */
  void abort() {
    fail(TransportException.Reason.CLOSED, "transport closed");
  }

  private void fail(TransportException.Reason reason, String why) {
    finish(new TransportException(reason, why), true);
  }

  /** Ends the transfer; on failure, {@code tellReceiver} makes the receiver discard its part. */
  private void finish(TransportException error, boolean tellReceiver) {
    Channel ch;
    synchronized (this) {
      if (finished) {
        return;
      }
      finished = true;
      ch = channel;
      channel = null;
      if (watchdog != null) {
        watchdog.cancel(false);
      }
    }
    if (ch != null) {
      if (error != null && tellReceiver) {
        Wire.sendAndClose(ch, Frame.newBuilder().setSnapshotAbort(SnapshotAbort.newBuilder()
            .setTransferId(transferId).setReason(error.getMessage())).build());
      } else {
        ch.close();
      }
    }
    closeSource();
    if (error == null) {
      log.info("{}: snapshot for group {} delivered to node {}", transport.name(), groupId,
          peer.id);
      result.complete(null);
    } else {
      log.warn("{}: snapshot for group {} to node {} failed: {}", transport.name(), groupId,
          peer.id, error.getMessage());
      result.completeExceptionally(error);
    }
  }

  /** Closes the source after any read in progress (reads run on {@link #reads}). */
  private void closeSource() {
    Runnable close = () -> {
      try {
        source.close();
      } catch (IOException | RuntimeException e) {
        log.debug("closing snapshot source", e);
      }
    };
    try {
      reads.execute(close);
    } catch (RejectedExecutionException e) {
      close.run(); // the pool is down: no read can be running
    }
  }
}
