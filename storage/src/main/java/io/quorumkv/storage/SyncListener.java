package io.quorumkv.storage;

/**
 * Told about every synced write, on the thread that did it (the log writer): it must return
 * quickly and must not throw (a thrown exception is logged and ignored). Typical use: record
 * {@link SyncEvent#durationNanos()} in a latency histogram.
 */
@FunctionalInterface
public interface SyncListener {

  /** Called after each synced write, successful or not. */
  void onSync(SyncEvent event);
}
