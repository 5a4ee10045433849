package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.RequestCoalescerTest.FakeNodes;
import io.quorumkv.RequestCoalescerTest.Sent;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Deadlines enforced by one sweep per tick ({@link DeadlineSweep}) rather than a timer task per call:
 * a call whose deadline passes fails then (not never, not early), an attempt that is not answered
 * is abandoned and retried, an answered call leaves nothing behind, and the sweep stops when nothing
 * is pending and starts again with the next call.
 */
class DeadlineSweepTest {

  private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static KvClient client(FakeNodes nodes, Duration timeout) {
    return KvClient.builder().addresses(List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"))
        .requestTimeout(timeout).connector(nodes).build();
  }

  /** Something with one deadline, recording when the sweep saw it due. */
  private static final class Due implements DeadlineSweep.Swept {
    final long deadline;
    final AtomicLong firedAt = new AtomicLong();

    Due(long deadline) {
      this.deadline = deadline;
    }

    @Override
    public boolean isDone() {
      return firedAt.get() != 0;
    }

    @Override
    public long dueNanos() {
      return deadline;
    }

    @Override
    public void onDue(long now) {
      assertTrue(now - deadline >= 0, "acted on only once due");
      firedAt.compareAndSet(0, now);
    }
  }

  private static void awaitTrue(String what, java.util.function.BooleanSupplier c) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!c.getAsBoolean()) {
      if (System.nanoTime() - end > 0) {
        throw new AssertionError("not within 10 s: " + what);
      }
      Thread.sleep(1);
    }
  }

  @Test
  void eachDeadlineFiresNotBeforeItFallsAndTheSweepStopsWhenNothingIsWatchedThenRestarts() throws Exception {
    ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1);
    try {
      DeadlineSweep<Due> sweep = new DeadlineSweep<>(() -> timer);
      long now = System.nanoTime();
      List<Due> dues = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        Due d = new Due(now + (5 + 7L * i) * MS);
        dues.add(d);
        sweep.add(d);
      }
      awaitTrue("every deadline swept", () -> dues.stream().allMatch(d -> d.firedAt.get() != 0));
      for (Due d : dues) {
        assertTrue(d.firedAt.get() - d.deadline >= 0, "never before its deadline");
      }
      assertTrue(sweep.pending().isEmpty());
      // Nothing pending: the sweep does not reschedule itself (an idle client wakes no thread).
      awaitTrue("no sweep scheduled once idle", () -> timer.getQueue().isEmpty() && timer.getActiveCount() == 0);
      Thread.sleep(3 * DeadlineSweep.TICK_NANOS / MS);
      assertTrue(timer.getQueue().isEmpty(), "still idle");
      // The next call starts it again.
      Due late = new Due(System.nanoTime() + 20 * MS);
      sweep.add(late);
      awaitTrue("the sweep restarted for a new deadline", () -> late.firedAt.get() != 0);
    } finally {
      timer.shutdownNow();
    }
  }

  @Test
  void aClosedTimerRefusesToWatchADeadline() {
    ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1);
    timer.shutdownNow();
    DeadlineSweep<Due> sweep = new DeadlineSweep<>(() -> timer);
    assertThrows(RejectedExecutionException.class, () -> sweep.add(new Due(System.nanoTime())));
    assertTrue(sweep.pending().isEmpty(), "what nothing would enforce is not kept");
  }

  @Test
  void aCallToANodeThatNeverAnswersFailsAtItsDeadline() throws Exception {
    FakeNodes nodes = new FakeNodes();
    Duration timeout = Duration.ofMillis(300);
    try (KvClient client = client(nodes, timeout)) {
      long start = System.nanoTime();
      CompletableFuture<Optional<byte[]>> get = client.getAsync(b("k"), ReadConsistency.LINEARIZABLE);
      CompletableFuture<Void> put = client.putAsync(b("k"), b("v"));
      nodes.runIo(); // sent, never answered
      ExecutionException e = assertThrows(ExecutionException.class, () -> get.get(10, TimeUnit.SECONDS));
      long getFailedAfter = System.nanoTime() - start;
      assertInstanceOf(ClusterUnavailableException.class, e.getCause(), "a read has no effect");
      e = assertThrows(ExecutionException.class, () -> put.get(10, TimeUnit.SECONDS));
      KvTimeoutException t = assertInstanceOf(KvTimeoutException.class, e.getCause());
      assertTrue(t.outcomeUnknown(), "a sent write may have been applied");
      assertTrue(getFailedAfter >= timeout.toNanos(), "not before the deadline: " + getFailedAfter / MS + " ms");
      // On time: a tick late at most, give or take a busy machine's scheduling (never "at some point").
      assertTrue(getFailedAfter < timeout.toNanos() + TimeUnit.SECONDS.toNanos(2),
          "failed " + getFailedAfter / MS + " ms after the call, deadline 300 ms");
      assertEquals(0, client.frontend().pendingCalls());
    }
  }

  @Test
  void anUnansweredAttemptIsAbandonedAfterItsOwnDeadlineAndRetriedWithinTheCalls() throws Exception {
    FakeNodes nodes = new FakeNodes();
    try (KvClient client = client(nodes, Duration.ofSeconds(8))) {
      long start = System.nanoTime();
      CompletableFuture<Void> put = client.putAsync(b("k"), b("v"));
      Sent lost = nodes.next();
      KvRequest.Write first = assertInstanceOf(KvRequest.Write.class, lost.request());
      // The first attempt is never answered; after KvFrontend.MAX_ATTEMPT the call tries again.
      Sent retry = nodes.next();
      long retriedAfter = System.nanoTime() - start;
      assertTrue(retriedAfter >= KvFrontend.MAX_ATTEMPT.toNanos(), "retried after " + retriedAfter / MS + " ms");
      assertTrue(retriedAfter < TimeUnit.SECONDS.toNanos(4), "retried after " + retriedAfter / MS + " ms");
      assertFalse(put.isDone());
      KvRequest.Write again = assertInstanceOf(KvRequest.Write.class, retry.request());
      assertEquals(first.seq(), again.seq(), "the same write, at most once");
      retry.reply(new KvResponse.Written(true));
      put.get(5, TimeUnit.SECONDS);
      assertEquals(0, client.frontend().pendingCalls(), "an answered call leaves nothing behind");
    }
  }

  @Test
  void answeredCallsLeaveNothingBehindAndAckThemselvesToTheNextWrite() throws Exception {
    FakeNodes nodes = new FakeNodes();
    nodes.script = s -> s.request() instanceof KvRequest.Multi m
        ? new KvResponse.Multi(m.items().stream().map(i -> (KvResponse) new KvResponse.Written(true)).toList())
        : new KvResponse.Written(true);
    try (KvClient client = client(nodes, Duration.ofSeconds(5))) {
      List<CompletableFuture<Void>> puts = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        puts.add(client.putAsync(b("k" + i), b("v")));
      }
      nodes.runIo();
      for (CompletableFuture<Void> p : puts) {
        p.get(5, TimeUnit.SECONDS);
      }
      assertEquals(0, client.frontend().pendingCalls());
      List<KvRequest> seen = new ArrayList<>();
      nodes.script = s -> {
        seen.add(s.request());
        return new KvResponse.Written(true);
      };
      client.putAsync(b("last"), b("v"));
      nodes.runIo();
      KvRequest.Write last = assertInstanceOf(KvRequest.Write.class, seen.get(0));
      assertEquals(301, last.seq());
      assertEquals(301, last.ackedBelow(), "every earlier write was answered: nothing below is in flight");
    }
  }
}
