package io.quorumkv.storage;

import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the engine's synced writes so a stalled disk is noticed while it stalls, not after.
 *
 * <p>How the driver uses it: the Raft loop, on every tick, reads {@link #syncInProgressSince()};
 * if a sync has been running longer than the configured bound (say 2 s, well above the p99.9 of
 * a healthy disk and below the election timeout), every group this node leads steps down
 * (transfers leadership to an up-to-date follower) so the groups keep serving while the disk is
 * stuck, and the node stops campaigning until the sync returns. The listener hook
 * ({@link #addListener}) feeds latency metrics.
 *
 * <p>Synced writes and syncs are serialised by the engine, so at most one is in progress at a
 * time.
 */
public final class SyncMonitor {

  private static final Logger LOG = LoggerFactory.getLogger(SyncMonitor.class);
  private static final long IDLE = Long.MIN_VALUE;

  private final AtomicLong inProgressSince = new AtomicLong(IDLE);
  private final CopyOnWriteArrayList<SyncListener> listeners = new CopyOnWriteArrayList<>();
  private final LongAdder syncs = new LongAdder();
  private final LongAdder entries = new LongAdder();
  private final AtomicLong maxDurationNanos = new AtomicLong();

  SyncMonitor() {}

  /**
   * The {@link System#nanoTime()} at which the sync now in progress started, or empty when no
   * sync is in progress. Compare with {@code System.nanoTime()} to get its age.
   */
  public OptionalLong syncInProgressSince() {
    long since = inProgressSince.get();
    return since == IDLE ? OptionalLong.empty() : OptionalLong.of(since);
  }

  /** How long the sync in progress has been running at {@code nowNanos}; 0 when idle. */
  public long syncAgeNanos(long nowNanos) {
    long since = inProgressSince.get();
    return since == IDLE ? 0 : Math.max(0, nowNanos - since);
  }

  /** Registers a listener told about every sync. */
  public void addListener(SyncListener listener) {
    listeners.add(listener);
  }

  /** Removes a listener. */
  public void removeListener(SyncListener listener) {
    listeners.remove(listener);
  }

  /** Synced writes completed so far (successful or not). */
  public long syncCount() {
    return syncs.sum();
  }

  /** Log entries made durable so far. */
  public long syncedEntries() {
    return entries.sum();
  }

  /** The longest sync seen so far, in nanoseconds. */
  public long maxSyncNanos() {
    return maxDurationNanos.get();
  }

  long begin() {
    long now = System.nanoTime();
    inProgressSince.set(now);
    return now;
  }

  void end(long start, int batchCount, int entryCount, long bytes, Throwable failure) {
    long duration = System.nanoTime() - start;
    inProgressSince.set(IDLE);
    syncs.increment();
    entries.add(entryCount);
    maxDurationNanos.accumulateAndGet(duration, Math::max);
    SyncEvent event =
        new SyncEvent(
            start,
            duration,
            batchCount,
            entryCount,
            bytes,
            java.util.Optional.ofNullable(failure));
    for (SyncListener l : listeners) {
      try {
        l.onSync(event);
      } catch (RuntimeException e) {
        LOG.warn("sync listener {} threw; ignored", l, e);
      }
    }
  }
}
