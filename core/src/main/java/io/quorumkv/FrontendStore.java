package io.quorumkv;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The {@link KvStore} and {@link KvAdmin} calls of an embedded node, a remote client or a view
 * with another deadline: each call becomes a {@link KvFrontend} request with this store's deadline.
 */
abstract sealed class FrontendStore implements KvStore permits KvNode, KvClient, TimedKvStore {

  /** Where calls go. */
  abstract KvFrontend frontend();

  /** The deadline of every call made through this store. */
  abstract Duration timeout();

  @Override
  public CompletableFuture<Void> putAsync(byte[] key, byte[] value) {
    return frontend().put(key, value, timeout());
  }

  @Override
  public CompletableFuture<Optional<byte[]>> getAsync(byte[] key, ReadConsistency consistency) {
    return frontend().get(key, consistency, timeout());
  }

  @Override
  public CompletableFuture<ReadResult> readAsync(byte[] key, ReadConsistency consistency) {
    return frontend().read(key, consistency, timeout());
  }

  @Override
  public CompletableFuture<Boolean> deleteAsync(byte[] key) {
    return frontend().delete(key, timeout());
  }

  @Override
  public CompletableFuture<Boolean> compareAndSetAsync(byte[] key, byte[] expected, byte[] newValue) {
    if (expected == null) {
      return CompletableFuture.failedFuture(new IllegalArgumentException(
          "expected must not be null; use putIfAbsent to compare against absence"));
    }
    return frontend().compareAndSet(key, Optional.of(expected), newValue, timeout());
  }

  @Override
  public CompletableFuture<Boolean> putIfAbsentAsync(byte[] key, byte[] value) {
    return frontend().compareAndSet(key, Optional.empty(), value, timeout());
  }

  @Override
  public CompletableFuture<List<KeyValue>> scanAsync(
      byte[] fromInclusive, byte[] toExclusive, int limit, ReadConsistency consistency) {
    return frontend().scan(fromInclusive, toExclusive, limit, consistency, timeout());
  }

  @Override
  public CompletableFuture<Boolean> batchAsync(List<BatchOp> ops) {
    return frontend().batch(ops, timeout());
  }

  @Override
  public KvStore withTimeout(Duration timeout) {
    return new TimedKvStore(frontend(), timeout);
  }

  // ---- KvAdmin, for the subclasses that implement it ----

  /** See {@link KvAdmin#status()}. */
  public ClusterStatus status() {
    return frontend().status(timeout());
  }

  /** See {@link KvAdmin#transferLeader(long, long)}. */
  public void transferLeader(long partitionId, long toNode) {
    frontend().admin(new AdminOp.TransferLeader(partitionId, toNode), timeout());
  }

  /** See {@link KvAdmin#addNode(long, String)}. */
  public void addNode(long nodeId, String address) {
    frontend().admin(new AdminOp.AddNode(nodeId, address, false), timeout());
  }

  /** See {@link KvAdmin#addLearner(long, String)}. */
  public void addLearner(long nodeId, String address) {
    frontend().admin(new AdminOp.AddNode(nodeId, address, true), timeout());
  }

  /** See {@link KvAdmin#promote(long)}. */
  public void promote(long nodeId) {
    frontend().admin(new AdminOp.Promote(nodeId), timeout());
  }

  /** See {@link KvAdmin#merge(byte[])}. */
  public long merge(byte[] key) {
    return frontend().admin(new AdminOp.Merge(key), timeout());
  }

  /** See {@link KvAdmin#decommission(long)}. */
  public void decommission(long nodeId) {
    frontend().admin(new AdminOp.Decommission(nodeId), timeout());
  }

    /** See {@link KvAdmin#removeNode(long)}. */
  public void removeNode(long nodeId) {
    frontend().admin(new AdminOp.RemoveNode(nodeId), timeout());
  }

  /** See {@link KvAdmin#split(byte[])}. */
  public long split(byte[] splitKey) {
    return frontend().admin(new AdminOp.Split(splitKey), timeout());
  }

  /** See {@link KvAdmin#injectFault(long, Fault)}. */
  public void injectFault(long nodeId, Fault fault) {
    frontend().admin(new AdminOp.InjectFault(nodeId, fault), timeout());
  }

  /** See {@link KvAdmin#replicaHashes()}. */
  public ReplicaHashes replicaHashes() {
    return frontend().replicaHashes(timeout());
  }
}
