package io.quorumkv.storage;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit, pipelined: a write thread takes every {@link LogBatch} submitted since its last
 * write and writes them all with one unsynced write (the write-ahead log orders it before any
 * later write); a sync thread makes what was written durable with one sync and then publishes it
 * to readers. While batch N's fsync runs, batch N+1 is already written. Under load the number of
 * batches per fsync grows by itself with the number of concurrent submitters, while a lone
 * submitter still pays a single fsync. Writes run at most {@value #MAX_UNSYNCED_ROUNDS} rounds
 * ahead of the syncs.
 *
 * <p>{@link #submit} never blocks: it is meant to be called from the Raft loop with each Ready's
 * log writes; the returned future completes (on the sync thread) once the batch is durable and
 * visible through {@link LogStore}, or fails with the reason (an invalid batch fails alone; an I/O
 * failure fails the engine and every batch not yet durable). Futures complete in submission
 * order. Keep continuations short, or use the future's {@code *Async} methods. Backpressure is
 * the caller's: watch {@link #pendingBatches()}.
 */
public final class GroupCommitLogWriter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(GroupCommitLogWriter.class);
  /** The most batches merged into one write, so one sync's latency stays bounded. */
  private static final int MAX_BATCHES_PER_SYNC = 4096;
  /** Rounds written and not yet durable before the write thread waits for the sync thread. */
  static final int MAX_UNSYNCED_ROUNDS = 3;

  private record Pending(LogBatch batch, Runnable onWritten, CompletableFuture<Void> done) {}

  /** A written round handed to the sync thread; {@link #END} ends it. */
  private record Written(List<Pending> work, StorageEngine.Round round) {}

  private static final Pending STOP =
      new Pending(new LogBatch(), null, new CompletableFuture<>());
  private static final Written END = new Written(List.of(), null);

  private final StorageEngine engine;
  private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
  private final LinkedBlockingQueue<Written> written = new LinkedBlockingQueue<>();
  /** One permit per round that may be written before its sync; returned once it is settled. */
  private final Semaphore writeAhead = new Semaphore(MAX_UNSYNCED_ROUNDS);
  private final Thread writeThread;
  private final Thread syncThread;
  private boolean closed;

  /** Starts the write and sync threads for {@code engine}. */
  public GroupCommitLogWriter(StorageEngine engine) {
    this.engine = engine;
    this.writeThread = new Thread(this::runWrites, "quorumkv-log-writer");
    this.writeThread.setDaemon(true);
    this.syncThread = new Thread(this::runSyncs, "quorumkv-log-syncer");
    this.syncThread.setDaemon(true);
    this.syncThread.start();
    this.writeThread.start();
  }

  /**
   * Queues a batch for the next write; same as {@link #submit(LogBatch, Runnable)} without a
   * callback.
   */
  public CompletableFuture<Void> submit(LogBatch batch) {
    return submit(batch, null);
  }

  /**
   * Queues a batch for the next write.
   *
   * <p>{@code onWritten} (may be null) runs on the write thread once this batch and every batch
   * submitted before it are written to the database with an unsynced write: in the one write-ahead
   * log, so ordered before any write made through the engine afterwards (such as the applier's
   * state writes), but not yet durable. A crash may still lose the batch, and then loses every
   * write made after it too. The Raft driver may report the batch written then (apply committed
   * entries before the local fsync). It runs before the returned future completes, in submission
   * order, and not at all if the batch is invalid, the write failed, or the engine failed before.
   * It must be short and must not block or call this writer or the engine's log writes (it runs
   * under the engine's write lock).
   *
   * @return completes when the batch is durable and visible through {@link LogStore}; fails with
   *     {@link IllegalArgumentException} (invalid batch), {@link StorageFailedException} or
   *     {@link IllegalStateException} (closed)
   */
  public CompletableFuture<Void> submit(LogBatch batch, Runnable onWritten) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    synchronized (queue) { // orders every submit before or after close()'s STOP
      if (closed) {
        done.completeExceptionally(new IllegalStateException("log writer is closed"));
        return done;
      }
      queue.add(new Pending(batch, onWritten, done));
    }
    return done;
  }

  /** Batches queued and not yet written. */
  public int pendingBatches() {
    return queue.size();
  }

  /** Whether the write thread waits for a sync: {@value #MAX_UNSYNCED_ROUNDS} rounds are ahead. */
  boolean writesWaitForSync() {
    return writeAhead.hasQueuedThreads();
  }

  private void runWrites() {
    boolean stopping = false;
    try {
      while (!stopping) {
        List<Pending> work = new ArrayList<>();
        work.add(queue.take());
        queue.drainTo(work, MAX_BATCHES_PER_SYNC - 1);
        if (work.remove(STOP)) {
          stopping = true;
          queue.drainTo(work); // anything submitted before close() still gets written
        }
        if (!work.isEmpty()) {
          writeAhead.acquire(); // bounded: at most MAX_UNSYNCED_ROUNDS wait for a sync
          LogEvents.LogWrite event = new LogEvents.LogWrite();
          event.begin();
          StorageEngine.Round round = write(work);
          event.end();
          if (event.shouldCommit()) {
            event.batches = work.size();
            event.commit();
          }
          written.add(new Written(work, round));
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      written.add(END);
    }
  }

  private StorageEngine.Round write(List<Pending> work) {
    List<LogBatch> batches = new ArrayList<>(work.size());
    List<Runnable> callbacks = new ArrayList<>(work.size());
    for (Pending p : work) {
      batches.add(p.batch());
      callbacks.add(p.onWritten());
    }
    return engine.writeRound(batches, callbacks);
  }

  private void runSyncs() {
    boolean end = false;
    while (!end) {
      List<Written> rounds = new ArrayList<>();
      try {
        rounds.add(written.take());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      written.drainTo(rounds);
      end = rounds.remove(END);
      settle(rounds);
      writeAhead.release(rounds.size());
    }
  }

  /** One sync for every round at hand, then their futures, in order. */
  private void settle(List<Written> rounds) {
    if (rounds.isEmpty()) {
      return;
    }
    List<StorageEngine.Round> rs = new ArrayList<>(rounds.size());
    rounds.forEach(w -> rs.add(w.round()));
    LogEvents.LogSync event = new LogEvents.LogSync();
    event.begin();
    try {
      engine.awaitDurable(rs);
    } catch (RuntimeException e) {
      LOG.error("log writer could not sync {} rounds", rounds.size(), e);
      rs.forEach(r -> r.failValid(e));
    }
    event.end();
    if (event.shouldCommit()) {
      event.rounds = rounds.size();
      event.batches = rounds.stream().mapToInt(w -> w.work().size()).sum();
      event.commit();
    }
    for (Written w : rounds) {
      for (int i = 0; i < w.work().size(); i++) {
        RuntimeException error = w.round().error(i);
        if (error == null) {
          w.work().get(i).done().complete(null);
        } else {
          w.work().get(i).done().completeExceptionally(error);
        }
      }
    }
  }

  /**
   * Writes and syncs what was submitted before, then stops both threads (waits up to 10 s for
   * them).
   */
  @Override
  public void close() {
    synchronized (queue) {
      if (closed) {
        return;
      }
      closed = true;
      queue.add(STOP);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    try {
      writeThread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      syncThread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (writeThread.isAlive() || syncThread.isAlive()) {
      LOG.warn("log writer did not stop within 10 s (a sync is stuck?)");
    }
  }
}
