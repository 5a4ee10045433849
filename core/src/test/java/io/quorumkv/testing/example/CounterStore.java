package io.quorumkv.testing.example;

import io.quorumkv.KvStore;
import io.quorumkv.ReadConsistency;
import java.util.Optional;

/**
 * The store calls the user's counter services make. In production it is {@link #of(KvStore)}
 * over a {@code KvNode}; in a property test, the same calls made through a
 * {@code RecordingKvStore} (see {@link CounterProperties#recorded}), so every call lands in the
 * history.
 */
public interface CounterStore {

  /** {@link KvStore#get(String, ReadConsistency)}. */
  Optional<String> get(String key, ReadConsistency consistency);

  /** {@link KvStore#put(String, String)}. */
  void put(String key, String value);

  /** {@link KvStore#compareAndSet}, or {@link KvStore#putIfAbsent} when {@code expected} is null. */
  boolean compareAndSet(String key, String expected, String newValue);

  /** The production store: a node (or client) of the cluster. */
  static CounterStore of(KvStore kv) {
    return new CounterStore() {
      @Override
      public Optional<String> get(String key, ReadConsistency consistency) {
        return kv.get(key, consistency);
      }

      @Override
      public void put(String key, String value) {
        kv.put(key, value);
      }

      @Override
      public boolean compareAndSet(String key, String expected, String newValue) {
        return expected == null ? kv.putIfAbsent(key, newValue) : kv.compareAndSet(key, expected, newValue);
      }
    };
  }
}
