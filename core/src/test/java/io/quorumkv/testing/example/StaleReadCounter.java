package io.quorumkv.testing.example;

import io.quorumkv.ReadConsistency;

/**
 * A counter as it should NOT be written: it reads the local replica ({@code STALE}: fast, but
 * possibly behind) and writes back what it computed, so two increments that read the same value
 * (or an old one) overwrite each other: lost updates. Its property test shows the kit catching it.
 */
public final class StaleReadCounter {

  private final CounterStore store;

  /** @param store where the counters live */
  public StaleReadCounter(CounterStore store) {
    this.store = store;
  }

  /** Adds one to the counter {@code key}; returns the new value (BUG: not atomic). */
  public long increment(String key) {
    long next = store.get(key, ReadConsistency.STALE).map(Long::parseLong).orElse(0L) + 1;
    store.put(key, Long.toString(next));
    return next;
  }
}
