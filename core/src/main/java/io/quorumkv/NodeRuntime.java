package io.quorumkv;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;

/** The threads, Raft groups, storage and transport of one {@link KvNode}. */
final class NodeRuntime implements RequestExecutor {

  /** Test hooks: what the node is built from. */
  static final class Overrides {
  }

  NodeRuntime(KvNodeConfig config, Overrides overrides) {
  }

  void start() {
    throw new UnsupportedOperationException("node runtime: work in progress");
  }

  void close() {
  }

  @Override
  public CompletableFuture<KvResponse> attempt(KvRequest request, long deadlineNanos, KvResponse.Failure previous) {
    return CompletableFuture.failedFuture(new NodeClosedException("node runtime: work in progress", false));
  }

  @Override
  public boolean followsLeaderHints() {
    return false;
  }

  @Override
  public ScheduledExecutorService scheduler() {
    throw new UnsupportedOperationException("node runtime: work in progress");
  }
}
