package io.quorumkv.transport;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.Executor;
import org.slf4j.LoggerFactory;

/** Runs tasks one at a time, in order, on a shared pool: one per snapshot transfer. */
final class SerialExecutor implements Executor {
  private final Executor pool;
  private final Queue<Runnable> tasks = new ArrayDeque<>();
  private boolean running;

  SerialExecutor(Executor pool) {
    this.pool = pool;
  }

  /**
   * Queues {@code task}.
   *
   * @throws java.util.concurrent.RejectedExecutionException if the pool is shut down and no
   *     run is in progress; the task is then not queued, so the caller can clean up after it
   */
  @Override
  public synchronized void execute(Runnable task) {
    if (!running) {
      pool.execute(this::runAll); // may throw: then nothing is queued
      running = true;
    }
    tasks.add(task);
  }

  private void runAll() {
    while (true) {
      Runnable next;
      synchronized (this) {
        next = tasks.poll();
        if (next == null) {
          running = false;
          return;
        }
      }
      try {
        next.run();
      } catch (RuntimeException e) {
        LoggerFactory.getLogger(SerialExecutor.class).error("snapshot task failed", e);
      }
    }
  }
}
