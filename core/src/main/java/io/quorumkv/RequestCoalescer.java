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
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.Supplier;

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
 * <p>A window of frames in flight per node and kind: one frame of writes, two of gets. While a
 * node's window is full, the next attempts for it wait for an answer and then leave together. Why
 * one for writes:
 * with several leader nodes, a closed loop of callers spreads over them and, without this rule,
 * each node received frames of 5-6 writes, each proposed as its own log entry and replicated in its
 * own round; a round (an fsync and about ten messages and wake-ups over the nodes) costs far more
 * than the writes in it, so the window of one frame made 3 partitions do 35-50 % more puts per
 * second on the same CPU (benchmarks.md, finding 26). Why two for gets: a get costs no replication
 * round, and with one frame a closed loop of callers moves as one convoy (the node idles while the
 * client handles the answers, and the other way round); a second frame overlaps the two. When both
 * slots are free, what is queued is split between them (if each gets {@link #MIN_SPLIT} items at
 * least: a frame costs wake-ups and syscalls that fewer items would not amortise), so 256 callers
 * travel as two frames of 128 (linearizable gets +16 %, lease gets +11 % at 256 callers on one
 * partition, finding 39), 64 as one. An idle node still gets each attempt at once.
 * So that a frame the node holds (writes to a partition without a quorum wait for their attempt
 * deadline) cannot stall the node's other traffic, a frame unanswered for {@link #STALE_NANOS}
 * stops holding the window: the next frame goes out beside it.
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

  /** Frames of writes in flight per node (see the class comment). */
  static final int WRITE_WINDOW = 1;

  /** Frames of gets in flight per node (see the class comment). */
  static final int READ_WINDOW = 2;

  /** What is queued is split between free window slots only if each frame gets this many items. */
  static final int MIN_SPLIT = 64;

  /**
   * How long a frame holds its node's window: beyond this, unanswered, it is presumed held by the
   * node (a write waiting for a quorum, a read for a ReadIndex) and the next frame goes out. Enforced
   * by a {@link DeadlineSweep}, so up to one of its ticks late. Several times a loaded node's usual
   * answer time (1-5 ms), far below an attempt's deadline.
   */
  static final long STALE_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

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
  /** Frames in flight, to release the window of one unanswered for {@link #STALE_NANOS}. */
  private final DeadlineSweep<Frame> inFlight;
  private final long staleNanos;
  private volatile boolean closed;

  /**
   * @param onTransportFailure told the address of a node whose frame the transport lost
   * @param timer              where the sweep of stale frames runs (the client's timer)
   * @param staleNanos         how long an unanswered frame holds its window ({@link #STALE_NANOS})
   */
  RequestCoalescer(RemoteExecutor.Connector connector, Consumer<String> onTransportFailure,
      Supplier<ScheduledExecutorService> timer, long staleNanos) {
    this.connector = connector;
    this.onTransportFailure = onTransportFailure;
    this.inFlight = new DeadlineSweep<>(timer);
    this.staleNanos = staleNanos;
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
    (request instanceof KvRequest.Get
        ? readQueues.computeIfAbsent(address, a -> new NodeQueue(a, READ_WINDOW))
        : writeQueues.computeIfAbsent(address, a -> new NodeQueue(a, WRITE_WINDOW))).add(item);
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
    sendOne(address, encoded, timeout, result, null);
  }

  /** As above; {@code frame}, if any, is released when the answer (or the loss) arrives. */
  private void sendOne(String address, byte[] encoded, Duration timeout, CompletableFuture<KvResponse> result,
      Frame frame) {
    CompletableFuture<byte[]> sent;
    try {
      sent = connector.send(address, encoded, timeout);
    } catch (RuntimeException e) {
      sent = CompletableFuture.failedFuture(e);
    }
    sent.whenComplete((bytes, e) -> {
      if (frame != null) {
        frame.release();
      }
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

  /** A frame in flight: it holds its queue's window until answered or stale, whichever is first. */
  private static final class Frame implements DeadlineSweep.Swept {
    private final NodeQueue queue;
    private final long staleAtNanos;
    private final AtomicBoolean released = new AtomicBoolean();

    Frame(NodeQueue queue, long staleAtNanos) {
      this.queue = queue;
      this.staleAtNanos = staleAtNanos;
    }

    void release() {
      if (released.compareAndSet(false, true)) {
        queue.windowFreed();
      }
    }

    @Override
    public boolean isDone() {
      return released.get();
    }

    @Override
    public long dueNanos() {
      return staleAtNanos;
    }

    @Override
    public void onDue(long nowNanos) {
      release();
    }
  }

  /**
   * The attempts waiting for one node, at most one pending drain of them, and how many frames of
   * them hold the window.
   */
  private final class NodeQueue {
    private final String address;
    private final int window;
    private final ConcurrentLinkedQueue<Item> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger size = new AtomicInteger();
    private final AtomicBoolean drainPending = new AtomicBoolean();
    /** Frames in flight, neither answered nor stale, holding this queue's window (at most {@link #window}). */
    private final AtomicInteger framesHeld = new AtomicInteger();

    NodeQueue(String address, int window) {
      this.address = address;
      this.window = window;
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
      if (framesHeld.get() < window) {
        scheduleDrain();
      }
    }

    /** A frame holding the window was answered or went stale: what queued meanwhile may go. */
    void windowFreed() {
      framesHeld.decrementAndGet();
      if (!queue.isEmpty()) {
        scheduleDrain();
      }
    }

    private void scheduleDrain() {
      if (drainPending.compareAndSet(false, true)) {
        try {
          connector.execute(this::drain);
        } catch (RejectedExecutionException e) {
          failAll(); // the I/O thread is gone: the client is closing
        }
      }
    }

    /**
     * On the I/O thread: sends what is queued while the window has a free slot, each frame taking
     * one (a release drains again): all of it in one frame when one slot is free, split evenly
     * when more are. Everything goes out if a frame cannot carry its share (the multi bounds):
     * the window bounds rounds, not the queue.
     */
    synchronized void drain() {
      // Cleared first: an attempt queued from here on either is taken by this drain or starts another
      // (or, while the window is full, by the drain a release starts).
      drainPending.set(false);
      boolean overflow = false;
      while (!queue.isEmpty() && !closed) {
        int free = acquire();
        if (free == 0 && !overflow) {
          return;
        }
        long now = System.nanoTime();
        // The frames beyond the bounds of the last one go out beside the window's.
        Frame holder = free > 0 ? hold(now) : null;
        int share = free > 0 ? share(size.get(), free) : Integer.MAX_VALUE;
        int limit = Math.min(share, KvRequest.Multi.MAX_ITEMS);
        List<Item> batch = new ArrayList<>();
        int bytes = 16;
        overflow = false;
        for (Item next = queue.peek(); next != null; next = queue.peek()) {
          // An item too large to share a frame still goes, alone (the transport bounds it).
          if (batch.size() == limit || !batch.isEmpty() && bytes + next.encoded.length + 8 > KvRequest.Multi.MAX_BYTES) {
            overflow = batch.size() < share;
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
        if (batch.isEmpty()) {
          if (holder != null) {
            holder.release(); // everything it would have carried had expired
          }
          continue;
        }
        if (batch.size() == 1) {
          Item only = batch.get(0);
          sendOne(address, only.encoded, remaining(only.deadlineNanos), only.result, holder);
        } else {
          sendMulti(batch, now, holder);
        }
      }
      if (closed) {
        failAll();
      }
    }

    /** This frame's part of {@code queued} items with {@code free} slots: an even split, or all of it. */
    private int share(int queued, int free) {
      return queued / free >= MIN_SPLIT ? (queued + free - 1) / free : Math.max(queued, 1);
    }

    /** Takes a window slot if one is free: the free slots before taking it, or 0 if none was. */
    private int acquire() {
      for (int held = framesHeld.get(); held < window; held = framesHeld.get()) {
        if (framesHeld.compareAndSet(held, held + 1)) {
          return window - held;
        }
      }
      return 0;
    }

    /** A frame that holds the window from now, watched so that it stops holding it once stale. */
    private Frame hold(long nowNanos) {
      Frame frame = new Frame(this, nowNanos + staleNanos);
      try {
        inFlight.add(frame);
      } catch (RejectedExecutionException e) {
        frame.release(); // the client's timer is closed: the client is closing, no window to keep
      }
      return frame;
    }

    private void sendMulti(List<Item> batch, long now, Frame frame) {
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
      sent.whenComplete((bytes, e) -> {
        if (frame != null) {
          frame.release();
        }
        answer(batch, bytes, e);
      });
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
