package io.quorumkv;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/** A {@link KvStore} view whose calls carry a deadline other than the configured default. */
final class TimedKvStore implements KvStore {

  private final KvFrontend frontend;
  private final Duration timeout;

  TimedKvStore(KvFrontend frontend, Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, was " + timeout);
    }
    this.frontend = frontend;
    this.timeout = timeout;
  }

  @Override
  public CompletableFuture<Void> putAsync(byte[] key, byte[] value) {
    return frontend.put(key, value, timeout);
  }

  @Override
  public CompletableFuture<Optional<byte[]>> getAsync(byte[] key, ReadConsistency consistency) {
    return frontend.get(key, consistency, timeout);
  }

  @Override
  public CompletableFuture<ReadResult> readAsync(byte[] key, ReadConsistency consistency) {
    return frontend.read(key, consistency, timeout);
  }

  @Override
  public CompletableFuture<Boolean> deleteAsync(byte[] key) {
    return frontend.delete(key, timeout);
  }

  @Override
  public CompletableFuture<Boolean> compareAndSetAsync(byte[] key, byte[] expected, byte[] newValue) {
    return frontend.compareAndSet(key, Optional.of(expected), newValue, timeout);
  }

  @Override
  public CompletableFuture<Boolean> putIfAbsentAsync(byte[] key, byte[] value) {
    return frontend.compareAndSet(key, Optional.empty(), value, timeout);
  }

  @Override
  public CompletableFuture<List<KeyValue>> scanAsync(
      byte[] fromInclusive, byte[] toExclusive, int limit, ReadConsistency consistency) {
    return frontend.scan(fromInclusive, toExclusive, limit, consistency, timeout);
  }

  @Override
  public CompletableFuture<Boolean> batchAsync(List<BatchOp> ops) {
    return frontend.batch(ops, timeout);
  }

  @Override
  public KvStore withTimeout(Duration t) {
    return new TimedKvStore(frontend, t);
  }
}
