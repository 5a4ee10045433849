package io.quorumkv;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;

/**
 * Makes one attempt of a request: an embedded node routes it to the partition's leader (itself
 * or a forward), a remote client sends it to one node. {@link KvFrontend} owns the retry loop,
 * the deadline and the session around it.
 */
interface RequestExecutor {

  /**
   * One attempt. The future completes with the response (possibly a {@link KvResponse.Failure}),
   * or exceptionally with a {@link KvException} that no retry can help (the node was closed).
   * It need not complete by {@code deadlineNanos}: the frontend stops waiting then.
   *
   * @param request       what to do
   * @param deadlineNanos {@link System#nanoTime()} by which the attempt is abandoned
   * @param previous      the previous attempt's failure, or null: lets a client follow a
   *                      leader hint or move to another node
   */
  CompletableFuture<KvResponse> attempt(KvRequest request, long deadlineNanos, KvResponse.Failure previous);

  /** Whether {@link KvResponse.Code#NOT_LEADER} is retried (client redirect) or surfaced (node REJECT policy). */
  boolean followsLeaderHints();

  /** Which nodes the attempts go to, for a person reading a failure: "nodes a:1, b:2". */
  String targets();

  /** Timers for backoff and deadlines. */
  ScheduledExecutorService scheduler();
}
