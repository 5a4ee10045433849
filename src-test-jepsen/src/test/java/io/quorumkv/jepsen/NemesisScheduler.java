package io.quorumkv.jepsen;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.function.BiConsumer;

/**
 * Drives the nemeses of a run: quiet, then a fault (one nemesis alone, or up to
 * {@code maxConcurrent} started one after another when combining; dealt from a shuffled deck so
 * every nemesis is used before any repeats), held for a while, then healed
 * in reverse order (instant ones, a transfer or a split, are not held); again until the deadline. Every start and stop goes to the history sinks as
 * a {@code start-<kind>} / {@code stop-<kind>} nemesis event. {@link #stopAll()} heals whatever
 * is still active; the run then calls {@link Cluster#healAll()} as the last word.
 */
final class NemesisScheduler {

  /** How long faults last and how long the cluster is left alone between them, in ms. */
  record Timing(int minQuietMs, int maxQuietMs, int minFaultMs, int maxFaultMs) {}

  private final List<Nemesis> nemeses;
  private final int maxConcurrent;
  private final Timing timing;
  private final Random rnd;
  private final BiConsumer<String, String> sink;
  private final Deque<Nemesis> active = new ArrayDeque<>();
  private final Deque<Nemesis> deck = new ArrayDeque<>();
  private final List<String> errors = new ArrayList<>();
  private int faults;

  NemesisScheduler(List<Nemesis> nemeses, int maxConcurrent, Timing timing, Random rnd,
      BiConsumer<String, String> sink) {
    this.nemeses = List.copyOf(nemeses);
    this.maxConcurrent = Math.max(1, Math.min(maxConcurrent, nemeses.size()));
    this.timing = timing;
    this.rnd = rnd;
    this.sink = sink;
  }

  /** Runs fault cycles until {@code deadlineNanos} (System.nanoTime) or interruption. */
  void run(long deadlineNanos) {
    while (System.nanoTime() < deadlineNanos && !Thread.currentThread().isInterrupted()) {
      if (!pause(between(timing.minQuietMs(), timing.maxQuietMs()), deadlineNanos)) {
        break;
      }
      List<Nemesis> hand = deal(1 + rnd.nextInt(maxConcurrent));
      for (Nemesis n : hand) {
        start(n);
        // combined faults begin one after another; a lone one is held for its own duration
        if (hand.size() > 1 && !pause(between(0, 800), deadlineNanos)) {
          break;
        }
      }
      int drawn = between(timing.minFaultMs(), timing.maxFaultMs());
      if (hand.stream().allMatch(Nemesis::instant)) {
        continue; // nothing to hold or heal (a transfer, a split): straight to the next quiet period
      }
      pause(hand.size() == 1 ? hand.get(0).holdMs(drawn, rnd) : drawn, deadlineNanos);
      stopAll();
    }
    stopAll();
  }

  /**
   * The next {@code count} distinct nemeses from a shuffled deck, refilled when empty: every
   * nemesis of the run is used before any is used twice, so even a short run sees each of them.
   */
  List<Nemesis> deal(int count) {
    List<Nemesis> hand = new ArrayList<>();
    // count <= nemeses.size(), so this ends well before the bound
    for (int tries = 0; hand.size() < count && tries < 4 * nemeses.size(); tries++) {
      if (deck.isEmpty()) {
        List<Nemesis> fresh = new ArrayList<>(nemeses);
        Collections.shuffle(fresh, rnd);
        deck.addAll(fresh);
      }
      Nemesis n = deck.poll();
      if (hand.contains(n)) {
        deck.addLast(n); // a refill may repeat one already in hand: it goes first next time
      } else {
        hand.add(n);
      }
    }
    return hand;
  }

  private void start(Nemesis n) {
    String what;
    try {
      what = n.start(rnd);
    } catch (RuntimeException e) {
      error("start-" + n.kind().label(), e);
      return;
    }
    if (what == null) {
      return;
    }
    faults++;
    sink.accept("start-" + n.kind().label(), what);
    if (n.instant()) {
      sink.accept("stop-" + n.kind().label(), what);
    } else {
      synchronized (this) {
        active.push(n);
      }
    }
  }

  /** Undoes every active fault, latest first. */
  void stopAll() {
    while (true) {
      Nemesis n;
      synchronized (this) {
        n = active.poll();
      }
      if (n == null) {
        return;
      }
      try {
        sink.accept("stop-" + n.kind().label(), n.stop());
      } catch (RuntimeException e) {
        error("stop-" + n.kind().label(), e);
      }
    }
  }

  private void error(String f, RuntimeException e) {
    String what = f + " failed: " + e;
    synchronized (this) {
      errors.add(what);
    }
    sink.accept("error", what);
  }

  /** How many faults were injected. */
  synchronized int faults() {
    return faults;
  }

  /** Nemesis operations that threw, for the report. */
  synchronized List<String> errors() {
    return List.copyOf(errors);
  }

  private int between(int min, int max) {
    return min + (max > min ? rnd.nextInt(max - min + 1) : 0);
  }

  /** Sleeps up to {@code ms} but not past the deadline; false if interrupted or the deadline passed. */
  private static boolean pause(long ms, long deadlineNanos) {
    long left = Math.min(ms, (deadlineNanos - System.nanoTime()) / 1_000_000);
    if (left <= 0) {
      return false;
    }
    try {
      Thread.sleep(left);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
