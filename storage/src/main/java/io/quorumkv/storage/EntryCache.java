package io.quorumkv.storage;

import io.quorumkv.raft.Entry;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The newest durable entries of one group's log, in memory, so that the entries a node applies
 * right after they commit, and the AppendEntries for a follower slightly behind, are not read back
 * from the database (an iterator, a CRC check and a copy per entry).
 *
 * <p>The cache holds a contiguous run {@code [firstIndex, lastIndex]} of the log, at most its bound
 * of {@link Entry#sizeBytes()} (read at each append: the engine shares a node-wide bound among its
 * groups, see {@link StorageOptions#nodeEntryCacheBytes()}); the oldest entries leave first. The
 * engine's writer changes it after each synced write and before it publishes the new
 * {@link LogView}, in the same order as the database: appends (which drop a replaced suffix
 * first), compactions, and clears when a snapshot is installed or the group is deleted. So every
 * entry it holds is on disk, and a reader that checks an answer against the view it read first
 * (as {@link GroupLogStore} does for disk reads) can tell a changed log from an unchanged one.
 * Entries are shared, never copied: an entry's data is immutable once appended.
 *
 * <p>Thread-safe: one writer (under the engine's write lock), any number of readers; every method
 * holds the monitor for a bounded copy of references only.
 */
final class EntryCache {

  private final LongSupplier bound;
  /** Ring buffer: the entry at {@code firstIndex + k} is {@code ring[(head + k) % ring.length]}. */
  private Entry[] ring = new Entry[0];
  private int head;
  private int size;
  private long firstIndex;
  private long bytes;

  /** A cache of at most {@code maxBytes}; 0 caches nothing. */
  EntryCache(long maxBytes) {
    this(() -> maxBytes);
    if (maxBytes < 0) {
      throw new IllegalArgumentException("entry cache bound must not be negative: " + maxBytes);
    }
  }

  /** A cache of at most what {@code bound} says at each append (a bound that shrank trims it then). */
  EntryCache(LongSupplier bound) {
    this.bound = bound;
  }

  /**
   * Records {@code entries} (consecutive, just written) as the end of the log: cached entries from
   * the first one's index on are dropped, then they are appended and the oldest ones evicted.
   */
  synchronized void append(List<Entry> entries) {
    long maxBytes = bound.getAsLong();
    if (maxBytes == 0) {
      clearLocked();
      return;
    }
    if (entries.isEmpty()) {
      return;
    }
    long from = entries.get(0).index();
    if (size > 0 && (from < firstIndex || from > firstIndex + size)) {
      clearLocked(); // not adjacent to what is cached (e.g. after a compaction evicted all of it)
    }
    while (size > 0 && firstIndex + size - 1 >= from) {
      int tail = slot(size - 1);
      bytes -= ring[tail].sizeBytes();
      ring[tail] = null;
      size--;
    }
    for (Entry e : entries) {
      if (e.sizeBytes() > maxBytes) {
        clearLocked(); // one entry larger than the whole cache: the log continues on disk only
        continue;
      }
      if (size == 0) {
        firstIndex = e.index();
      }
      if (size == ring.length) {
        grow();
      }
      ring[slot(size)] = e;
      size++;
      bytes += e.sizeBytes();
      while (bytes > maxBytes) {
        evictOldest();
      }
    }
  }

  /**
   * Forgets entries up to and including {@code index} (compacted into a snapshot, or no longer
   * needed in memory: {@link LogStore#dropCachedEntriesThrough}).
   */
  synchronized void compact(long index) {
    while (size > 0 && firstIndex <= index) {
      evictOldest();
    }
  }

  /** Forgets everything (the log was reset by a snapshot install or deleted). */
  synchronized void clear() {
    clearLocked();
  }

  /**
   * The cached entries from {@code lo} on, below {@code hi}, stopping before {@code maxBytes} is
   * passed but returning at least one; null unless every entry of that answer is cached.
   */
  synchronized List<Entry> get(long lo, long hi, long maxBytes) {
    if (size == 0 || lo < firstIndex || hi - 1 > firstIndex + size - 1 || lo >= hi) {
      return null;
    }
    List<Entry> out = new ArrayList<>((int) Math.min(hi - lo, 256));
    long total = 0;
    for (long i = lo; i < hi; i++) {
      Entry e = ring[slot((int) (i - firstIndex))];
      if (!out.isEmpty() && total + e.sizeBytes() > maxBytes) {
        break;
      }
      total += e.sizeBytes();
      out.add(e);
    }
    return out;
  }

  /** How many entries are cached (for tests and metrics). */
  synchronized int size() {
    return size;
  }

  /** Bytes cached, as counted by {@link Entry#sizeBytes()}. */
  synchronized long bytes() {
    return bytes;
  }

  private void evictOldest() {
    bytes -= ring[head].sizeBytes();
    ring[head] = null;
    head = (head + 1) % ring.length;
    size--;
    firstIndex++;
    if (size == 0) {
      head = 0;
    }
  }

  private void clearLocked() {
    ring = new Entry[0];
    head = 0;
    size = 0;
    bytes = 0;
  }

  private int slot(int k) {
    return (head + k) % ring.length;
  }

  private void grow() {
    Entry[] bigger = new Entry[Math.max(16, ring.length * 2)];
    for (int k = 0; k < size; k++) {
      bigger[k] = ring[slot(k)];
    }
    ring = bigger;
    head = 0;
  }
}
