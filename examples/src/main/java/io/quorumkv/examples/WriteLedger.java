package io.quorumkv.examples;

import io.quorumkv.KvException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Every write the demo made and how it ended, so that the cluster's answers can be checked
 * afterwards: an acknowledged write must be visible with its value, a write that certainly failed
 * must not be, and a write whose outcome is unknown (timeout, node crash) may be either. Each key
 * is written at most once, with a value unique to it, which makes the check exact.
 */
final class WriteLedger {

  /** How a write ended, as the client saw it. */
  enum Outcome {
    /** Acknowledged: replicated to a majority and durable. It must never be lost. */
    ACKED,
    /** Certainly not applied (the exception said so). */
    FAILED,
    /** Maybe applied, maybe not (timeout, connection lost after sending). */
    UNKNOWN
  }

  /** One write: its key, value, outcome, and when it completed ({@link System#nanoTime()}). */
  record Write(String key, String value, Outcome outcome, long completedNanos) {}

  private final Map<String, Write> writes = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Long> ackTimes = new ConcurrentLinkedQueue<>();

  /**
   * Records how the write of {@code key} ended.
   *
   * @param failure null if acknowledged
   * @throws IllegalStateException if {@code key} was already recorded (keys are written once)
   */
  void record(String key, String value, Throwable failure) {
    Outcome o = failure == null ? Outcome.ACKED : outcomeOf(Errors.unwrap(failure));
    long now = System.nanoTime();
    if (writes.putIfAbsent(key, new Write(key, value, o, now)) != null) {
      throw new IllegalStateException("key written twice: " + key);
    }
    if (o == Outcome.ACKED) {
      ackTimes.add(now);
    }
  }

  /** A {@link KvException} says whether the write may have happened; anything else might have. */
  static Outcome outcomeOf(Throwable t) {
    return t instanceof KvException e && !e.outcomeUnknown() ? Outcome.FAILED : Outcome.UNKNOWN;
  }

  List<Write> writes() {
    return List.copyOf(writes.values());
  }

  long count(Outcome o) {
    return writes.values().stream().filter(w -> w.outcome() == o).count();
  }

  /** The longest time between two consecutive acknowledgements in {@code [fromNanos, toNanos]}. */
  long longestAckGapNanos(long fromNanos, long toNanos) {
    List<Long> times = new ArrayList<>(ackTimes);
    times.add(fromNanos);
    times.add(toNanos);
    List<Long> inWindow = times.stream().filter(t -> t >= fromNanos && t <= toNanos).sorted().toList();
    long gap = 0;
    for (int i = 1; i < inWindow.size(); i++) {
      gap = Math.max(gap, inWindow.get(i) - inWindow.get(i - 1));
    }
    return gap;
  }

  /**
   * Checks what the cluster returned for each recorded key against how its write ended.
   *
   * @param observed key to the value read (empty when absent); a key missing from the map was not
   *                 read (its read failed) and counts as a violation if the write was acknowledged
   * @return one line per violation; empty when every acknowledged write is there with its value
   *         and no failed write is
   */
  List<String> violations(Map<String, Optional<String>> observed) {
    List<String> bad = new ArrayList<>();
    for (Write w : writes.values()) {
      Optional<String> seen = observed.get(w.key());
      switch (w.outcome()) {
        case ACKED -> {
          if (seen == null) {
            bad.add(w.key() + ": acknowledged, but could not be read back");
          } else if (seen.isEmpty()) {
            bad.add(w.key() + ": acknowledged write LOST (key absent)");
          } else if (!seen.get().equals(w.value())) {
            bad.add(w.key() + ": acknowledged '" + w.value() + "' but read '" + seen.get() + "'");
          }
        }
        case FAILED -> {
          if (seen != null && seen.isPresent()) {
            bad.add(w.key() + ": write reported as failed, yet its value '" + seen.get() + "' is present");
          }
        }
        case UNKNOWN -> {
          if (seen != null && seen.isPresent() && !seen.get().equals(w.value())) {
            bad.add(w.key() + ": read '" + seen.get() + "', which was never written");
          }
        }
        default -> throw new AssertionError(w.outcome());
      }
    }
    bad.sort(null);
    return bad;
  }
}
