package io.quorumkv.transport;

import com.google.protobuf.CodedOutputStream;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.quorumkv.raft.Message;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.GroupHeartbeat;
import io.quorumkv.transport.proto.GroupHeartbeatResponse;
import io.quorumkv.transport.proto.GroupMessage;
import io.quorumkv.transport.proto.HeartbeatBatch;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.HelloAck;
import io.quorumkv.transport.proto.Lane;
import io.quorumkv.transport.proto.RaftBatch;
import io.quorumkv.transport.proto.Request;
import io.quorumkv.transport.proto.Response;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One remote member: its Raft connection (one per node pair: the lower id dials, the higher
 * accepts), its bounded outbound queue, and the requests waiting for its answers.
 *
 * <p>Write coalescing: {@link #enqueue} only queues, and {@link #drainSoon} (called once per
 * send call, however many messages it queued) schedules one drain task on the connection's event
 * loop unless one is due already. The drain packs everything queued into as few
 * {@link RaftBatch} frames as the frame limit allows (normally one, with every group's
 * heartbeats in its {@link HeartbeatBatch}) and flushes once.
 */
final class Peer {

  private static final Logger log = LoggerFactory.getLogger(Peer.class);

  /** Room left in a frame for the batch's own tags and lengths. */
  private static final int FRAME_SLACK = 64;

  /** Something waiting to be written to this peer. */
  private sealed interface Outbound permits RaftOut, RequestOut {
    /** About the bytes it holds, for the queue's byte bound. */
    long weight();
  }

  /** A Raft message; {@code weight}: its entries' heap bytes plus a little (computed once, when queued). */
  private record RaftOut(long groupId, Message m, long weight) implements Outbound {
    RaftOut(long groupId, Message m) {
      this(groupId, m, 64 + (m instanceof Message.AppendEntries a ? entryBytes(a) : 0));
    }

    private static long entryBytes(Message.AppendEntries a) {
      long n = 0;
      for (io.quorumkv.raft.Entry e : a.entries()) {
        n += e.sizeBytes() + ENTRY_OBJECT_BYTES;
      }
      return n;
    }
  }

  private record RequestOut(long id, byte[] payload, long deadlineNanos,
      CompletableFuture<byte[]> result) implements Outbound {
    @Override
    public long weight() {
      return 64 + payload.length;
    }
  }

  final long id;
  final InetSocketAddress address;
  /** Whether this node dials the peer (it has the lower id) or waits to be dialled. */
  final boolean dialler;
  /** Timers and dials of this peer run here. */
  final EventLoop loop;
  private final NettyTransport transport;
  private final Counters counters;
  private final Queue<Outbound> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger queued = new AtomicInteger();
  /** About the bytes of what is queued ({@link Outbound#weight}), bounded by {@link NettyTransportConfig#outboundQueueBytes()}. */
  private final AtomicLong queuedBytes = new AtomicLong();
  private final AtomicBoolean drainScheduled = new AtomicBoolean();
  private final PendingRequests pending = new PendingRequests();
  /** The handshaken Raft connection, or null while there is none. */
  private final AtomicReference<Channel> channel = new AtomicReference<>();
  /** Failed dials since the last success; confined to {@link #loop}. */
  private int attempts;
  /** Set when the member is removed (or re-added with another address): stop dialling. */
  private volatile boolean removed;

  /** What an entry holds on the heap beside its payload (the entry and its array), for {@link Outbound#weight}. */
  private static final long ENTRY_OBJECT_BYTES = 48;

  Peer(long id, InetSocketAddress address, boolean dialler, EventLoop loop,
      NettyTransport transport) {
    this.id = id;
    this.address = address;
    this.dialler = dialler;
    this.loop = loop;
    this.transport = transport;
    this.counters = transport.counters();
  }

  /** See {@link RaftTransport#entryBytesAccepted(long)}: half the byte bound, less what is queued. */
  long entryBytesAccepted() {
    return Math.max(0, transport.config().outboundQueueBytes() / 2 - queuedBytes.get());
  }

  boolean isConnected() {
    Channel ch = channel.get();
    return ch != null && ch.isActive();
  }

  /**
   * Queues a Raft message, or drops and counts it. It is written once {@link #drainSoon} is called
   * (or by a drain already due): a sender queues all it has for this peer, then drains once.
   */
  void enqueue(long groupId, Message m) {
    if (channel.get() == null) {
      counters.droppedUnreachable.increment();
    } else if (!tryQueue(new RaftOut(groupId, m))) {
      counters.droppedQueueFull.increment();
    }
  }

  /** Schedules a drain of what is queued, unless one is already due. */
  void drainSoon() {
    Channel ch = channel.get();
    if (ch != null) {
      scheduleDrain(ch);
    }
  }

  /** Queues {@code o} and schedules a drain; false when the queue is at its bound. */
  private boolean offer(Outbound o) {
    if (!tryQueue(o)) {
      return false;
    }
    drainSoon();
    return true;
  }

  /**
   * Queues {@code o} unless the queue is at one of its bounds ({@code outboundQueueLimit}
   * messages, {@code outboundQueueBytes}).
   */
  private boolean tryQueue(Outbound o) {
    if (queued.incrementAndGet() > transport.config().outboundQueueLimit()) {
      queued.decrementAndGet();
      return false;
    }
    long w = o.weight();
    long before = queuedBytes.getAndAdd(w);
    if (before > 0 && before + w > transport.config().outboundQueueBytes()) {
      queuedBytes.addAndGet(-w);
      queued.decrementAndGet();
      return false;
    }
    queue.offer(o);
    return true;
  }

  /** Takes the next queued item, or null, keeping the bounds' counts. */
  private Outbound poll() {
    Outbound o = queue.poll();
    if (o != null) {
      queued.decrementAndGet();
      queuedBytes.addAndGet(-o.weight());
    }
    return o;
  }

  void scheduleDrain(Channel ch) {
    if (drainScheduled.compareAndSet(false, true)) {
      try {
        ch.eventLoop().execute(() -> drain(ch));
      } catch (RejectedExecutionException e) {
        drainScheduled.set(false); // shutting down
      }
    }
  }

  /** Writes everything queued (while the connection takes it) and flushes once. */
  private void drain(Channel ch) {
    drainScheduled.set(false);
    Channel current = channel.get();
    if (ch != current || !ch.isActive()) {
      if (current != null && current != ch) {
        scheduleDrain(current); // replaced while this drain was pending: drain the new one
      }
      return; // otherwise queued items wait for the next connection
    }
    int budget = transport.config().maxFrameBytes() - FRAME_SLACK;
    Batch batch = new Batch();
    Outbound o;
    while (ch.isWritable() && (o = poll()) != null) {
      if (o instanceof RequestOut r) {
        writeRequest(ch, r);
        continue;
      }
      RaftOut rm = (RaftOut) o;
      com.google.protobuf.MessageLite encoded = encode(rm);
      int size = CodedOutputStream.computeMessageSize(1, encoded);
      if (size > budget) {
        counters.droppedTooLarge.increment();
        log.warn("{}: dropped a {} of {} bytes for node {}: frames are limited to {} bytes",
            transport.name(), rm.m.getClass().getSimpleName(), size, id,
            transport.config().maxFrameBytes());
        continue;
      }
      if (batch.bytes + size > budget) {
        batch.writeTo(ch);
        batch = new Batch();
      }
      batch.add(encoded, size);
    }
    batch.writeTo(ch);
    ch.flush();
    if (!queue.isEmpty() && ch.isWritable()) {
      scheduleDrain(ch);
    } // else: unwritable; Session.onWritable drains again
  }

  /** A message in its wire form: heartbeats in the compact per-group form, others whole. */
  private static com.google.protobuf.MessageLite encode(RaftOut rm) {
    if (rm.m instanceof Message.Heartbeat h) {
      return RaftCodec.toProto(rm.groupId, h);
    } else if (rm.m instanceof Message.HeartbeatResponse r) {
      return RaftCodec.toProto(rm.groupId, r);
    }
    return GroupMessage.newBuilder().setGroupId(rm.groupId).setMessage(RaftCodec.toProto(rm.m))
        .build();
  }

  /** The frame being filled by one drain. */
  private final class Batch {
    private final RaftBatch.Builder frame = RaftBatch.newBuilder();
    private final HeartbeatBatch.Builder heartbeats = HeartbeatBatch.newBuilder();
    int bytes;
    int count;

    void add(com.google.protobuf.MessageLite encoded, int size) {
      if (encoded instanceof GroupHeartbeat g) {
        heartbeats.addHeartbeats(g);
      } else if (encoded instanceof GroupHeartbeatResponse g) {
        heartbeats.addResponses(g);
      } else {
        frame.addMessages((GroupMessage) encoded);
      }
      bytes += size;
      count++;
    }

    void writeTo(Channel ch) {
      if (count == 0) {
        return;
      }
      if (heartbeats.getHeartbeatsCount() + heartbeats.getResponsesCount() > 0) {
        frame.setHeartbeats(heartbeats);
        counters.heartbeatFrames.increment();
      }
      ch.write(Wire.encode(ch.alloc(), Frame.newBuilder().setRaftBatch(frame).build()),
          ch.voidPromise());
      counters.messagesSent.add(count);
      counters.raftFrames.increment();
    }
  }

  /** Sends a request; the future fails at the deadline unless a response came first. */
  CompletableFuture<byte[]> request(byte[] payload, Duration deadline, LinkFaults.Fate fate) {
    CompletableFuture<byte[]> result = new CompletableFuture<>();
    if (payload.length > transport.config().maxFrameBytes() - FRAME_SLACK) {
      result.completeExceptionally(new TransportException(TransportException.Reason.TOO_LARGE,
          "request of " + payload.length + " bytes exceeds the frame limit"));
      return result;
    }
    long deadlineNanos = System.nanoTime() + deadline.toNanos();
    try {
      long requestId = pending.register(result, loop, deadline, "node " + id);
      if (fate.drop()) {
        return result; // lost on the way: the deadline answers
      }
      RequestOut out = new RequestOut(requestId, payload, deadlineNanos, result);
      if (fate.delayNanos() > 0) {
        loop.schedule(() -> offerRequest(out), fate.delayNanos(), TimeUnit.NANOSECONDS);
      } else {
        offerRequest(out);
      }
    } catch (RejectedExecutionException e) {
      result.completeExceptionally(
          new TransportException(TransportException.Reason.CLOSED, "transport closed"));
    }
    return result;
  }

  private void offerRequest(RequestOut out) {
    if (!offer(out)) {
      out.result.completeExceptionally(new TransportException(
          TransportException.Reason.QUEUE_FULL, "outbound queue to node " + id + " is full"));
    }
  }

  private void writeRequest(Channel ch, RequestOut r) {
    long left = r.deadlineNanos - System.nanoTime();
    if (r.result.isDone() || left <= 0) {
      return;
    }
    ch.write(Wire.encode(ch.alloc(), Frame.newBuilder().setRequest(Request.newBuilder()
        .setId(r.id).setPayload(RaftCodec.wrap(r.payload))
        .setTimeoutMillis(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)))).build()),
        ch.voidPromise());
  }

  void onResponse(Response response) {
    pending.complete(response);
  }

  /** A handshaken connection to this peer is up (either side dialled it). */
  void attach(Channel ch) {
    if (removed) {
      ch.close();
      return;
    }
    Channel old = channel.getAndSet(ch);
    if (old != null && old != ch) {
      old.close(); // the peer restarted and dialled again: the old connection is dead
    }
    log.info("{}: connected to node {} ({} {})", transport.name(), id,
        dialler ? "dialled" : "accepted from", ch.remoteAddress());
    scheduleDrain(ch);
  }

  /** The connection {@code ch} is gone: drop the Raft messages that were waiting for it. */
  void detach(Channel ch) {
    if (!channel.compareAndSet(ch, null)) {
      return; // an older connection, already replaced
    }
    log.info("{}: lost connection to node {}", transport.name(), id);
    List<Outbound> keep = new ArrayList<>();
    Outbound o;
    while ((o = poll()) != null) {
      if (o instanceof RequestOut) {
        keep.add(o); // requests wait for the next connection, up to their deadline
      } else {
        counters.droppedUnreachable.increment();
      }
    }
    keep.forEach(this::offer);
  }

  /**
   * This member is gone: stop dialling, close its connection, fail its requests. Those still
   * queued were never written: {@link TransportException.Reason#UNREACHABLE}. The others may have
   * been written (and handled by the peer) before the connection closed: {@link
   * TransportException.Reason#LOST}, so that a caller does not take a write they carried for one
   * that certainly did not happen.
   */
  void remove() {
    removed = true;
    Channel ch = channel.get();
    if (ch != null) {
      ch.close();
    }
    // A drain polls before it writes, so what is polled here was not written and will not be.
    Outbound o;
    while ((o = poll()) != null) {
      if (o instanceof RequestOut r) {
        r.result.completeExceptionally(new TransportException(TransportException.Reason.UNREACHABLE,
            "node " + id + " was removed before the request was sent"));
      }
    }
    pending.failAll(new TransportException(TransportException.Reason.LOST,
        "node " + id + " was removed; the request may have reached it"));
  }

  /** Fails every request still waiting; called once the transport is closed. */
  void failPending() {
    pending.failAll(new TransportException(TransportException.Reason.CLOSED, "transport closed"));
  }

  // ---- dialling (only when this node has the lower id) ----

  void connect() {
    if (transport.isClosed() || removed) {
      return;
    }
    transport.dial(loop, address, new Dialler()).addListener((ChannelFuture cf) -> {
      if (!cf.isSuccess()) {
        if (attempts == 0) {
          log.info("{}: cannot reach node {} at {} ({}); retrying with backoff",
              transport.name(), id, address, cf.cause().getMessage());
        }
        reconnectLater();
        return;
      }
      cf.channel().closeFuture().addListener(x -> reconnectLater());
    });
  }

  private void reconnectLater() {
    if (transport.isClosed() || removed) {
      return;
    }
    long delay = backoffNanos(attempts, transport.config().reconnectBackoffMin(),
        transport.config().reconnectBackoffMax());
    attempts = Math.min(attempts + 1, 30);
    try {
      loop.schedule(this::connect, delay, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      // shutting down
    }
  }

  /**
   * Exponential backoff with "equal jitter": half the delay is fixed so retries keep backing off,
   * half is random so that peers that lost each other at the same moment do not redial in step.
   */
  static long backoffNanos(int attempt, Duration min, Duration max) {
    long base = min.toNanos() << Math.min(attempt, 30);
    if (base <= 0 || base > max.toNanos()) {
      base = max.toNanos();
    }
    long half = base / 2;
    return half + ThreadLocalRandom.current().nextLong(half + 1);
  }

  /** Our side of the handshake of a Raft connection we dialled. */
  private final class Dialler implements ConnectionHandler.Dialler {
    @Override
    public Hello hello() {
      return transport.hello(Lane.LANE_RAFT);
    }

    @Override
    public Session accepted(Channel ch, HelloAck ack) throws ProtocolViolation {
      transport.checkAck(ch, ack, id);
      attempts = 0;
      attach(ch);
      return new RaftSession(transport, Peer.this, ch);
    }

    @Override
    public void refused(Channel ch, String reason) {
      log.warn("{}: node {} at {} refused our connection: {}", transport.name(), id, address,
          reason);
    }
  }
}
