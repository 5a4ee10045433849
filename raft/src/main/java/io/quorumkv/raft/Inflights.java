package io.quorumkv.raft;

/**
 * The pipelining window of one follower: the last index and the entry bytes of each AppendEntries
 * sent and not yet acknowledged, oldest first, at most {@code capacity} of them and, once they hold
 * {@code maxBytes} of entries or more, no more (etcd's MaxInflightBytes: a follower catching up
 * would otherwise have the leader read and hold capacity times the message size at once). A ring
 * buffer, because it sits on the hot path of every append.
 */
final class Inflights {

  private final long[] buffer;
  private final long[] sizes;
  /** 0: no byte bound. */
  private final long maxBytes;
  /** Position of the oldest in-flight index. */
  private int start;
  private int count;
  private long bytes;

  /** A window of {@code capacity} messages and {@code maxBytes} of entries (0: no byte bound). */
  Inflights(int capacity, long maxBytes) {
    if (capacity <= 0) {
      throw new IllegalArgumentException("capacity must be positive: " + capacity);
    }
    if (maxBytes < 0) {
      throw new IllegalArgumentException("maxBytes must not be negative: " + maxBytes);
    }
    this.buffer = new long[capacity];
    this.sizes = new long[capacity];
    this.maxBytes = maxBytes;
  }

  /**
   * Records an AppendEntries whose last entry is {@code lastIndex} and whose entries hold
   * {@code entryBytes}; indexes only grow.
   */
  void add(long lastIndex, long entryBytes) {
    if (full()) {
      throw new IllegalStateException("inflight window is full");
    }
    if (count > 0 && lastIndex <= newest()) {
      throw new IllegalArgumentException("inflight index " + lastIndex + " not after " + newest());
    }
    int at = (start + count) % buffer.length;
    buffer[at] = lastIndex;
    sizes[at] = entryBytes;
    bytes += entryBytes;
    count++;
  }

  /** Frees every in-flight message up to and including {@code index}: the follower has them. */
  void freeLE(long index) {
    while (count > 0 && buffer[start] <= index) {
      bytes -= sizes[start];
      start = (start + 1) % buffer.length;
      count--;
    }
    if (count == 0) {
      start = 0;
      bytes = 0;
    }
  }

  /** No room for another message: the window is full by count, or holds its byte bound. */
  boolean full() {
    return count == buffer.length || (maxBytes > 0 && bytes >= maxBytes);
  }

  int count() {
    return count;
  }

  /** Entry bytes in flight. */
  long bytes() {
    return bytes;
  }

  void reset() {
    start = 0;
    count = 0;
    bytes = 0;
  }

  private long newest() {
    return buffer[(start + count - 1) % buffer.length];
  }
}
