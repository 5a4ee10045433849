package io.quorumkv.transport;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.netty.util.internal.PlatformDependent;
import io.quorumkv.transport.proto.Frame;
import java.util.Queue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The answers to requests received on one connection. Most complete on another thread (a node's
 * applier answers every write of an applied batch in a row): written one by one, each would be a
 * task handed to the connection's event loop and a flush of its own. They are queued instead, and
 * one task writes everything queued by the time it runs, with one flush. An answer completed on
 * the event loop itself, with nothing queued, is written at once.
 *
 * <p>The queue holds at most one answer per outstanding request of the connection. Thread-safe.
 */
final class Responder {

  private static final AttributeKey<Responder> KEY = AttributeKey.valueOf("quorumkv.responder");

  private final Channel ch;
  private final Queue<Frame> queue = PlatformDependent.newMpscQueue();
  private final AtomicBoolean drainScheduled = new AtomicBoolean();

  private Responder(Channel ch) {
    this.ch = ch;
  }

  /** The responder of {@code ch}, created on first use. */
  static Responder of(Channel ch) {
    Responder r = ch.attr(KEY).get();
    if (r == null) {
      Responder created = new Responder(ch);
      r = ch.attr(KEY).setIfAbsent(created);
      if (r == null) {
        r = created;
      }
    }
    return r;
  }

  /** Writes {@code answer} soon; dropped if the connection closes first (the caller gives up). */
  void send(Frame answer) {
    if (ch.eventLoop().inEventLoop() && queue.isEmpty()) {
      Wire.send(ch, answer);
      return;
    }
    queue.offer(answer);
    if (drainScheduled.compareAndSet(false, true)) {
      try {
        ch.eventLoop().execute(this::drain);
      } catch (RejectedExecutionException e) {
        drainScheduled.set(false); // shutting down: the answers go with the connection
        queue.clear();
      }
    }
  }

  private void drain() {
    drainScheduled.set(false);
    boolean wrote = false;
    Frame f;
    while ((f = queue.poll()) != null) {
      if (ch.isActive()) {
        ch.write(Wire.encode(ch.alloc(), f), ch.voidPromise());
        wrote = true;
      }
    }
    if (wrote) {
      ch.flush();
    }
  }
}
