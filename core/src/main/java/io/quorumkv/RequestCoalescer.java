package io.quorumkv;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * A {@link KvClient}'s attempts on their way to the nodes: gets for the same node that are queued
 * at the same time go out as one {@link KvRequest.Multi} frame, and so do writes (gets and writes
 * apart, so that a get never waits for a write's replication).
 *
 * <p>Natural batching, no timer: an attempt is queued for its node and, if no drain of that queue
 * is pending, a drain is handed to the connector's I/O thread. When that thread is idle the drain
 * runs at once and the attempt goes out alone (a batch of one is a plain request). While the thread
 * is busy (reading a burst of answers, whose callers send their next requests meanwhile, or writing
 * earlier frames) attempts pile up behind the one drain, which then sends them together. So the
 * more loaded the client, the larger its frames, and an idle client pays no delay.
 *
 * <p>Above this class nothing changes: every attempt keeps its own future, deadline, session
 * sequence number and retries in {@link KvFrontend}. A frame the transport lost (lost connection,
 * deadline, a garbled answer) answers every item of it as a single lost request is answered: a
 * retryable {@link KvResponse.Code#TIMEOUT} failure naming the node, "may have been delivered", and
 * the node is reported to {@code onTransportFailure} (the route table avoids it for a while).
 */
final class RequestCoalescer {

  /** Attempts queued for one node beyond which new ones are refused (retryably) rather than queued. */
  static final int QUEUE_LIMIT = 8192;

  private final RemoteExecutor.Connector connector;
  private final Consumer<String> onTransportFailure;
  /**
   * Queues per node, gets and writes apart: a multi is answered when its slowest item is done, so a
   * get that shared a frame with writes would wait for their replication and fsync.
   */
  private final Map<String, NodeQueue> readQueues = new ConcurrentHashMap<>();
  private final Map<String, NodeQueue> writeQueues = new ConcurrentHashMap<>();
  private final LongAdder multis = new LongAdder();
  private final LongAdder multiItems = new LongAdder();
  private volatile boolean closed;

  RequestCoalescer(RemoteExecutor.Connector connector) {
    this(connector, address -> {});
  }

  /** @param onTransportFailure told the address of a node whose frame the transport lost */
  RequestCoalescer(RemoteExecutor.Connector connector, Consumer<String> onTransportFailure) {
    this.connector = connector;
    this.onTransportFailure = onTransportFailure;
  }

  /**
   * Sends {@code request} to the node at {@code address}: queued for a multi if it is a get or a
   * write, at once otherwise. Completes with the node's answer, or with a retryable
   * {@link KvResponse.Code#TIMEOUT} failure whose outcome is unknown when the transport lost it, or
   * exceptionally with a {@link KvException} no retry helps ({@link NodeClosedException} once closed).
   * One future per request, no stage added: the frontend waits on this one.
   */
  CompletableFuture<KvResponse> submit(String address, KvRequest request, long deadlineNanos) {
    if (closed) {
      return CompletableFuture.failedFuture(new NodeClosedException("the client is closed", false));
    }
    byte[] encoded = Codec.encodeRequest(request);
    if (!(request instanceof KvRequest.Get || request instanceof KvRequest.Write)) {
      CompletableFuture<KvResponse> result = new CompletableFuture<>();
      sendOne(address, encoded, remaining(deadlineNanos), result);
      return result;
    }
    Item item = new Item(encoded, deadlineNanos, new CompletableFuture<>());
    (request instanceof KvRequest.Get ? readQueues : writeQueues).computeIfAbsent(address, NodeQueue::new).add(item);
    return item.result;
  }

  /** Multis sent so far (tests, benchmarks). */
  long multis() {
    return multis.sum();
  }

  /** Attempts sent inside multis so far. */
  long multiItems() {
    return multiItems.sum();
  }

  /** Fails every queued attempt with {@link NodeClosedException}; later ones fail at once. */
  void close() {
    closed = true;
    readQueues.values().forEach(NodeQueue::failAll);
    writeQueues.values().forEach(NodeQueue::failAll);
  }

  /** Sends one request alone; its answer (or its loss) completes {@code result}. */
  private void sendOne(String address, byte[] encoded, Duration timeout, CompletableFuture<KvResponse> result) {
    CompletableFuture<byte[]> sent;
    try {
      sent = connector.send(address, encoded, timeout);
    } catch (RuntimeException e) {
      sent = CompletableFuture.failedFuture(e);
    }
    sent.whenComplete((bytes, e) -> {
      if (e != null) {
        lost(address, result, e);
        return;
      }
      KvResponse r;
      try {
        r = Codec.decodeResponse(bytes);
      } catch (IllegalArgumentException bad) {
        lost(address, result, bad);
        return;
      }
      result.complete(r);
    });
  }

  /**
   * {@code result}'s request went out but the transport lost it (or its answer): it may have been
   * delivered. A {@link KvException} other than a timeout (closed) is passed on as it is.
   */
  private void lost(String address, CompletableFuture<KvResponse> result, Throwable e) {
    RuntimeException cause = Await.unwrap(e);
    if (cause instanceof KvException kv && !(kv instanceof KvTimeoutException)) {
      result.completeExceptionally(cause);
      return;
    }
    onTransportFailure.accept(address);
    // Named by node, for the message the call fails with if no node answers.
    Throwable root = cause instanceof CompletionException && cause.getCause() != null ? cause.getCause() : cause;
    result.complete(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "node " + address + ": " + root.getMessage(),
        0, 0, "", true));
  }

  private static Duration remaining(long deadlineNanos) {
    return Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime()));
  }

  /** One queued attempt: its request encoded on the caller's thread. */
  private record Item(byte[] encoded, long deadlineNanos, CompletableFuture<KvResponse> result) {}

  /** The attempts waiting for one node, and at most one pending drain of them. */
  private final class NodeQueue {
    private final String address;
    private final ConcurrentLinkedQueue<Item> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger size = new AtomicInteger();
    private final AtomicBoolean drainPending = new AtomicBoolean();

    NodeQueue(String address) {
      this.address = address;
    }

    void add(Item item) {
      if (size.incrementAndGet() > QUEUE_LIMIT) {
        size.decrementAndGet();
        item.result.complete(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "more than " + QUEUE_LIMIT
            + " requests queued for node " + address + " (the client's I/O thread is behind); not sent", 0, 0, "", false));
        return;
      }
      queue.add(item);
      if (closed) {
        failAll(); // close() may have emptied the queue just before this item arrived
        return;
      }
      if (drainPending.compareAndSet(false, true)) {
        try {
          connector.execute(this::drain);
        } catch (RejectedExecutionException e) {
          failAll(); // the I/O thread is gone: the client is closing
        }
      }
    }

    /** On the I/O thread: sends everything queued, in multis as large as the bounds allow. */
    synchronized void drain() {
      // Cleared first: an attempt queued from here on either is taken by this drain or starts another.
      drainPending.set(false);
      while (!queue.isEmpty() && !closed) {
        List<Item> batch = new ArrayList<>();
        int bytes = 16;
        long now = System.nanoTime();
        for (Item next = queue.peek(); next != null && batch.size() < KvRequest.Multi.MAX_ITEMS;
            next = queue.peek()) {
          // An item too large to share a frame still goes, alone (the transport bounds it).
          if (!batch.isEmpty() && bytes + next.encoded.length + 8 > KvRequest.Multi.MAX_BYTES) {
            break;
          }
          queue.poll();
          size.decrementAndGet();
          if (now - next.deadlineNanos >= 0) {
            // The frontend stopped waiting for it already; sending it would only load the node.
            next.result.complete(KvResponse.Failure.of(KvResponse.Code.TIMEOUT,
                "not sent: its deadline passed while it was queued for node " + address));
            continue;
          }
          batch.add(next);
          bytes += next.encoded.length + 8;
        }
        if (batch.size() == 1) {
          Item only = batch.get(0);
          sendOne(address, only.encoded, remaining(only.deadlineNanos), only.result);
        } else if (!batch.isEmpty()) {
          sendMulti(batch, now);
        }
      }
      if (closed) {
        failAll();
      }
    }

    private void sendMulti(List<Item> batch, long now) {
      List<byte[]> encoded = new ArrayList<>(batch.size());
      long[] timeouts = new long[batch.size()];
      long latest = now;
      for (int i = 0; i < batch.size(); i++) {
        Item it = batch.get(i);
        encoded.add(it.encoded);
        // Rounded up: an item never gets less time on the node than its caller gives it.
        timeouts[i] = Math.max(1, (it.deadlineNanos - now + 999_999) / 1_000_000);
        latest = Math.max(latest, it.deadlineNanos);
      }
      multis.increment();
      multiItems.add(batch.size());
      CompletableFuture<byte[]> sent;
      try {
        sent = connector.send(address, Codec.encodeMulti(encoded, timeouts), Duration.ofNanos(Math.max(1, latest - now)));
      } catch (RuntimeException e) {
        sent = CompletableFuture.failedFuture(e);
      }
      sent.whenComplete((bytes, e) -> answer(batch, bytes, e));
    }

    /** Hands each item its answer, or the frame's failure. */
    private void answer(List<Item> batch, byte[] bytes, Throwable e) {
      Throwable failure = e;
      KvResponse r = null;
      if (failure == null) {
        try {
          r = Codec.decodeResponse(bytes);
        } catch (IllegalArgumentException bad) {
          failure = bad;
        }
      }
      if (r instanceof KvResponse.Multi m && m.answers().size() == batch.size()) {
        for (int i = 0; i < batch.size(); i++) {
          batch.get(i).result.complete(m.answers().get(i));
        }
        return;
      }
      if (r instanceof KvResponse.Failure f) {
        // The node refused the whole frame (closing, malformed): each item is refused alike.
        for (Item it : batch) {
          it.result.complete(f);
        }
        return;
      }
      if (failure == null) {
        failure = new IllegalStateException("answered a multi of " + batch.size()
            + " items with " + (r instanceof KvResponse.Multi m ? m.answers().size() + " answers" : r));
      }
      for (Item it : batch) {
        lost(address, it.result, failure);
      }
    }

    void failAll() {
      for (Item it = queue.poll(); it != null; it = queue.poll()) {
        size.decrementAndGet();
        it.result.completeExceptionally(new NodeClosedException("the client is closed", false));
      }
    }
  }
}
