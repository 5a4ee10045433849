package io.quorumkv;

import io.micrometer.core.instrument.Timer;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Computes a node's replica hashes ({@link PartitionStateMachine.HashJob}) on a thread of its own,
 * one at a time and at a bounded rate, so that no applier waits for one.
 *
 * <p>Why: every replica of a partition applies a hash check at the same entry. Hashed on the
 * applier, a partition of 100,000 values stalled every replica's applies at once, for 2.1-2.7 s
 * each on a loaded two-core machine; the leaders' apply queues filled, proposals were refused as
 * overloaded and puts waited up to half a second (docs/benchmarks.md, finding 78). Here a hash
 * reads the state from a view pinned at its entry, so its value is the same whenever it runs, and
 * at {@link #BYTES_PER_SECOND} it takes little CPU at any moment.
 *
 * <p>Queued jobs are bounded by the node's partitions: a job for a partition whose previous job
 * is still waiting replaces it (the older one's view is released unread). Thread-safe.
 */
final class ReplicaHasher {

  /** Data hashed per second at most: 100,000 values of 256 bytes take about half a second. */
  static final long BYTES_PER_SECOND = 64L << 20;

  private record Queued(long group, PartitionStateMachine.HashJob job,
      Consumer<PartitionStateMachine.ReplicaHash> onHashed) {}

  private static final Logger log = LoggerFactory.getLogger(ReplicaHasher.class);

  private final String who;
  private final long bytesPerSecond;
  private final Timer durations;
  private final LongConsumer beforeHash;
  /** Waiting jobs by partition, oldest first; guarded by itself. */
  private final LinkedHashMap<Long, Queued> waiting = new LinkedHashMap<>();
  private final Thread thread;
  private volatile boolean closed;

  /** {@code beforeHash} runs on the hasher's thread with the partition before each hash (tests). */
  ReplicaHasher(String who, long bytesPerSecond, Timer durations, LongConsumer beforeHash) {
    this.who = who;
    this.bytesPerSecond = bytesPerSecond;
    this.durations = durations;
    this.beforeHash = beforeHash;
    this.thread = new Thread(this::run, "quorumkv-hasher-" + who);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Queues {@code job} of partition {@code group}; {@code onHashed} gets its hash, on this
   * hasher's thread. A job queued after {@link #close()} is dropped.
   */
  void submit(long group, PartitionStateMachine.HashJob job, Consumer<PartitionStateMachine.ReplicaHash> onHashed) {
    Queued replaced;
    synchronized (waiting) {
      if (closed) {
        replaced = new Queued(group, job, onHashed);
      } else {
        replaced = waiting.remove(group); // re-inserted last: in arrival order
        waiting.put(group, new Queued(group, job, onHashed));
        waiting.notifyAll();
      }
    }
    if (replaced != null) {
      // Its replica never reports that index: a check waiting for it (KvAdmin#replicaHashes) misses this replica.
      log.info("{}: the replica hash of partition {} at index {} was dropped unread: the check at index {} came "
          + "before it was computed", who, group, replaced.job().index(), job.index());
      replaced.job().drop();
    }
  }

  /** Jobs waiting (tests). */
  int waiting() {
    synchronized (waiting) {
      return waiting.size();
    }
  }

  /**
   * Stops: the job in progress gives up at its next page, waiting jobs are dropped, and this
   * returns once the thread ended (or after 10 s), so that no view outlives the storage engine.
   */
  void close() {
    synchronized (waiting) {
      closed = true;
      waiting.values().forEach(q -> q.job().drop());
      waiting.clear();
      waiting.notifyAll();
    }
    thread.interrupt();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (thread.isAlive()) {
      log.warn("{}: a replica hash is still being computed at close", who);
    }
  }

  private void run() {
    while (true) {
      Queued next;
      synchronized (waiting) {
        while (waiting.isEmpty() && !closed) {
          try {
            waiting.wait();
          } catch (InterruptedException e) {
            // closed, or spurious: the loop condition decides
          }
        }
        if (closed) {
          return;
        }
        Iterator<Map.Entry<Long, Queued>> oldest = waiting.entrySet().iterator();
        next = oldest.next().getValue();
        oldest.remove();
      }
      hash(next);
    }
  }

  private void hash(Queued q) {
    PartitionStateMachine.ReplicaHash h;
    long start;
    try {
      beforeHash.accept(q.group());
      start = System.nanoTime();
      h = q.job().compute(bytes -> pace(start, bytes));
    } catch (RuntimeException e) {
      q.job().drop();
      if (!closed) {
        log.warn("{}: replica hash at index {} failed: {}", who, q.job().index(), e.toString());
      }
      return;
    }
    if (h == null) {
      return; // given up: closing
    }
    durations.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    try {
      q.onHashed().accept(h);
    } catch (RuntimeException e) {
      log.warn("{}: acting on replica hash at index {} failed", who, h.index(), e);
    }
  }

  /** Sleeps until {@code bytes} are within the rate since {@code start}; false once closed. */
  private boolean pace(long start, long bytes) {
    long due = start + (long) (bytes * 1e9 / bytesPerSecond);
    long wait = due - System.nanoTime();
    if (wait > 0 && !closed) {
      try {
        TimeUnit.NANOSECONDS.sleep(wait);
      } catch (InterruptedException e) {
        return false;
      }
    }
    return !closed;
  }
}
