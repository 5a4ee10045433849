package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A client's coalescing of gets and writes into multis, against a fake connector whose "I/O
 * thread" runs only when the test says: what is queued while it is busy goes out as one multi,
 * each item keeps its own answer, failure, retry, deadline and session sequence number.
 */
class RequestCoalescerTest {

  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

  /** Where the coalescers' sweeps of stale frames run (a daemon: nothing to stop). */
  private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "coalescer-test-timer");
    t.setDaemon(true);
    return t;
  });

  /** A stale bound no test reaches: the window is released only by answers, whatever the machine's load. */
  private static final long NEVER_STALE = TimeUnit.HOURS.toNanos(1);

  private static RequestCoalescer coalescer(FakeNodes nodes) {
    return new RequestCoalescer(nodes, address -> {}, () -> TIMER, NEVER_STALE);
  }

  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A request as the fake node received it, with the future its answer goes to. */
  record Sent(String address, KvRequest request, Duration timeout, CompletableFuture<byte[]> answer) {
    void reply(KvResponse r) {
      answer.complete(Codec.encodeResponse(r));
    }
  }

  /**
   * Nodes behind a connector: route-table requests are answered with an empty table (so attempts go
   * to the configured addresses), everything else is recorded for the test to answer, or answered
   * by {@link #script} when one is set. Its I/O thread is a queue the test runs.
   */
  static final class FakeNodes implements RemoteExecutor.Connector {
    final BlockingQueue<Runnable> io = new LinkedBlockingQueue<>();
    final BlockingQueue<Sent> sent = new LinkedBlockingQueue<>();
    volatile Function<Sent, KvResponse> script;
    volatile boolean closed;
    /** The route table every node answers with. */
    volatile List<KvResponse.Route> routeTable = List.of();
    /** The members' addresses every node names with its route table (none: as an older node). */
    volatile Map<Long, String> members = Map.of();
    /** Addresses that refuse connections (a node gone), for every request. */
    final Set<String> down = ConcurrentHashMap.newKeySet();

    @Override
    public CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout) {
      KvRequest r = Codec.decodeRequest(request);
      CompletableFuture<byte[]> f = new CompletableFuture<>();
      if (down.contains(address)) {
        f.completeExceptionally(new ConnectException("connection refused: " + address));
        return f;
      }
      if (r instanceof KvRequest.Routes) {
        f.complete(Codec.encodeResponse(new KvResponse.RouteTable(routeTable, members)));
        return f;
      }
      Sent s = new Sent(address, r, timeout, f);
      Function<Sent, KvResponse> answerWith = script;
      KvResponse scripted = answerWith == null ? null : answerWith.apply(s);
      if (scripted != null) {
        s.reply(scripted);
      } else {
        sent.add(s);
      }
      return f;
    }

    @Override
    public void execute(Runnable task) {
      if (closed) {
        throw new RejectedExecutionException("closed");
      }
      io.add(task);
    }

    /** Runs what the I/O thread has queued, as the thread would once free. */
    int runIo() {
      int n = 0;
      for (Runnable t = io.poll(); t != null; t = io.poll()) {
        t.run();
        n++;
      }
      return n;
    }

    /** The next request sent, running the I/O thread until one is (bounded: 5 s). */
    Sent next() throws InterruptedException {
      long end = System.nanoTime() + 5 * SECOND;
      while (System.nanoTime() < end) {
        runIo();
        Sent s = sent.poll(2, TimeUnit.MILLISECONDS);
        if (s != null) {
          return s;
        }
      }
      throw new AssertionError("nothing was sent within 5 s");
    }

    @Override
    public void close() {
      closed = true;
    }
  }

  private static KvRequest.Get get(String key) {
    return new KvRequest.Get(b(key), ReadConsistency.LINEARIZABLE);
  }

  private static KvResponse read(String value) {
    return new KvResponse.Read(new ReadResult(Optional.of(b(value)), ReadConsistency.LINEARIZABLE, 1, 1, 7, Duration.ZERO));
  }

  private static String valueOf(KvResponse r) {
    return new String(((KvResponse.Read) r).result().value().orElseThrow(), StandardCharsets.UTF_8);
  }

  @Test
  void aRequestToAnIdleNodeGoesOutAloneAsAPlainRequest() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    CompletableFuture<KvResponse> f = c.submit("n1", get("k"), System.nanoTime() + SECOND);
    assertEquals(1, nodes.runIo());
    Sent s = nodes.sent.poll();
    assertNotNull(s);
    assertInstanceOf(KvRequest.Get.class, s.request());
    s.reply(read("v"));
    assertEquals("v", valueOf(f.get(1, TimeUnit.SECONDS)));
    assertEquals(0, c.multis());
  }

  @Test
  void requestsQueuedWhileTheIoThreadIsBusyGoOutAsOneMultiAndEachGetsItsOwnAnswer() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    long deadline = System.nanoTime() + SECOND;
    List<CompletableFuture<KvResponse>> fs = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      fs.add(c.submit("n1", get("k" + i), deadline + i * 1_000_000L));
    }
    CompletableFuture<KvResponse> other = c.submit("n2", get("elsewhere"), deadline);
    assertEquals(2, nodes.io.size(), "one drain per node, however many requests are queued");
    nodes.runIo();
    List<Sent> frames = new ArrayList<>();
    nodes.sent.drainTo(frames);
    assertEquals(2, frames.size());
    Sent multi = frames.stream().filter(s -> s.address().equals("n1")).findFirst().orElseThrow();
    KvRequest.Multi m = assertInstanceOf(KvRequest.Multi.class, multi.request());
    assertEquals(List.of("k0", "k1", "k2", "k3", "k4"), m.items().stream()
        .map(i -> new String(((KvRequest.Get) i.request()).key(), StandardCharsets.UTF_8)).toList());
    // Each item carries its own time; the frame waits for the latest.
    assertTrue(m.items().get(0).timeoutMillis() < m.items().get(4).timeoutMillis(), m.toString());
    assertTrue(multi.timeout().toMillis() >= m.items().get(4).timeoutMillis() - 1, multi.timeout().toString());
    assertInstanceOf(KvRequest.Get.class, frames.stream().filter(s -> s.address().equals("n2")).findFirst()
        .orElseThrow().request());
    List<KvResponse> answers = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      answers.add(i == 2 ? KvResponse.Failure.notLeader(1, 3, "n3") : read("v" + i));
    }
    multi.reply(new KvResponse.Multi(answers));
    for (int i = 0; i < 5; i++) {
      KvResponse r = fs.get(i).get(1, TimeUnit.SECONDS);
      if (i == 2) {
        assertEquals(KvResponse.Failure.notLeader(1, 3, "n3"), r);
      } else {
        assertEquals("v" + i, valueOf(r));
      }
    }
    assertFalse(other.isDone());
    assertEquals(1, c.multis());
    assertEquals(5, c.multiItems());
  }

  @Test
  void getsAndWritesQueuedTogetherGoInSeparateMultisSoAGetNeverWaitsForAWrite() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    long deadline = System.nanoTime() + SECOND;
    for (int i = 0; i < 3; i++) {
      c.submit("n1", get("k" + i), deadline);
      c.submit("n1", new KvRequest.Write(7, i + 1, 1, new WriteOp.Put(b("w" + i), b("v"))), deadline);
    }
    nodes.runIo();
    List<Sent> frames = new ArrayList<>();
    nodes.sent.drainTo(frames);
    assertEquals(2, frames.size(), frames.toString());
    for (Sent s : frames) {
      KvRequest.Multi m = assertInstanceOf(KvRequest.Multi.class, s.request());
      assertEquals(3, m.items().size());
      Class<?> kind = m.items().get(0).request().getClass();
      assertTrue(m.items().stream().allMatch(i -> i.request().getClass() == kind), m.toString());
    }
  }

  @Test
  void aLostOrMisansweredMultiFailsEveryItemAsALostRequestWould() throws Exception {
    FakeNodes nodes = new FakeNodes();
    List<String> suspects = new java.util.concurrent.CopyOnWriteArrayList<>();
    RequestCoalescer c = new RequestCoalescer(nodes, suspects::add, () -> TIMER, NEVER_STALE);
    long deadline = System.nanoTime() + SECOND;
    CompletableFuture<KvResponse> a = c.submit("n1", get("a"), deadline);
    CompletableFuture<KvResponse> b = c.submit("n1", get("b"), deadline);
    nodes.next().answer().completeExceptionally(new TimeoutException("no answer within 1000 ms"));
    for (CompletableFuture<KvResponse> f : List.of(a, b)) {
      KvResponse.Failure lost = assertInstanceOf(KvResponse.Failure.class, f.get(1, TimeUnit.SECONDS));
      assertEquals(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "node n1: no answer within 1000 ms", 0, 0, "", true),
          lost, "retryable, may have been delivered, named by node");
    }
    assertEquals(List.of("n1", "n1"), suspects, "the node is avoided for a while");
    CompletableFuture<KvResponse> x = c.submit("n1", get("x"), deadline);
    CompletableFuture<KvResponse> y = c.submit("n1", get("y"), deadline);
    nodes.next().reply(new KvResponse.Multi(List.of(read("only one answer"))));
    KvResponse.Failure garbled = assertInstanceOf(KvResponse.Failure.class, x.get(1, TimeUnit.SECONDS));
    assertEquals("node n1: answered a multi of 2 items with 1 answers", garbled.message());
    assertTrue(garbled.outcomeUnknown() && garbled.retryable());
    assertEquals(garbled, y.get(1, TimeUnit.SECONDS));
    // A request sent alone and lost is answered alike.
    CompletableFuture<KvResponse> alone = c.submit("n2", get("alone"), deadline);
    nodes.next().answer().completeExceptionally(new java.io.IOException("connection reset"));
    assertEquals(new KvResponse.Failure(KvResponse.Code.TIMEOUT, "node n2: connection reset", 0, 0, "", true),
        alone.get(1, TimeUnit.SECONDS));
    // A node refusing the whole frame (closing) refuses each item alike.
    CompletableFuture<KvResponse> p = c.submit("n1", get("p"), deadline);
    CompletableFuture<KvResponse> q = c.submit("n1", get("q"), deadline);
    KvResponse.Failure closing = KvResponse.Failure.of(KvResponse.Code.CLOSED, "node 1 is not running");
    nodes.next().reply(closing);
    assertEquals(closing, p.get(1, TimeUnit.SECONDS));
    assertEquals(closing, q.get(1, TimeUnit.SECONDS));
  }

  @Test
  void anItemWhoseDeadlinePassedWhileQueuedIsNotSent() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    CompletableFuture<KvResponse> late = c.submit("n1", get("late"), System.nanoTime() + 1_000_000L);
    CompletableFuture<KvResponse> onTime = c.submit("n1", get("on time"), System.nanoTime() + SECOND);
    Thread.sleep(5);
    Sent s = nodes.next();
    assertInstanceOf(KvRequest.Get.class, s.request(), "the late item was dropped: a batch of one is plain");
    KvResponse.Failure f = assertInstanceOf(KvResponse.Failure.class, late.get(1, TimeUnit.SECONDS));
    assertEquals(KvResponse.Code.TIMEOUT, f.code());
    assertFalse(f.outcomeUnknown(), "never sent");
    s.reply(read("v"));
    assertEquals("v", valueOf(onTime.get(1, TimeUnit.SECONDS)));
  }

  @Test
  void multisStayWithinTheirItemAndByteBoundsAndTheQueueIsBounded() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    long deadline = System.nanoTime() + 10 * SECOND;
    int n = KvRequest.Multi.MAX_ITEMS + 3;
    for (int i = 0; i < n; i++) {
      c.submit("n1", put(i + 1, "k" + i), deadline); // writes: a window of one frame, so one share
    }
    byte[] mib = new byte[1 << 20];
    for (int i = 0; i < 5; i++) {
      c.submit("n2", new KvRequest.Write(1, i + 1, 1, new WriteOp.Put(b("big" + i), mib)), deadline);
    }
    nodes.runIo();
    List<Sent> frames = new ArrayList<>();
    nodes.sent.drainTo(frames);
    List<Integer> toN1 = frames.stream().filter(s -> s.address().equals("n1"))
        .map(s -> s.request() instanceof KvRequest.Multi m ? m.items().size() : 1).toList();
    assertEquals(List.of(KvRequest.Multi.MAX_ITEMS, 3), toN1);
    List<Integer> toN2 = frames.stream().filter(s -> s.address().equals("n2"))
        .map(s -> s.request() instanceof KvRequest.Multi m ? m.items().size() : 1).toList();
    assertEquals(List.of(3, 2), toN2, "4 MiB per multi: three values of 1 MiB, then two");

    // Nothing drains: the queue fills to its bound, and the next request is refused, retryably.
    FakeNodes stuck = new FakeNodes();
    RequestCoalescer full = coalescer(stuck);
    for (int i = 0; i < RequestCoalescer.QUEUE_LIMIT; i++) {
      assertFalse(full.submit("n1", get("k"), deadline).isDone());
    }
    KvResponse.Failure refused = assertInstanceOf(KvResponse.Failure.class,
        full.submit("n1", get("k"), deadline).get(1, TimeUnit.SECONDS));
    assertTrue(refused.retryable() && !refused.outcomeUnknown(), refused.toString());
    assertTrue(refused.message().startsWith("more than 8192 requests queued for node n1"), refused.message());
  }

  @Test
  void closeFailsEverythingQueuedAndLaterRequestsWithNodeClosed() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    CompletableFuture<KvResponse> queued = c.submit("n1", get("k"), System.nanoTime() + SECOND);
    c.close();
    nodes.close();
    ExecutionException e = assertThrows(ExecutionException.class, () -> queued.get(1, TimeUnit.SECONDS));
    assertInstanceOf(NodeClosedException.class, e.getCause());
    nodes.runIo();
    assertNull(nodes.sent.poll());
    e = assertThrows(ExecutionException.class, () -> c.submit("n1", get("k"), System.nanoTime() + SECOND)
        .get(1, TimeUnit.SECONDS));
    assertInstanceOf(NodeClosedException.class, e.getCause());
  }

  private static KvRequest.Write put(int seq, String key) {
    return new KvRequest.Write(7, seq, 1, new WriteOp.Put(b(key), b("v")));
  }

  private static List<String> keysOf(KvRequest r) {
    List<KvRequest> items = r instanceof KvRequest.Multi m
        ? m.items().stream().map(KvRequest.Multi.Item::request).toList() : List.of(r);
    return items.stream().map(i -> new String(((WriteOp.Put) ((KvRequest.Write) i).op()).key(),
        StandardCharsets.UTF_8)).toList();
  }

  @Test
  void whileAFrameOfWritesIsUnansweredTheNextWritesForThatNodeWaitAndThenLeaveAsOneMulti() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    long deadline = System.nanoTime() + 10 * SECOND;
    CompletableFuture<KvResponse> first = c.submit("n1", put(1, "a"), deadline);
    Sent one = nodes.next();
    assertEquals(List.of("a"), keysOf(one.request()), "an idle node gets the write at once, alone");
    List<CompletableFuture<KvResponse>> waiting = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      waiting.add(c.submit("n1", put(2 + i, "w" + i), deadline));
    }
    CompletableFuture<KvResponse> elsewhere = c.submit("n2", put(9, "other node"), deadline);
    CompletableFuture<KvResponse> read = c.submit("n1", get("a get"), deadline);
    nodes.runIo();
    List<Sent> frames = new ArrayList<>();
    nodes.sent.drainTo(frames);
    assertEquals(List.of("n2", "n1"), frames.stream().map(Sent::address).toList(),
        "another node's writes, and this node's gets, have windows of their own; this node's writes wait");
    assertInstanceOf(KvRequest.Get.class, frames.get(1).request());
    one.reply(new KvResponse.Written(true));
    assertInstanceOf(KvResponse.Written.class, first.get(1, TimeUnit.SECONDS));
    Sent multi = nodes.next();
    assertEquals(List.of("w0", "w1", "w2", "w3"), keysOf(multi.request()), "what waited leaves as one frame");
    nodes.runIo();
    assertNull(nodes.sent.poll(), "one frame in flight: " + nodes.sent);
    multi.reply(new KvResponse.Multi(List.of(new KvResponse.Written(true), new KvResponse.Written(true),
        new KvResponse.Written(true), new KvResponse.Written(true))));
    for (CompletableFuture<KvResponse> f : waiting) {
      assertInstanceOf(KvResponse.Written.class, f.get(1, TimeUnit.SECONDS));
    }
    assertFalse(elsewhere.isDone() || read.isDone());
  }

  @Test
  void getsQueuedForANodeAreSplitBetweenTheTwoFramesOfItsWindowAndTheNextWaitForAnAnswer() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    long deadline = System.nanoTime() + 10 * SECOND;
    List<CompletableFuture<KvResponse>> first = new ArrayList<>();
    int n = 2 * RequestCoalescer.MIN_SPLIT + 2;
    for (int i = 0; i < n; i++) {
      first.add(c.submit("n1", get("k" + i), deadline));
    }
    nodes.runIo();
    List<Sent> frames = new ArrayList<>();
    nodes.sent.drainTo(frames);
    assertEquals(List.of(n / 2, n / 2), frames.stream()
        .map(s -> ((KvRequest.Multi) s.request()).items().size()).toList(), "split evenly, in queue order");
    List<CompletableFuture<KvResponse>> next = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      next.add(c.submit("n1", get("n" + i), deadline));
    }
    nodes.runIo();
    assertNull(nodes.sent.poll(), "two frames in flight: the window is full");
    List<KvResponse> answers = new ArrayList<>();
    for (int i = 0; i < n / 2; i++) {
      answers.add(read("v" + i));
    }
    frames.get(1).reply(new KvResponse.Multi(answers));
    for (int i = n / 2; i < n; i++) {
      assertEquals("v" + (i - n / 2), valueOf(first.get(i).get(1, TimeUnit.SECONDS)));
    }
    Sent waited = nodes.next();
    assertEquals(5, ((KvRequest.Multi) waited.request()).items().size(), "one slot free: all of it in one frame");
    nodes.runIo();
    assertNull(nodes.sent.poll());
    assertFalse(first.get(0).isDone() || next.get(0).isDone());
    // Few queued with both slots free: one frame (a split would not pay for its second frame).
    FakeNodes idle = new FakeNodes();
    RequestCoalescer d = coalescer(idle);
    for (int i = 0; i < RequestCoalescer.MIN_SPLIT + 1; i++) {
      d.submit("n1", get("k" + i), deadline);
    }
    idle.runIo();
    assertEquals(RequestCoalescer.MIN_SPLIT + 1, ((KvRequest.Multi) idle.sent.poll().request()).items().size());
    assertNull(idle.sent.poll());
  }

  @Test
  void aLostFrameFreesTheWindowAtOnce() throws Exception {
    FakeNodes nodes = new FakeNodes();
    RequestCoalescer c = coalescer(nodes);
    long deadline = System.nanoTime() + 10 * SECOND;
    CompletableFuture<KvResponse> lost = c.submit("n1", put(1, "a"), deadline);
    Sent one = nodes.next();
    CompletableFuture<KvResponse> next = c.submit("n1", put(2, "b"), deadline);
    nodes.runIo();
    assertNull(nodes.sent.poll());
    one.answer().completeExceptionally(new java.io.IOException("connection reset"));
    assertTrue(assertInstanceOf(KvResponse.Failure.class, lost.get(1, TimeUnit.SECONDS)).outcomeUnknown());
    assertEquals(List.of("b"), keysOf(nodes.next().request()));
    assertFalse(next.isDone());
  }

  @Test
  void aFrameTheNodeHoldsStopsHoldingTheWindowOnceStaleSoTheNodesOtherWritesStillFlow() throws Exception {
    FakeNodes nodes = new FakeNodes();
    long stale = TimeUnit.MILLISECONDS.toNanos(20);
    RequestCoalescer c = new RequestCoalescer(nodes, address -> {}, () -> TIMER, stale);
    long deadline = System.nanoTime() + 10 * SECOND;
    // The node holds this one (say, a write to a partition without a quorum) until its deadline.
    CompletableFuture<KvResponse> held = c.submit("n1", put(1, "held"), deadline);
    Sent heldFrame = nodes.next();
    long sent = System.nanoTime();
    CompletableFuture<KvResponse> other = c.submit("n1", put(2, "other partition"), deadline);
    Sent otherFrame = nodes.next(); // runs the I/O thread until the sweep frees the window (bounded: 5 s)
    assertTrue(System.nanoTime() - sent >= stale, "not before the frame went stale");
    assertEquals(List.of("other partition"), keysOf(otherFrame.request()));
    assertFalse(held.isDone());
    otherFrame.reply(new KvResponse.Written(true));
    assertInstanceOf(KvResponse.Written.class, other.get(1, TimeUnit.SECONDS));
    // The stale frame's late answer still reaches its caller and frees nothing twice.
    heldFrame.reply(new KvResponse.Written(true));
    assertInstanceOf(KvResponse.Written.class, held.get(1, TimeUnit.SECONDS));
    assertEquals(0, nodes.runIo() + nodes.sent.size(), "the late answer started no drain: nothing was queued");
  }

  // ---- through a KvClient: each item keeps its own retries, deadline and session ----

  private static KvClient client(FakeNodes nodes, Duration timeout) {
    return KvClient.builder().addresses(List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")).requestTimeout(timeout)
        .connector(nodes).build();
  }

  /**
   * A call whose one attempt went unanswered until its deadline is not retried; the next call must
   * not start at that node again, or a client whose first address accepts connections but never
   * answers fails every call (seen as a Jepsen run's fresh clients failing all final reads).
   */
  @Test
  void theNextCallStartsAtAnotherNodeAfterACallTimedOutUnanswered() throws Exception {
    FakeNodes nodes = new FakeNodes();
    try (KvClient client = client(nodes, Duration.ofMillis(300))) {
      CompletableFuture<List<KeyValue>> first = CompletableFuture.supplyAsync(() -> client.scan("a", "z", 10));
      Sent unanswered = nodes.next();
      assertEquals("127.0.0.1:1", unanswered.address());
      Thread.sleep(unanswered.timeout().toMillis()); // the transport gives up at the attempt's deadline
      unanswered.answer().completeExceptionally(new TimeoutException("no answer within " + unanswered.timeout()));
      ExecutionException e = assertThrows(ExecutionException.class, () -> first.get(5, TimeUnit.SECONDS));
      assertInstanceOf(KvException.class, e.getCause(), "the call failed: no node answered in time");
      CompletableFuture<List<KeyValue>> second = CompletableFuture.supplyAsync(() -> client.scan("a", "z", 10));
      Sent next = nodes.next();
      assertEquals("127.0.0.1:2", next.address(), "the next call goes to the next address");
      next.reply(new KvResponse.Scanned(List.of(new KeyValue(b("k"), b("v")))));
      assertEquals(1, second.get(5, TimeUnit.SECONDS).size());
    }
  }

  /**
   * A call whose attempt was lost in the transport is retried at the next address. The loss has
   * already moved the client's starting address on (see the test above), so one more step skipped
   * a node, and with two addresses every retry went back to the lost node until the call's deadline.
   */
  @Test
  void aCallRetriedAfterALostAttemptTriesTheNextAddressWithAnEvenNumberOfThem() throws Exception {
    FakeNodes nodes = new FakeNodes();
    nodes.down.add("127.0.0.1:1");
    try (KvClient client = KvClient.builder().addresses(List.of("127.0.0.1:1", "127.0.0.1:2"))
        .requestTimeout(Duration.ofSeconds(5)).connector(nodes).build()) {
      CompletableFuture<List<KeyValue>> scan = CompletableFuture.supplyAsync(() -> client.scan("a", "z", 10));
      Sent retried = nodes.next();
      assertEquals("127.0.0.1:2", retried.address(), "the retry goes to the other node");
      retried.reply(new KvResponse.Scanned(List.of(new KeyValue(b("k"), b("v")))));
      assertEquals(1, scan.get(5, TimeUnit.SECONDS).size());
    }
  }

  /**
   * A client whose configured nodes have all left the cluster (removed one by one as fresh members
   * were added) still reaches the members its route table named: a call that is not routed (a
   * scan) moves on to them, and the table is refreshed through them. Seen in a long Jepsen
   * {@code membership-3} run (seed 1795900000205): once the third initial node was removed, the
   * workloads' clients failed every scan, and every call to a partition whose leader had moved,
   * for the rest of the run (16 s), while a fresh client succeeded at once.
   */
  @Test
  void aClientWhoseConfiguredNodesAreAllGoneReachesTheMembersItsRouteTableNamed() throws Exception {
    FakeNodes nodes = new FakeNodes();
    KeySpan everything = new KeySpan.Range(new byte[0], new byte[0]);
    nodes.routeTable = List.of(new KvResponse.Route(1, everything, "127.0.0.1:4"));
    try (KvClient client = client(nodes, Duration.ofSeconds(5))) {
      assertEquals("127.0.0.1:4", scanOnceConfiguredNodesAreGone(nodes, client, "127.0.0.1:4"),
          "every configured node refused: the scan goes to a learned member");

      // The leadership moves to node 5, a member the client has never heard of: the table is
      // refreshed through node 4 (its rotation), so later calls go to node 5.
      nodes.routeTable = List.of(new KvResponse.Route(1, everything, "127.0.0.1:5"));
      String reached = null;
      for (int i = 0; i < 40 && !"127.0.0.1:5".equals(reached); i++) {
        CompletableFuture<Optional<byte[]>> get = client.getAsync(b("k"), ReadConsistency.LINEARIZABLE);
        Sent s = nodes.next();
        reached = s.address();
        s.reply(read("v"));
        get.get(5, TimeUnit.SECONDS);
        Thread.sleep(100); // the table is refreshed once a second
      }
      assertEquals("127.0.0.1:5", reached, "the table was refreshed through a learned member");
    }
  }

  /** Fake nodes whose route table is one partition holding every key, led by {@code leader}, and {@code members}. */
  private static FakeNodes oneRangeLedBy(String leader, Map<Long, String> members) {
    FakeNodes nodes = new FakeNodes();
    nodes.routeTable = List.of(new KvResponse.Route(1, new KeySpan.Range(new byte[0], new byte[0]), leader));
    nodes.members = members;
    return nodes;
  }

  /**
   * A first get, which the table (fetched from a configured node) routes to {@code leader}; then
   * nodes 1, 2 and 3 refuse connections and a scan is sent. Answers the scan with one entry and
   * returns the address it went to.
   */
  private static String scanOnceConfiguredNodesAreGone(FakeNodes nodes, KvClient client, String leader)
      throws Exception {
    CompletableFuture<Optional<byte[]>> first = client.getAsync(b("k"), ReadConsistency.LINEARIZABLE);
    Sent routed = nodes.next();
    assertEquals(leader, routed.address(), "the table, fetched from a configured node, names the leader");
    routed.reply(read("v"));
    first.get(5, TimeUnit.SECONDS);
    nodes.down.addAll(List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"));
    CompletableFuture<List<KeyValue>> scan = CompletableFuture.supplyAsync(() -> client.scan("a", "z", 10));
    Sent scanned = nodes.next();
    scanned.reply(new KvResponse.Scanned(List.of(new KeyValue(b("k"), b("v")))));
    assertEquals(1, scan.get(5, TimeUnit.SECONDS).size());
    return scanned.address();
  }

  /**
   * The case the leaders alone miss ({@code membership-3}, seed 1795900000205, two replays of four):
   * the client's last route table named only configured nodes as leaders (here node 3), so when
   * nodes 1, 2 and 3 were all gone it had no other address. The table also names the members, and
   * the client goes on to them; a member the next table no longer names is
   * dropped from the client's addresses.
   */
  @Test
  void aClientWhoseConfiguredNodesAreAllGoneReachesTheMembersItsRouteTableNamedThoughNoneLeads() throws Exception {
    FakeNodes nodes = oneRangeLedBy("127.0.0.1:3", Map.of(3L, "127.0.0.1:3", 4L, "127.0.0.1:4", 5L, "127.0.0.1:5"));
    try (KvClient client = client(nodes, Duration.ofSeconds(5))) {
      String scanned = scanOnceConfiguredNodesAreGone(nodes, client, "127.0.0.1:3");
      assertTrue(Set.of("127.0.0.1:4", "127.0.0.1:5").contains(scanned),
          "every configured node refused: the scan goes to a learned member, not " + scanned);

      // Node 4 leaves: the next table (fetched through node 4 or 5) names 5 and 6 only.
      nodes.members = Map.of(5L, "127.0.0.1:5", 6L, "127.0.0.1:6");
      nodes.routeTable = List.of(new KvResponse.Route(1, nodes.routeTable.get(0).span(), "127.0.0.1:5"));
      MemoryCluster.await(Duration.ofSeconds(10), "a refreshed table naming members 5 and 6", () -> {
        client.routes().maybeRefresh(() -> CompletableFuture.completedFuture(
            new KvResponse.RouteTable(nodes.routeTable, nodes.members)));
        return client.routes().answer().members().keySet().equals(Set.of(5L, 6L));
      });
      assertEquals(List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:5", "127.0.0.1:6"),
          RemoteExecutor.rotationOf(List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"), client.routes().answer()));
    }
  }

  /**
   * Calls that go straight to the leader never move a client's current address on; a route-table
   * refresh aimed at a node gone for good used to fail every time, so the client never learned
   * the members added since, and lost the cluster once the leader it knew left too (found by the
   * in-JVM test {@code NettyAdminScenariosTest}, where the client's table stayed at its first
   * answer). A refresh the transport lost now moves on like a lost call.
   */
  @Test
  void aRefreshANodeGoneForGoodRefusesMovesOnWhileCallsGoStraightToTheLeader() throws Exception {
    FakeNodes nodes = oneRangeLedBy("127.0.0.1:3", Map.of(1L, "127.0.0.1:1", 2L, "127.0.0.1:2", 3L, "127.0.0.1:3"));
    try (KvClient client = client(nodes, Duration.ofSeconds(5))) {
      CompletableFuture<Optional<byte[]>> first = client.getAsync(b("k"), ReadConsistency.LINEARIZABLE);
      Sent routed = nodes.next();
      assertEquals("127.0.0.1:3", routed.address());
      routed.reply(read("v"));
      first.get(5, TimeUnit.SECONDS);
      // Node 1, where the client's calls would start, is removed; node 4 joins.
      nodes.down.add("127.0.0.1:1");
      nodes.members = Map.of(2L, "127.0.0.1:2", 3L, "127.0.0.1:3", 4L, "127.0.0.1:4");
      for (int i = 0; i < 50 && !client.routes().answer().members().containsKey(4L); i++) {
        CompletableFuture<Optional<byte[]>> get = client.getAsync(b("k"), ReadConsistency.LINEARIZABLE);
        Sent s = nodes.next();
        assertEquals("127.0.0.1:3", s.address(), "the get goes straight to the leader");
        s.reply(read("v"));
        get.get(5, TimeUnit.SECONDS);
        Thread.sleep(100); // the table is refreshed once a second, sooner after a failure
      }
      assertEquals(Set.of(2L, 3L, 4L), client.routes().answer().members().keySet(),
          "the table was refreshed through another node than the one gone");
    }
  }

  /**
   * A client given one address stays with that node: the suite's per-node clients (admin, fault
   * injection, a node's own reads) rely on it. A scan it sends while that node refuses fails at
   * its deadline instead of going to the leader its table names.
   */
  @Test
  void aClientGivenOneAddressNeverMovesToTheMembersItsRouteTableNames() throws Exception {
    FakeNodes nodes = new FakeNodes();
    KeySpan everything = new KeySpan.Range(new byte[0], new byte[0]);
    nodes.routeTable = List.of(new KvResponse.Route(1, everything, "127.0.0.1:4"));
    try (KvClient client = KvClient.builder().addresses(List.of("127.0.0.1:1"))
        .requestTimeout(Duration.ofMillis(800)).connector(nodes).build()) {
      CompletableFuture<List<KeyValue>> scan = CompletableFuture.supplyAsync(() -> client.scan("a", "z", 10));
      Sent first = nodes.next();
      assertEquals("127.0.0.1:1", first.address());
      first.reply(new KvResponse.Scanned(List.of()));
      scan.get(5, TimeUnit.SECONDS);
      nodes.down.add("127.0.0.1:1");
      assertThrows(ExecutionException.class,
          () -> CompletableFuture.supplyAsync(() -> client.scan("a", "z", 10)).get(5, TimeUnit.SECONDS),
          "the one node refused: nowhere else to go");
      for (Sent s = nodes.sent.poll(); s != null; s = nodes.sent.poll()) {
        assertEquals("127.0.0.1:1", s.address(), "nothing went to a learned member");
      }
    }
  }

  @Test
  void anItemRefusedWithALeaderHintIsRetriedAloneWithItsSequenceNumberWhileTheOthersSucceed() throws Exception {
    FakeNodes nodes = new FakeNodes();
    try (KvClient client = client(nodes, Duration.ofSeconds(5))) {
      CompletableFuture<Void> p0 = client.putAsync(b("a"), b("0"));
      CompletableFuture<Void> p1 = client.putAsync(b("b"), b("1"));
      CompletableFuture<Optional<byte[]>> g = client.getAsync(b("c"), ReadConsistency.LINEARIZABLE);
      Sent first = nodes.next();
      KvRequest.Multi m = assertInstanceOf(KvRequest.Multi.class, first.request());
      assertEquals(2, m.items().size(), "the two writes share a multi; the get goes apart");
      KvRequest.Write refused = (KvRequest.Write) m.items().get(1).request();
      Sent read = nodes.next();
      assertInstanceOf(KvRequest.Get.class, read.request());
      read.reply(read("c-value"));
      first.reply(new KvResponse.Multi(List.of(new KvResponse.Written(true),
          KvResponse.Failure.notLeader(1, 2, "127.0.0.1:2"))));
      p0.get(1, TimeUnit.SECONDS);
      assertEquals("c-value", new String(g.get(1, TimeUnit.SECONDS).orElseThrow(), StandardCharsets.UTF_8));
      assertFalse(p1.isDone());
      Sent retry = nodes.next();
      assertEquals("127.0.0.1:2", retry.address(), "the hint is followed");
      KvRequest.Write again = assertInstanceOf(KvRequest.Write.class, retry.request());
      assertEquals(refused.seq(), again.seq(), "a retry keeps its session sequence number");
      assertEquals(refused.clientId(), again.clientId());
      retry.reply(new KvResponse.Written(true));
      p1.get(1, TimeUnit.SECONDS);
    }
  }

  @Test
  void writesOfALostMultiArePossiblyDeliveredAndRetriedWithTheirSequenceNumbers() throws Exception {
    FakeNodes nodes = new FakeNodes();
    try (KvClient client = client(nodes, Duration.ofMillis(600))) {
      CompletableFuture<Void> w0 = client.putAsync(b("a"), b("0"));
      CompletableFuture<Boolean> w1 = client.deleteAsync(b("b"));
      CompletableFuture<Optional<byte[]>> r = client.getAsync(b("c"), ReadConsistency.LINEARIZABLE);
      Sent lost = nodes.next();
      KvRequest.Multi m = assertInstanceOf(KvRequest.Multi.class, lost.request());
      List<Long> seqs = m.items().stream().filter(i -> i.request() instanceof KvRequest.Write)
          .map(i -> ((KvRequest.Write) i.request()).seq()).toList();
      List<Long> retried = java.util.Collections.synchronizedList(new ArrayList<>());
      // From now on every node knows no leader: what the calls end with is decided by the lost frame.
      nodes.script = s -> {
        List<KvRequest> rs = s.request() instanceof KvRequest.Multi mm
            ? mm.items().stream().map(KvRequest.Multi.Item::request).toList() : List.of(s.request());
        rs.stream().filter(x -> x instanceof KvRequest.Write).forEach(x -> retried.add(((KvRequest.Write) x).seq()));
        KvResponse.Failure none = KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "no leader");
        return rs.size() == 1 ? none : new KvResponse.Multi(rs.stream().map(x -> (KvResponse) none).toList());
      };
      Thread io = new Thread(() -> {
        while (!w0.isDone() || !w1.isDone() || !r.isDone()) {
          nodes.runIo();
          Thread.onSpinWait();
        }
      });
      io.setDaemon(true);
      io.start();
      lost.answer().completeExceptionally(new TimeoutException("no answer within 1000 ms"));
      for (CompletableFuture<?> w : List.of(w0, w1)) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> w.get(5, TimeUnit.SECONDS));
        KvException kv = assertInstanceOf(KvException.class, e.getCause());
        assertTrue(kv.outcomeUnknown(), "a write of a lost frame may have been applied: " + kv);
        assertInstanceOf(KvTimeoutException.class, kv);
      }
      ExecutionException e = assertThrows(ExecutionException.class, () -> r.get(5, TimeUnit.SECONDS));
      assertInstanceOf(ClusterUnavailableException.class, e.getCause(), "a read has no effect");
      io.join(5000);
      assertFalse(retried.isEmpty());
      assertTrue(seqs.containsAll(retried), "retries reuse the lost writes' sequence numbers: " + seqs + " " + retried);
    }
  }

  @Test
  void aClosedClientFailsItsQueuedCallsWithNodeClosed() throws Exception {
    FakeNodes nodes = new FakeNodes();
    KvClient client = client(nodes, Duration.ofSeconds(5));
    CompletableFuture<Void> w = client.putAsync(b("a"), b("0"));
    CompletableFuture<Optional<byte[]>> r = client.getAsync(b("b"), ReadConsistency.LINEARIZABLE);
    client.close();
    for (CompletableFuture<?> f : List.of(w, r)) {
      ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(1, TimeUnit.SECONDS));
      assertInstanceOf(NodeClosedException.class, e.getCause());
    }
    nodes.runIo();
    assertNull(nodes.sent.poll(), "nothing goes out after close");
  }
}
