package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A call's outcome is that of all its attempts: once one attempt of a write may have applied it
 * (its leader proposed it, then lost leadership or closed), a later attempt that certainly did
 * nothing (its node is closed now, or is not the leader) must not make the call report the write
 * as certainly not applied. Found by {@code ScheduleRunnerProperties} (seed 3197345700810998810,
 * {@code [wait 11ms, crash leader]}): a delete its leader had proposed was answered "proposed and
 * may still apply" as the leader crashed, its retry met the closed node, and the call failed with
 * {@code outcomeUnknown() == false}; the next leader applied the delete, and the history was not
 * linearizable.
 */
class KvFrontendOutcomeTest {

  private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();

  @AfterEach
  void stopTimers() {
    timers.shutdownNow();
  }

  @Test
  void aWriteThatMayHaveAppliedStaysUnknownWhenItsRetryFindsTheNodeClosed() {
    KvException failure = failureOf(true,
        () -> CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.TIMEOUT,
            "node 1 is closed; the write was proposed and may still apply")),
        () -> CompletableFuture.failedFuture(new NodeClosedException("node 1 is closed", false)));
    assertInstanceOf(NodeClosedException.class, failure);
    assertTrue(failure.outcomeUnknown(), "an earlier attempt may have applied it, yet: " + failure);
  }

  @Test
  void aWriteThatMayHaveAppliedStaysUnknownWhenItsRetryIsRefusedAsNotTheLeader() {
    KvException failure = failureOf(false,
        () -> CompletableFuture.completedFuture(new KvResponse.Failure(KvResponse.Code.NO_LEADER,
            "forwarding to node 1: connection reset", 0, 0, "", true)),
        () -> CompletableFuture.completedFuture(KvResponse.Failure.notLeader(1, 2, "")));
    assertTrue(failure.outcomeUnknown(), "an earlier attempt may have applied it, yet: " + failure);
  }

  @Test
  void aWriteNoAttemptOfWhichCanHaveAppliedIsStillCertainlyNotApplied() {
    KvException closed = failureOf(true,
        () -> CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.CLOSED,
            "node 1 is not accepting work")),
        () -> CompletableFuture.failedFuture(new NodeClosedException("node 1 is closed", false)));
    assertFalse(closed.outcomeUnknown(), "nothing was proposed, yet: " + closed);
    KvException notLeader = failureOf(false,
        () -> CompletableFuture.completedFuture(KvResponse.Failure.notLeader(1, 2, "")));
    assertInstanceOf(NotLeaderException.class, notLeader);
    assertFalse(notLeader.outcomeUnknown(), "refused up front, yet: " + notLeader);
  }

  /**
   * A refusal as invalid that follows an attempt whose answer was lost (a removal of a node that
   * the lost attempt removed, a split at the key the lost attempt split at) does not make the call
   * certainly failed: it fails as unknown, the refusal its cause. Until session 22 it surfaced as
   * the bare {@link IllegalArgumentException}, which says "certainly not applied".
   */
  @Test
  void anAdminCallRefusedAsInvalidAfterALostAttemptIsUnknown() {
    Deque<Supplier<CompletableFuture<KvResponse>>> script = new ArrayDeque<>(java.util.List.of(
        () -> CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.TIMEOUT, "no answer within 1000 ms")),
        () -> CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
            "node 4 is not a member of any partition (never added, or already removed)"))));
    KvFrontend frontend = new KvFrontend(1024, 1024, executor(true, script));
    RuntimeException failure = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
        () -> frontend.admin(new AdminOp.RemoveNode(4), Duration.ofSeconds(10)));
    assertEquals(0, script.size(), "every scripted attempt is made");
    KvException kv = assertInstanceOf(KvException.class, failure, "the refusal surfaced as certain: " + failure);
    assertTrue(kv.outcomeUnknown(), "the lost attempt may have removed the node, yet: " + kv);
    assertInstanceOf(IllegalArgumentException.class, kv.getCause(), "the refusal is the cause");
  }

  @Test
  void aWriteRefusedAsInvalidAfterALostAttemptIsUnknown() {
    KvException failure = failureOf(true,
        () -> CompletableFuture.failedFuture(new io.quorumkv.transport.TransportException(
            io.quorumkv.transport.TransportException.Reason.LOST, "connection reset after the request was written")),
        () -> CompletableFuture.completedFuture(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
            "a batch must stay in one partition")));
    assertTrue(failure.outcomeUnknown(), "the lost attempt may have applied it, yet: " + failure);
  }

  /** A delete through a frontend whose attempts answer in turn as {@code attempts} says. */
  @SafeVarargs
  private KvException failureOf(boolean followsLeaderHints, Supplier<CompletableFuture<KvResponse>>... attempts) {
    Deque<Supplier<CompletableFuture<KvResponse>>> script = new ArrayDeque<>(java.util.List.of(attempts));
    KvFrontend frontend = new KvFrontend(1024, 1024, executor(followsLeaderHints, script));
    CompletableFuture<Boolean> call = frontend.delete("k".getBytes(StandardCharsets.UTF_8), Duration.ofSeconds(10));
    try {
      call.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertEquals(0, script.size(), "every scripted attempt is made");
      return assertInstanceOf(KvException.class, e.getCause());
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("the call succeeded");
  }

  /** An executor whose attempts answer in turn as {@code script} says. */
  private RequestExecutor executor(boolean followsLeaderHints, Deque<Supplier<CompletableFuture<KvResponse>>> script) {
    return new RequestExecutor() {
      @Override
      public CompletableFuture<KvResponse> attempt(KvRequest request, long deadlineNanos, KvResponse.Failure previous) {
        Supplier<CompletableFuture<KvResponse>> next = script.poll();
        assertTrue(next != null, "more attempts than scripted");
        return next.get();
      }

      @Override
      public boolean followsLeaderHints() {
        return followsLeaderHints;
      }

      @Override
      public String targets() {
        return "node 1";
      }

      @Override
      public ScheduledExecutorService scheduler() {
        return timers;
      }
    };
  }
}
