package io.quorumkv.raft;

/**
 * The pipelining window of one follower: the last index of each AppendEntries sent and not yet
 * acknowledged, oldest first, at most {@code capacity} of them. A ring buffer, because it sits on
 * the hot path of every append.
 */
final class Inflights {

  private final long[] buffer;
  /** Position of the oldest in-flight index. */
  private int start;
  private int count;

  Inflights(int capacity) {
    if (capacity <= 0) {
      throw new IllegalArgumentException("capacity must be positive: " + capacity);
    }
    this.buffer = new long[capacity];
  }

  /** Records an AppendEntries whose last entry is {@code lastIndex}; indexes only grow. */
  void add(long lastIndex) {
    if (full()) {
      throw new IllegalStateException("inflight window is full");
    }
    if (count > 0 && lastIndex <= newest()) {
      throw new IllegalArgumentException("inflight index " + lastIndex + " not after " + newest());
    }
    buffer[(start + count) % buffer.length] = lastIndex;
    count++;
  }

  /** Frees every in-flight message up to and including {@code index}: the follower has them. */
  void freeLE(long index) {
    while (count > 0 && buffer[start] <= index) {
      start = (start + 1) % buffer.length;
      count--;
    }
    if (count == 0) {
      start = 0;
    }
  }

  boolean full() {
    return count == buffer.length;
  }

  int count() {
    return count;
  }

  void reset() {
    start = 0;
    count = 0;
  }

  private long newest() {
    return buffer[(start + count - 1) % buffer.length];
  }
}
