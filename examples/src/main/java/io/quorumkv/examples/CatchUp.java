package io.quorumkv.examples;

import io.quorumkv.ClusterStatus;
import io.quorumkv.KvClient;
import io.quorumkv.PartitionStatus;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Watches a restarted replica catch up: the target is, per partition, the highest commit index any
 * other node reports when the watch starts; the replica has caught up once its applied index
 * reaches the target in every partition. Polled from its own thread every {@code pollMillis}; the
 * {@link #done()} future completes then (or never, if the phase ends first).
 */
final class CatchUp implements AutoCloseable {

  /** Where the lagging node stood and what it had to reach, per partition. */
  record Target(Map<Long, Long> appliedAtStart, Map<Long, Long> target) {
    /** Entries to apply to catch up, all partitions. */
    long entries() {
      long n = 0;
      for (var e : target.entrySet()) {
        n += Math.max(0, e.getValue() - appliedAtStart.getOrDefault(e.getKey(), 0L));
      }
      return n;
    }

    /** Whether {@code applied} reached the target in every partition. */
    boolean reachedBy(Map<Long, Long> applied) {
      return target.entrySet().stream().allMatch(e -> applied.getOrDefault(e.getKey(), -1L) >= e.getValue());
    }
  }

  private final Function<String, ClusterStatus> status;
  private final String lagging;
  private final List<String> others;
  private final long pollMillis;
  private final CompletableFuture<Long> done = new CompletableFuture<>();
  private final Thread poller;
  private final long startNanos = System.nanoTime();
  private volatile Target target;
  private volatile long firstAnswerNanos = -1;
  private volatile String lastError = "";

  /**
   * @param lagging the lagging node's address; {@code others} the rest of the cluster. The lagging
   *                node may not answer yet (it is starting): it is polled until it does.
   */
  CatchUp(KvClient client, String lagging, List<String> others, long pollMillis) {
    this(client::status, lagging, others, pollMillis);
  }

  CatchUp(Function<String, ClusterStatus> status, String lagging, List<String> others, long pollMillis) {
    this.status = status;
    this.lagging = lagging;
    this.others = List.copyOf(others);
    this.pollMillis = pollMillis;
    this.poller = new Thread(this::poll, "bench-catchup");
    poller.setDaemon(true);
    poller.start();
  }

  /** Completes with System.nanoTime() of the poll that found the node caught up. */
  CompletableFuture<Long> done() {
    return done;
  }

  private void poll() {
    for (int i = 0; i < 100_000 && !done.isDone() && !Thread.currentThread().isInterrupted(); i++) {
      try {
        if (target == null) {
          target = new Target(applied(status.apply(lagging)), commits());
          firstAnswerNanos = System.nanoTime();
        }
        if (target.reachedBy(applied(status.apply(lagging)))) {
          done.complete(System.nanoTime());
          return;
        }
      } catch (RuntimeException e) {
        lastError = Errors.describe(e);
      }
      try {
        Thread.sleep(pollMillis);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** Per partition, the highest commit index the other nodes report. */
  private Map<Long, Long> commits() {
    Map<Long, Long> out = new HashMap<>();
    RuntimeException failure = null;
    for (String a : others) {
      try {
        for (PartitionStatus p : status.apply(a).partitions()) {
          out.merge(p.partitionId(), p.commitIndex(), Math::max);
        }
      } catch (RuntimeException e) {
        failure = e; // a down node: the others say it
      }
    }
    if (out.isEmpty()) {
      throw failure != null ? failure : new IllegalStateException("no partition reported by " + others);
    }
    return out;
  }

  private static Map<Long, Long> applied(ClusterStatus s) {
    Map<Long, Long> out = new HashMap<>();
    for (PartitionStatus p : s.partitions()) {
      out.put(p.partitionId(), p.appliedIndex());
    }
    return out;
  }

  /**
   * For the JSON record: whether and when the node caught up, how many entries that was, and the
   * rates; {@code bytes} is what it received meanwhile (snapshot payload and log entries), or -1.
   */
  void describe(Json j, long bytes) {
    Target t = target;
    boolean caughtUp = done.isDone();
    j.put("catchup_node", lagging).put("caught_up", caughtUp);
    if (firstAnswerNanos > 0) {
      j.put("catchup_first_answer_s", Bench.round((firstAnswerNanos - startNanos) / 1e9, 2));
    }
    if (t == null) {
      j.put("catchup_error", lastError);
      return;
    }
    j.put("catchup_entries", t.entries());
    if (caughtUp) {
      double s = (done.join() - startNanos) / 1e9;
      j.put("catchup_s", Bench.round(s, 2)).put("catchup_entries_per_s", Bench.round(t.entries() / s, 1));
      if (bytes >= 0) {
        j.put("catchup_mb", Bench.round(bytes / 1e6, 2)).put("catchup_mb_per_s", Bench.round(bytes / 1e6 / s, 2));
      }
    } else if (!lastError.isEmpty()) {
      j.put("catchup_last_error", lastError);
    }
  }

  @Override
  public void close() {
    poller.interrupt();
  }
}
