package io.quorumkv.transport;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.quorumkv.raft.Message;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.SnapshotAbort;
import io.quorumkv.transport.proto.SnapshotAccept;
import io.quorumkv.transport.proto.SnapshotAck;
import io.quorumkv.transport.proto.SnapshotOffer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The receiving side of snapshot transfers. A transfer outlives its connection for
 * {@code snapshotStallTimeout}, so that a sender that reconnects resumes where the sink is; all
 * work on one transfer (opening the sink, checking and writing chunks) runs in order on the
 * snapshot pool, never on an event loop.
 */
final class SnapshotInbox {

  private static final Logger log = LoggerFactory.getLogger(SnapshotInbox.class);

  /** How many finished transfer ids are remembered, to answer a late re-offer with "done". */
  private static final int COMPLETED_MEMORY = 256;

  private record Key(long fromNode, long transferId) {}

  /** One inbound transfer; its fields are confined to {@link #serial}. */
  private final class Transfer {
    final Key key;
    final long groupId;
    final Message.InstallSnapshot message;
    final SerialExecutor serial;
    SnapshotChunkSink sink;
    long next;
    Channel channel;
    boolean ended;

    Transfer(Key key, long groupId, Message.InstallSnapshot message) {
      this.key = key;
      this.groupId = groupId;
      this.message = message;
      this.serial = new SerialExecutor(transport.snapshotIo());
    }

    /** Ends the transfer for good, discarding what the sink has. */
    void abort(Throwable cause) {
      if (ended) {
        return;
      }
      ended = true;
      active.remove(key, this);
      if (sink != null) {
        sink.abort(cause);
      }
    }
  }

  private final NettyTransport transport;
  private final Map<Key, Transfer> active = new ConcurrentHashMap<>();
  private final Set<Key> completed = Collections.newSetFromMap(Collections.synchronizedMap(
      new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Boolean> eldest) {
          return size() > COMPLETED_MEMORY;
        }
      }));

  SnapshotInbox(NettyTransport transport) {
    this.transport = transport;
  }

  Session session(long fromNode) {
    return new Lane(fromNode);
  }

  /** Aborts every transfer, each on its own executor; the transport is closing. */
  void abortAll() {
    TransportException closed =
        new TransportException(TransportException.Reason.CLOSED, "transport closed");
    for (Transfer t : active.values()) {
      try {
        t.serial.execute(() -> t.abort(closed));
      } catch (RejectedExecutionException e) {
        // the pool is already down: nothing else touches the sink any more
        t.abort(closed);
      }
    }
  }

  /** One inbound snapshot connection: an offer, then chunks. */
  private final class Lane implements Session {
    private final long fromNode;
    private Transfer transfer;

    Lane(long fromNode) {
      this.fromNode = fromNode;
    }

    @Override
    public boolean onFrame(Channel ch, Frame f, ByteBuf raw) throws ProtocolViolation {
      switch (f.getBodyCase()) {
        case SNAPSHOT_OFFER -> offer(ch, f.getSnapshotOffer());
        case SNAPSHOT_CHUNK -> {
          var chunk = f.getSnapshotChunk();
          Transfer t = current(chunk.getTransferId());
          raw.retain(); // the chunk's bytes alias raw until the sink has them
          run(t, () -> {
            try {
              chunk(ch, t, chunk);
            } finally {
              raw.release();
            }
          }, raw);
          return false;
        }
        case SNAPSHOT_ABORT -> {
          Transfer t = current(f.getSnapshotAbort().getTransferId());
          String reason = f.getSnapshotAbort().getReason();
          log.warn("{}: node {} abandoned its snapshot for group {}: {}", transport.name(),
              fromNode, t.groupId, reason);
          run(t, () -> t.abort(new TransportException(TransportException.Reason.REMOTE_ERROR,
              "sender abandoned the snapshot: " + reason)), null);
          ch.close();
        }
        default -> throw new ProtocolViolation("unexpected " + f.getBodyCase()
            + " on a snapshot lane");
      }
      return false;
    }

    private Transfer current(long transferId) throws ProtocolViolation {
      if (transfer == null || transfer.key.transferId != transferId) {
        throw new ProtocolViolation("frame for snapshot transfer " + Long.toHexString(transferId)
            + " which was not offered on this connection");
      }
      return transfer;
    }

    private void offer(Channel ch, SnapshotOffer offer) throws ProtocolViolation {
      if (transfer != null) {
        throw new ProtocolViolation("a second snapshot offer on one connection");
      }
      Key key = new Key(fromNode, offer.getTransferId());
      if (completed.contains(key)) {
        Wire.send(ch, Frame.newBuilder().setSnapshotAck(SnapshotAck.newBuilder()
            .setTransferId(key.transferId).setDone(true)).build());
        return;
      }
      Transfer t = active.get(key);
      if (t == null) {
        Message m;
        try {
          m = RaftCodec.fromProto(offer.getMessage());
        } catch (RaftCodec.MalformedMessageException | IllegalArgumentException e) {
          throw new ProtocolViolation("snapshot offer with an invalid message: " + e.getMessage());
        }
        if (!(m instanceof Message.InstallSnapshot install)) {
          throw new ProtocolViolation("snapshot offer carrying a " + m.getClass().getSimpleName());
        }
        Transfer fresh = new Transfer(key, offer.getGroupId(), install);
        active.put(key, fresh);
        t = fresh;
        transfer = t;
        run(t, () -> open(ch, fresh), null);
      } else {
        transfer = t;
        Transfer resumed = t;
        run(t, () -> {
          resumed.channel = ch;
          log.info("{}: node {} resumes snapshot for group {} at offset {}", transport.name(),
              fromNode, resumed.groupId, resumed.next);
          accept(ch, resumed);
        }, null);
      }
    }

    private void open(Channel ch, Transfer t) {
      t.channel = ch;
      try {
        t.sink = transport.snapshotReceiver().open(fromNode, t.groupId, t.message);
      } catch (IOException | RuntimeException e) {
        giveUp(ch, t, "refused", e);
        return;
      }
      accept(ch, t);
    }

    private void accept(Channel ch, Transfer t) {
      Wire.send(ch, Frame.newBuilder().setSnapshotAccept(SnapshotAccept.newBuilder()
          .setTransferId(t.key.transferId).setNextOffset(t.next)).build());
    }

    /** Checks and writes one chunk; runs on the transfer's serial executor. */
    private void chunk(Channel ch, Transfer t, io.quorumkv.transport.proto.SnapshotChunk c) {
      if (t.ended || t.channel != ch) {
        return; // aborted, or a chunk of a connection that has since been replaced
      }
      if (c.getOffset() != t.next) {
        reject(ch, "snapshot chunk at offset " + c.getOffset() + ", expected " + t.next);
        return;
      }
      ByteBuffer data = c.getData().asReadOnlyByteBuffer();
      CRC32C crc = new CRC32C();
      crc.update(data.duplicate());
      if ((int) crc.getValue() != c.getCrc32C()) {
        // The sender resumes from t.next on a new connection.
        reject(ch, "snapshot chunk at offset " + c.getOffset() + " fails its CRC32C");
        return;
      }
      try {
        t.sink.write(t.next, data);
        t.next += c.getData().size();
        transport.counters().snapshotChunksReceived.increment();
        if (c.getLast()) {
          t.sink.complete();
          t.ended = true;
          active.remove(t.key, t);
          completed.add(t.key);
        }
      } catch (IOException | RuntimeException e) {
        giveUp(ch, t, "failed", e);
        return;
      }
      SnapshotAck ack = SnapshotAck.newBuilder().setTransferId(t.key.transferId)
          .setNextOffset(t.next).setDone(c.getLast()).build();
      if (c.getLast()) {
        // Deliver on the event loop, as every message, before the sender learns it is done.
        ch.eventLoop().execute(() -> {
          transport.handle(fromNode, List.of(new Envelope(t.groupId, t.message)));
          Wire.send(ch, Frame.newBuilder().setSnapshotAck(ack).build());
        });
      } else {
        Wire.send(ch, Frame.newBuilder().setSnapshotAck(ack).build());
      }
    }

    /** The receiving side gives the transfer up for good, and tells the sender why. */
    private void giveUp(Channel ch, Transfer t, String what, Exception e) {
      log.warn("{}: receiver {} on snapshot for group {} from node {}: {}", transport.name(),
          what, t.groupId, fromNode, e.toString());
      t.abort(e);
      Wire.sendAndClose(ch, Frame.newBuilder().setSnapshotAbort(SnapshotAbort.newBuilder()
          .setTransferId(t.key.transferId).setReason("receiver " + what + ": " + e)).build());
    }

    private void reject(Channel ch, String reason) {
      transport.counters().framesRejected.increment();
      log.warn("{}: closing snapshot connection from node {}: {}", transport.name(), fromNode,
          reason);
      ch.close();
    }

    /** Runs {@code task} on the transfer's executor; on shutdown releases {@code held}. */
    private void run(Transfer t, Runnable task, ByteBuf held) {
      try {
        t.serial.execute(task);
      } catch (RejectedExecutionException e) {
        if (held != null) {
          held.release();
        }
      }
    }

    @Override
    public void onClose(Channel ch) {
      Transfer t = transfer;
      if (t == null) {
        return;
      }
      long expiry = transport.config().snapshotStallTimeout().toMillis();
      try {
        ch.eventLoop().schedule(() -> run(t, () -> {
          if (!t.ended && t.channel == ch) {
            log.warn("{}: node {} did not resume its snapshot for group {} within {} ms",
                transport.name(), fromNode, t.groupId, expiry);
            t.abort(new TransportException(TransportException.Reason.UNREACHABLE,
                "sender did not resume"));
          }
        }, null), expiry, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException e) {
        // closing: abortAll handles it
      }
    }
  }
}
