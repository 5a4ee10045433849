package io.quorumkv.storage;

import java.nio.ByteBuffer;

/**
 * Per-thread direct buffers that records are sealed into and that RocksDB copies keys from, so
 * that a log entry or a state value goes from its encoding into a write batch without a heap
 * array of its own (benchmarks.md, finding 93: two of the four per-byte copies of every value).
 * A buffer is valid on its thread until the next call for the same slot; writers hand it to
 * {@link Backend.Batch#put(Backend.Cf, byte[], ByteBuffer)} at once, which copies it.
 */
final class Scratch {

  /**
   * Records above this many bytes get a heap buffer of their own: a direct buffer kept per
   * thread for a rare large value would hold native memory for the thread's life.
   */
  static final int MAX_DIRECT_BYTES = 256 << 10;

  private static final int MIN_CAPACITY = 4 << 10;

  /** [0]: records (the values put); [1]: keys. */
  private static final ThreadLocal<ByteBuffer[]> BUFFERS =
      ThreadLocal.withInitial(() -> new ByteBuffer[2]);

  private Scratch() {}

  /** A cleared buffer of at least {@code size} bytes for a record: direct up to {@link #MAX_DIRECT_BYTES}. */
  static ByteBuffer record(int size) {
    return size > MAX_DIRECT_BYTES ? ByteBuffer.allocate(size) : direct(0, size);
  }

  /** {@code key} copied into this thread's direct key buffer, ready to read. */
  static ByteBuffer key(byte[] key) {
    ByteBuffer b = direct(1, key.length);
    return b.put(key).flip();
  }

  private static ByteBuffer direct(int slot, int size) {
    ByteBuffer[] buffers = BUFFERS.get();
    ByteBuffer b = buffers[slot];
    if (b == null || b.capacity() < size) {
      int capacity = Math.max(MIN_CAPACITY, Integer.highestOneBit(Math.max(size - 1, 1)) << 1);
      b = ByteBuffer.allocateDirect(Math.max(capacity, size));
      buffers[slot] = b;
    }
    return b.clear();
  }
}
