package io.quorumkv.transport;

import io.quorumkv.transport.proto.Response;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/** Requests sent on a connection and waiting for their responses, each with its deadline. */
final class PendingRequests {

  private final Map<Long, CompletableFuture<byte[]>> pending = new ConcurrentHashMap<>();
  private final AtomicLong nextId = new AtomicLong();

  /**
   * Registers {@code result} under a new id and fails it with a {@link TimeoutException} at the
   * deadline; returns the id.
   *
   * @throws java.util.concurrent.RejectedExecutionException if {@code timers} is shut down
   */
  long register(CompletableFuture<byte[]> result, ScheduledExecutorService timers,
      Duration deadline, String peer) {
    long id = nextId.incrementAndGet();
    pending.put(id, result);
    try {
      var timer = timers.schedule(() -> {
        if (pending.remove(id) != null) {
          result.completeExceptionally(new TimeoutException(
              "no response from " + peer + " within " + deadline.toMillis() + " ms"));
        }
      }, deadline.toNanos(), TimeUnit.NANOSECONDS);
      result.whenComplete((r, e) -> {
        pending.remove(id);
        timer.cancel(false);
      });
    } catch (RuntimeException e) {
      pending.remove(id);
      throw e;
    }
    return id;
  }

  /** Completes the request a response answers; late answers are ignored. */
  void complete(Response response) {
    CompletableFuture<byte[]> f = pending.remove(response.getId());
    if (f == null) {
      return;
    }
    switch (response.getResultCase()) {
      case PAYLOAD -> f.complete(response.getPayload().toByteArray());
      case ERROR -> f.completeExceptionally(new TransportException(
          TransportException.Reason.REMOTE_ERROR, response.getError()));
      case RESULT_NOT_SET -> f.completeExceptionally(new TransportException(
          TransportException.Reason.REMOTE_ERROR, "empty response"));
    }
  }

  /** Fails every waiting request. */
  void failAll(TransportException cause) {
    pending.values().forEach(f -> f.completeExceptionally(cause));
  }
}
