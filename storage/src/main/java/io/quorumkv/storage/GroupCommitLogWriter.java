package io.quorumkv.storage;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit: a thread that takes every {@link LogBatch} submitted while the previous sync was
 * running and makes them all durable with one synced write. Under load the number of batches per
 * fsync grows by itself with the number of concurrent submitters, so throughput follows the disk's
 * fsync rate times the batch size, while a lone submitter still pays a single fsync.
 *
 * <p>{@link #submit} never blocks: it is meant to be called from the Raft loop with each Ready's
 * log writes; the returned future completes (on the writer thread) once the batch is durable and
 * visible through {@link LogStore}, or fails with the reason (an invalid batch fails alone; an I/O
 * failure fails the engine and every batch not yet written). Keep continuations short, or use the
 * future's {@code *Async} methods. Backpressure is the caller's: watch {@link #pendingBatches()}.
 */
public final class GroupCommitLogWriter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(GroupCommitLogWriter.class);
  /** The most batches merged into one write, so one sync's latency stays bounded. */
  private static final int MAX_BATCHES_PER_SYNC = 4096;

  private record Pending(LogBatch batch, CompletableFuture<Void> done) {}

  private static final Pending STOP = new Pending(new LogBatch(), new CompletableFuture<>());

  private final StorageEngine engine;
  private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
  private final Thread thread;
  private boolean closed;

  /** Starts the writer thread for {@code engine}. */
  public GroupCommitLogWriter(StorageEngine engine) {
    this.engine = engine;
    this.thread = new Thread(this::run, "quorumkv-log-writer");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Queues a batch for the next sync.
   *
   * @return completes when the batch is durable; fails with {@link IllegalArgumentException}
   *     (invalid batch), {@link StorageFailedException} or {@link IllegalStateException} (closed)
   */
  public CompletableFuture<Void> submit(LogBatch batch) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    synchronized (queue) { // orders every submit before or after close()'s STOP
      if (closed) {
        done.completeExceptionally(new IllegalStateException("log writer is closed"));
        return done;
      }
      queue.add(new Pending(batch, done));
    }
    return done;
  }

  /** Batches queued and not yet written. */
  public int pendingBatches() {
    return queue.size();
  }

  private void run() {
    List<Pending> work = new ArrayList<>();
    boolean stopping = false;
    while (!stopping) {
      try {
        work.add(queue.take());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      queue.drainTo(work, MAX_BATCHES_PER_SYNC - 1);
      if (work.remove(STOP)) {
        stopping = true;
        queue.drainTo(work); // anything submitted before close() still gets written
      }
      write(work);
      work.clear();
    }
  }

  private void write(List<Pending> work) {
    if (work.isEmpty()) {
      return;
    }
    List<LogBatch> batches = new ArrayList<>(work.size());
    for (Pending p : work) {
      batches.add(p.batch());
    }
    List<RuntimeException> errors;
    try {
      errors = engine.commit(batches);
    } catch (RuntimeException e) {
      LOG.error("log writer could not write {} batches", work.size(), e);
      work.forEach(p -> p.done().completeExceptionally(e));
      return;
    }
    for (int i = 0; i < work.size(); i++) {
      RuntimeException error = errors.get(i);
      if (error == null) {
        work.get(i).done().complete(null);
      } else {
        work.get(i).done().completeExceptionally(error);
      }
    }
  }

  /** Writes what was submitted before, then stops the thread (waits up to 10 s for it). */
  @Override
  public void close() {
    synchronized (queue) {
      if (closed) {
        return;
      }
      closed = true;
      queue.add(STOP);
    }
    try {
      thread.join(TimeUnit.SECONDS.toMillis(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (thread.isAlive()) {
      LOG.warn("log writer did not stop within 10 s (a sync is stuck?)");
    }
  }
}
