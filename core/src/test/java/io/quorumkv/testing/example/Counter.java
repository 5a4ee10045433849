package io.quorumkv.testing.example;

import io.quorumkv.ReadConsistency;
import java.util.Optional;

/**
 * A counter done right: read the current value linearizably, then compare-and-set it to the next
 * one; if another increment got there first the compare fails and nothing was written, so read
 * and try again.
 */
public final class Counter {

  /** Contention gives up after this many lost races, rather than looping forever. */
  static final int MAX_ATTEMPTS = 1_000;

  private final CounterStore store;

  /** @param store where the counters live */
  public Counter(CounterStore store) {
    this.store = store;
  }

  /**
   * Adds one to the counter {@code key}; returns the new value.
   *
   * @throws io.quorumkv.KvException as the store throws it: after a {@code KvTimeoutException}
   *         the increment may or may not have happened
   * @throws IllegalStateException after {@link #MAX_ATTEMPTS} lost races
   */
  public long increment(String key) {
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      Optional<String> current = store.get(key, ReadConsistency.LINEARIZABLE);
      long next = current.map(Long::parseLong).orElse(0L) + 1;
      if (store.compareAndSet(key, current.orElse(null), Long.toString(next))) {
        return next;
      }
    }
    throw new IllegalStateException("counter " + key + " too contended: " + MAX_ATTEMPTS + " attempts");
  }
}
