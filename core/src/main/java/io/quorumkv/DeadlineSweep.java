package io.quorumkv;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * The deadlines of a frontend's pending calls, enforced by one sweep per {@link #TICK_NANOS} over
 * the calls still pending, instead of a timer task per call and per attempt.
 *
 * <p>Why: a {@link ScheduledExecutorService} task costs a heap insertion under the executor's lock,
 * a wake-up of its thread, and stays queued until its delay passes even when the call answered in
 * a millisecond. At 100,000 calls a second with deadlines of seconds, the timer's heap held hundreds
 * of thousands of dead tasks and its thread and the callers' spent most of a client's CPU on it
 * (benchmarks.md, finding 25). Here starting a call costs one append to a lock-free queue and
 * completing it costs nothing: the sweep forgets a call the first time it finds it done. The sweep
 * looks at each call once a tick, so its cost follows the number of calls in flight, not the rate
 * of calls.
 *
 * <p>A deadline is enforced no earlier than it falls and at most about one tick (plus the timer
 * thread's scheduling delay) after. The sweep runs only while calls are watched: an idle client or
 * node wakes no thread for it (one more tick after the last call, which it then forgets).
 *
 * @param <T> what is swept
 */
final class DeadlineSweep<T extends DeadlineSweep.Swept> {

  /** How often pending calls are looked at: the most a deadline is enforced late (plus scheduling). */
  static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

  /** Something with deadlines. */
  interface Swept {
    /** Whether it is done: the sweep forgets it. */
    boolean isDone();

    /** {@link System#nanoTime()} of its earliest deadline not acted on yet. */
    long dueNanos();

    /**
     * Acts on every deadline that fell by {@code nowNanos} (fails the call, abandons an attempt).
     * Called outside the sweep's lock: it completes futures, which run their callers' code.
     */
    void onDue(long nowNanos);
  }

  /** Added since the last sweep: any thread appends. */
  private final ConcurrentLinkedQueue<T> added = new ConcurrentLinkedQueue<>();
  /** Everything older: the sweep's own, guarded by this object's lock. */
  private final List<T> watched = new ArrayList<>();
  private final Supplier<ScheduledExecutorService> timer;
  /** Whether a sweep is scheduled (or running): at most one is. */
  private final AtomicBoolean scheduled = new AtomicBoolean();

  /** @param timer where sweeps run; may throw {@link RejectedExecutionException} once closed */
  DeadlineSweep(Supplier<ScheduledExecutorService> timer) {
    this.timer = timer;
  }

  /**
   * Watches {@code t} until a sweep finds it {@link Swept#isDone done}.
   *
   * @throws RejectedExecutionException if the timer is closed (nothing would enforce the deadline);
   *     {@code t} is not watched then
   */
  void add(T t) {
    added.add(t);
    try {
      ensureScheduled();
    } catch (RejectedExecutionException e) {
      added.remove(t);
      throw e;
    }
  }

  /** What is watched and not done now (for failing everything on close, and tests). */
  synchronized List<T> pending() {
    List<T> out = new ArrayList<>();
    for (T t : watched) {
      if (!t.isDone()) {
        out.add(t);
      }
    }
    for (T t : added) {
      if (!t.isDone()) {
        out.add(t);
      }
    }
    return out;
  }

  private void ensureScheduled() {
    if (!scheduled.get() && scheduled.compareAndSet(false, true)) {
      try {
        timer.get().schedule(this::run, TICK_NANOS, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        scheduled.set(false);
        throw e;
      }
    }
  }

  private void run() {
    boolean idle;
    long now = System.nanoTime();
    List<T> due = null;
    synchronized (this) {
      for (T t = added.poll(); t != null; t = added.poll()) {
        watched.add(t);
      }
      int kept = 0;
      for (int i = 0; i < watched.size(); i++) {
        T t = watched.get(i);
        if (t.isDone()) {
          continue;
        }
        watched.set(kept++, t);
        if (now - t.dueNanos() >= 0) {
          if (due == null) {
            due = new ArrayList<>();
          }
          due.add(t);
        }
      }
      watched.subList(kept, watched.size()).clear();
      idle = watched.isEmpty();
    }
    if (due != null) {
      for (T t : due) {
        try {
          t.onDue(now);
        } catch (RuntimeException e) {
          // a failing callback of one call must not stop the others' deadlines
        }
      }
      idle = false; // what was acted on is forgotten next tick, once it is done
    }
    try {
      if (!idle) {
        timer.get().schedule(this::run, TICK_NANOS, TimeUnit.NANOSECONDS);
        return;
      }
      scheduled.set(false);
      // A call added after the last poll saw the flag still set: it needs a sweep.
      if (!added.isEmpty()) {
        ensureScheduled();
      }
    } catch (RejectedExecutionException closed) {
      scheduled.set(false); // closing: whoever closes fails what is pending
    }
  }
}
