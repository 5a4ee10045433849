package io.quorumkv;

/**
 * A session's write sequence numbers: hands them out in order and knows the lowest one still in
 * flight, which every write carries as {@code ackedBelow} (the nodes may forget the results of the
 * session's writes below it: their callers have their answers).
 *
 * <p>A ring of bits over {@code [lowest, next)}, one per number, set when that write finished;
 * {@code lowest} advances over the set bits. It grows (doubling) when more writes are in flight than
 * it holds, so one write stuck until its deadline costs a bit per later write, not an error.
 * Thread-safe; every method is a few instructions under the object's lock. (Before: a
 * {@code ConcurrentSkipListSet<Long>}, a boxed number and a skip-list node per write.)
 */
final class SessionWindow {

  private long next = 1;
  private long lowest = 1;
  /**
   * Bit {@code seq % (64 * finished.length)} (a power of two): whether write {@code seq} in
   * [lowest, next) finished.
   */
  private long[] finished = new long[4];

  /** The next sequence number, now in flight. */
  synchronized long begin() {
    if (next - lowest >= 64L * finished.length) {
      grow();
    }
    return next++;
  }

  /** Write {@code seq} finished (answered or given up). Idempotent; unknown numbers are ignored. */
  synchronized void end(long seq) {
    if (seq < lowest || seq >= next) {
      return;
    }
    long mask = 64L * finished.length - 1; // a power of two: the ring index is a mask, not a division
    int i = (int) (seq & mask);
    finished[i >>> 6] |= 1L << (i & 63);
    while (lowest < next) {
      int j = (int) (lowest & mask);
      long bit = 1L << (j & 63);
      if ((finished[j >>> 6] & bit) == 0) {
        break;
      }
      finished[j >>> 6] &= ~bit;
      lowest++;
    }
  }

  /** The lowest sequence number in flight, or the next one when none is. */
  synchronized long lowest() {
    return lowest;
  }

  private void grow() {
    long oldMask = 64L * finished.length - 1;
    long[] bigger = new long[finished.length * 2];
    long newMask = 64L * bigger.length - 1;
    for (long s = lowest; s < next; s++) {
      int i = (int) (s & oldMask);
      if ((finished[i >>> 6] & (1L << (i & 63))) != 0) {
        int j = (int) (s & newMask);
        bigger[j >>> 6] |= 1L << (j & 63);
      }
    }
    finished = bigger;
  }
}
