package io.quorumkv;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The reads of one follower replica that wait for a read index from the leader, asked for
 * together: at most one request for a read index is outstanding, and every read that arrives
 * meanwhile waits for the next one, which starts as soon as the outstanding one is answered. So a
 * follower's requests to its leader number one per round trip, whatever the number of reads. (A
 * leader's reads need no such limit: those queued until its Raft loop gets to them already share
 * one ReadIndex request.)
 *
 * <p>Safety rests on one rule: a read never joins a request that was already started. A read
 * index fixed before a read arrived may predate a write acknowledged before the read was issued;
 * every read drained into a batch arrived before the batch's request starts, so the index it gets
 * was fixed after the read arrived.
 *
 * <p>Thread-safe: reads are added from any thread; {@link #done} is called once per started batch,
 * from whichever thread learns its outcome.
 *
 * @param <T> a waiting read
 */
final class ReadBatcher<T> {

  private final ConcurrentLinkedQueue<T> waiting = new ConcurrentLinkedQueue<>();
  /** A batch was started and its read index is not known yet. */
  private final AtomicBoolean outstanding = new AtomicBoolean();

  /**
   * Adds a read; if no request is outstanding, drains every waiting read into a batch and hands
   * it to {@code start} (on this thread), which must ask for its read index and call
   * {@link #done} once that is answered or has failed.
   */
  void add(T read, Consumer<List<T>> start) {
    waiting.add(read);
    startNext(start);
  }

  /** The outstanding batch's read index is known (or will never be): the next batch may start. */
  void done(Consumer<List<T>> start) {
    outstanding.set(false);
    startNext(start);
  }

  private void startNext(Consumer<List<T>> start) {
    // Only the thread holding `outstanding` drains, so the queue it saw non-empty stays so.
    if (waiting.isEmpty() || !outstanding.compareAndSet(false, true)) {
      return;
    }
    List<T> batch = new ArrayList<>();
    for (T t; (t = waiting.poll()) != null; ) {
      batch.add(t);
    }
    start.accept(batch);
  }
}
