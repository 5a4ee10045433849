package io.quorumkv.raft.sim;

import java.util.PriorityQueue;

/**
 * Virtual time and the events scheduled in it. Events at the same instant run in the order they
 * were scheduled, so a run depends on nothing but its seed. Shared by every simulator built on
 * this package (the Raft cluster here, core's multi-raft key-value simulation).
 */
public final class EventQueue {

  private record Timed(long time, long seq, Runnable action) implements Comparable<Timed> {
    @Override
    public int compareTo(Timed o) {
      int c = Long.compare(time, o.time);
      return c != 0 ? c : Long.compare(seq, o.seq);
    }
  }

  private final PriorityQueue<Timed> queue = new PriorityQueue<>();
  private long now;
  private long seq;
  private long executed;

  /** Virtual microseconds since the start of the run. */
  public long now() {
    return now;
  }

  /** Events run so far. */
  public long executed() {
    return executed;
  }

  /** Runs {@code action} {@code delay} microseconds from now. */
  public void after(long delay, Runnable action) {
    if (delay < 0) {
      throw new IllegalArgumentException("negative delay " + delay);
    }
    queue.add(new Timed(now + delay, seq++, action));
  }

  /** Runs the next event unless it lies after {@code deadline}; false when none does. */
  public boolean runNext(long deadline) {
    Timed next = queue.peek();
    if (next == null || next.time > deadline) {
      now = Math.max(now, deadline);
      return false;
    }
    queue.poll();
    now = next.time;
    executed++;
    next.action.run();
    return true;
  }
}
