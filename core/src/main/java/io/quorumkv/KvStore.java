package io.quorumkv;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The key-value operations, the same for an embedded {@link KvNode} and a remote
 * {@link KvClient}.
 *
 * <p>Keys and values are byte arrays, compared as unsigned bytes; the {@code String} overloads
 * encode as UTF-8. A key must be non-empty and at most {@code maxKeySize} bytes, a value at most
 * {@code maxValueSize} bytes; longer ones are rejected up front with {@link KeyTooLargeException}
 * or {@link ValueTooLargeException} (an empty key with {@link IllegalArgumentException}).
 *
 * <p>Every call has a deadline ({@code requestTimeout} of the configuration, or
 * {@link #withTimeout(Duration)}); it never hangs past it. Each {@code ...Async} method returns a
 * future that completes, by the deadline at the latest, normally or with a {@link KvException};
 * each synchronous method waits for that future and throws the exception itself. Within a call,
 * failed attempts are retried with exponential backoff and jitter while the deadline allows, and
 * writes carry a session sequence number so that a retry never applies twice.
 */
public sealed interface KvStore permits FrontendStore {

  /**
   * Sets {@code key} to {@code value}; completes once a majority has it durably (every read
   * issued after that sees it, see docs/guarantees.md).
   */
  CompletableFuture<Void> putAsync(byte[] key, byte[] value);

  /**
   * Reads {@code key} at the given consistency.
   *
   * @return the value, or empty when absent
   */
  CompletableFuture<Optional<byte[]>> getAsync(byte[] key, ReadConsistency consistency);

  /** Like {@link #getAsync} but also reports where and how fresh the read was. */
  CompletableFuture<ReadResult> readAsync(byte[] key, ReadConsistency consistency);

  /**
   * Removes {@code key}.
   *
   * @return whether the key was present
   */
  CompletableFuture<Boolean> deleteAsync(byte[] key);

  /**
   * Sets {@code key} to {@code newValue} if it currently holds {@code expected}.
   *
   * @return true if it was set, false if the current value differed (nothing changed)
   */
  CompletableFuture<Boolean> compareAndSetAsync(byte[] key, byte[] expected, byte[] newValue);

  /**
   * Sets {@code key} to {@code value} if it is absent: a compare-and-set whose expected value is
   * "absent".
   *
   * @return true if it was set, false if the key was present (nothing changed)
   */
  CompletableFuture<Boolean> putIfAbsentAsync(byte[] key, byte[] value);

  /**
   * Up to {@code limit} keys in {@code [fromInclusive, toExclusive)} in ascending unsigned-byte
   * order, with their values. An empty {@code toExclusive} means "to the last key". A range that
   * spans several partitions is read partition by partition, each at the given consistency: the
   * result is not one atomic snapshot across partitions.
   *
   * @param limit at most this many entries; positive
   */
  CompletableFuture<List<KeyValue>> scanAsync(
      byte[] fromInclusive, byte[] toExclusive, int limit, ReadConsistency consistency);

  /**
   * Applies {@code ops} atomically: every write of the batch or none, as one log entry of one
   * partition. All keys must belong to the same partition (otherwise the call fails with
   * {@link IllegalArgumentException} and nothing is applied).
   *
   * @return true if applied; false if an {@link BatchOp.Expect} did not hold (nothing changed)
   */
  CompletableFuture<Boolean> batchAsync(List<BatchOp> ops);

  /**
   * A view of this store whose calls have the given deadline instead of the configured
   * {@code requestTimeout}. Closing the view is not needed; it shares everything with this store.
   */
  KvStore withTimeout(Duration timeout);

  // ---- synchronous forms ----

  /** Synchronous {@link #putAsync}. */
  default void put(byte[] key, byte[] value) {
    Await.result(putAsync(key, value));
  }

  /** Linearizable synchronous {@link #getAsync}. */
  default Optional<byte[]> get(byte[] key) {
    return get(key, ReadConsistency.LINEARIZABLE);
  }

  /** Synchronous {@link #getAsync}. */
  default Optional<byte[]> get(byte[] key, ReadConsistency consistency) {
    return Await.result(getAsync(key, consistency));
  }

  /** Synchronous {@link #readAsync}. */
  default ReadResult read(byte[] key, ReadConsistency consistency) {
    return Await.result(readAsync(key, consistency));
  }

  /** Synchronous {@link #deleteAsync}. */
  default boolean delete(byte[] key) {
    return Await.result(deleteAsync(key));
  }

  /** Synchronous {@link #compareAndSetAsync}. */
  default boolean compareAndSet(byte[] key, byte[] expected, byte[] newValue) {
    return Await.result(compareAndSetAsync(key, expected, newValue));
  }

  /** Synchronous {@link #putIfAbsentAsync}. */
  default boolean putIfAbsent(byte[] key, byte[] value) {
    return Await.result(putIfAbsentAsync(key, value));
  }

  /** Synchronous {@link #scanAsync}. */
  default List<KeyValue> scan(byte[] fromInclusive, byte[] toExclusive, int limit, ReadConsistency consistency) {
    return Await.result(scanAsync(fromInclusive, toExclusive, limit, consistency));
  }

  /** Synchronous {@link #batchAsync}. */
  default boolean batch(List<BatchOp> ops) {
    return Await.result(batchAsync(ops));
  }

  // ---- UTF-8 conveniences ----

  /** {@link #put(byte[], byte[])} of UTF-8 strings. */
  default void put(String key, String value) {
    put(utf8(key), utf8(value));
  }

  /** Linearizable {@link #get(byte[])} of a UTF-8 key and value. */
  default Optional<String> get(String key) {
    return get(key, ReadConsistency.LINEARIZABLE);
  }

  /** {@link #get(byte[], ReadConsistency)} of a UTF-8 key and value. */
  default Optional<String> get(String key, ReadConsistency consistency) {
    return get(utf8(key), consistency).map(v -> new String(v, StandardCharsets.UTF_8));
  }

  /** {@link #delete(byte[])} of a UTF-8 key. */
  default boolean delete(String key) {
    return delete(utf8(key));
  }

  /** {@link #compareAndSet(byte[], byte[], byte[])} of UTF-8 strings. */
  default boolean compareAndSet(String key, String expected, String newValue) {
    return compareAndSet(utf8(key), utf8(expected), utf8(newValue));
  }

  /** {@link #putIfAbsent(byte[], byte[])} of UTF-8 strings. */
  default boolean putIfAbsent(String key, String value) {
    return putIfAbsent(utf8(key), utf8(value));
  }

  /** Linearizable {@link #scan(byte[], byte[], int, ReadConsistency)} of UTF-8 bounds. */
  default List<KeyValue> scan(String fromInclusive, String toExclusive, int limit) {
    return scan(utf8(fromInclusive), utf8(toExclusive), limit, ReadConsistency.LINEARIZABLE);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
