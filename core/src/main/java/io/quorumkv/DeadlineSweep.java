package io.quorumkv;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
 * (benchmarks.md, finding 25). Here a call costs an entry in a concurrent set, removed when it
 * completes; the sweep looks at each pending call once a tick, so its cost follows the number of
 * calls in flight, not the rate of calls.
 *
 * <p>A deadline is enforced no earlier than it falls and at most about one tick (plus the timer
 * thread's scheduling delay) after. The sweep runs only while calls are pending: an idle client or
 * node wakes no thread for it.
 *
 * @param <T> what is swept
 */
final class DeadlineSweep<T extends DeadlineSweep.Swept> {

  /** How often pending calls are looked at: the most a deadline is enforced late (plus scheduling). */
  static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

  /** Something with deadlines. */
  interface Swept {
    /**
     * Acts on every deadline that fell by {@code nowNanos} (fails the call, abandons an attempt).
     *
     * @return whether it is done and can be forgotten
     */
    boolean sweep(long nowNanos);
  }

  private final Set<T> pending = ConcurrentHashMap.newKeySet();
  private final Supplier<ScheduledExecutorService> timer;
  /** Whether a sweep is scheduled (or running): at most one is. */
  private final AtomicBoolean scheduled = new AtomicBoolean();

  /** @param timer where sweeps run; may throw {@link RejectedExecutionException} once closed */
  DeadlineSweep(Supplier<ScheduledExecutorService> timer) {
    this.timer = timer;
  }

  /**
   * Watches {@code t} until its {@link Swept#sweep} says it is done or {@link #remove} is called.
   *
   * @throws RejectedExecutionException if the timer is closed (nothing would enforce the deadline);
   *     {@code t} is not watched then
   */
  void add(T t) {
    pending.add(t);
    try {
      ensureScheduled();
    } catch (RejectedExecutionException e) {
      pending.remove(t);
      throw e;
    }
  }

  /** Stops watching {@code t} (it completed). Idempotent. */
  void remove(T t) {
    pending.remove(t);
  }

  /** What is watched now (a weakly consistent view: for failing everything on close). */
  Iterable<T> pending() {
    return pending;
  }

  /** How many are watched (tests). */
  int size() {
    return pending.size();
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
    long now = System.nanoTime();
    for (T t : pending) {
      boolean done;
      try {
        done = t.sweep(now);
      } catch (RuntimeException e) {
        done = false; // a failing callback of one call must not stop the others' deadlines
      }
      if (done) {
        pending.remove(t);
      }
    }
    try {
      if (!pending.isEmpty()) {
        timer.get().schedule(this::run, TICK_NANOS, TimeUnit.NANOSECONDS);
        return;
      }
      scheduled.set(false);
      // A call added between the emptiness check and the flag's clearing saw the flag still set.
      if (!pending.isEmpty()) {
        ensureScheduled();
      }
    } catch (RejectedExecutionException closed) {
      scheduled.set(false); // closing: whoever closes fails what is pending
    }
  }
}
