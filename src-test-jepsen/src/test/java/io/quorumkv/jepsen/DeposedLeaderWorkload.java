package io.quorumkv.jepsen;

import io.quorumkv.KvClient;
import io.quorumkv.PartitionStatus;
import io.quorumkv.ReadConsistency;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.Op;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Reads from a leader that has been deposed but does not know it yet, while its successor
 * acknowledges writes: the window in which a leader that skips the ReadIndex round (or trusts
 * a lease it no longer holds) serves a stale value.
 *
 * <p>While the {@link Nemesis.Depose} fault holds ({@link Cluster#deposed()}), this workload
 * picks a fresh key in a partition the isolated node led (a new one every {@link #KEY_WRITES}
 * writes and after a write of unknown outcome), and
 * <ul>
 *   <li>one writer waits until a member of the majority says it leads that partition (polling
 *       their status every 10 ms), then puts unique values to it through a client pinned to
 *       that member, and</li>
 *   <li>the other threads read it at this workload's level through clients pinned to the
 *       isolated node: no forwarding, no failover, so every answer comes from the node that may
 *       still believe it leads.</li>
 * </ul>
 * The isolated node never sees the episode's writes, so once one is acknowledged any read it
 * answers afterwards is stale, and the history (its own register history, checked by the
 * linearizability checker) is not linearizable.
 */
final class DeposedLeaderWorkload extends RegisterHistoryWorkload {

  /** Deadline of the readers' calls: a read the isolated node cannot confirm fails by then. */
  private static final Duration READ_TIMEOUT = Duration.ofMillis(1500);
  /**
   * Deadline of the writer's calls, which go straight to the successor once it is known (a
   * forward to the isolated leader would be dropped silently and wait out the deadline).
   */
  private static final Duration WRITE_TIMEOUT = Duration.ofMillis(250);
  /** How often the writer asks the majority's members whether one of them leads the partition. */
  private static final long LEADER_POLL_MS = 10;
  /** Pause between a reader's calls: enough reads to land in the window, not a busy loop. */
  private static final long READ_EVERY_MS = 4;
  /** How many candidate keys to try when looking for one in a partition the node led. */
  private static final int KEY_TRIES = 64;
  /**
   * Writes to one key before the writer moves to a fresh one (in a partition the isolated node
   * led, within the same episode). It moves at once after a write of unknown outcome. Why: the
   * checker's search grows with a key's pending writes and its length; one key per episode once
   * held 1,398 operations with 18 unknown writes, and the checker gave up (verdict UNKNOWN).
   */
  private static final int KEY_WRITES = 100;

  /** The key of one depose episode, its partition, and the members of the majority. */
  private record Target(long episode, long isolated, long partition, List<Long> majority, String key) {}

  private final int threads;
  private final String prefix;
  private final Cluster cluster;
  private final AtomicReference<Worker> writer = new AtomicReference<>();
  private final Map<Long, KvClient> readClients = new ConcurrentHashMap<>();
  private final Map<Long, KvClient> writeClients = new ConcurrentHashMap<>();
  private final AtomicLong values = new AtomicLong();
  private final AtomicInteger isolatedReads = new AtomicInteger();
  private final AtomicLong episodes = new AtomicLong();
  /** Makes every key the writer aims at new, also within an episode. */
  private final AtomicLong keyRounds = new AtomicLong();
  /** The writer's: writes to the current key, and whether the last one's outcome is unknown. */
  private int writesToKey;
  private boolean rekey;
  private volatile Target target;
  /** The successor of the isolated leader for {@link #target}'s partition, once known, else 0. */
  private volatile long successor;

  /** @param threads one writer and {@code threads - 1} readers */
  DeposedLeaderWorkload(ReadConsistency level, int threads, Context ctx) {
    super(level, ctx);
    if (threads < 2) {
      throw new IllegalArgumentException("a writer and at least one reader");
    }
    this.threads = threads;
    this.prefix = "reg-deposed-" + level.name().toLowerCase(Locale.ROOT) + "/";
    this.cluster = ctx.cluster();
  }

  @Override
  String name() {
    return "register-deposed-" + level.name().toLowerCase(Locale.ROOT);
  }

  @Override
  int threads() {
    return threads;
  }

  @Override
  void operate(Worker w) {
    writer.compareAndSet(null, w);
    Cluster.Deposed d = cluster.deposed();
    if (d == null) {
      Cluster.sleep(20);
      return;
    }
    if (writer.get() == w) {
      write(w, d);
    } else {
      read(w, d);
    }
  }

  private void write(Worker w, Cluster.Deposed d) {
    Target t = target;
    boolean newEpisode = t == null || t.episode() != d.episode();
    if (newEpisode || rekey || writesToKey >= KEY_WRITES) {
      t = aim(d);
      if (t == null) {
        Cluster.sleep(50);
        return;
      }
      successor = 0;
      target = t;
      writesToKey = 0;
      rekey = false;
      if (newEpisode) {
        episodes.incrementAndGet();
      }
    }
    if (successor == 0) {
      // Write only once a member of the majority leads the partition: every write is then
      // acknowledged at once, and none before is left with an unknown outcome.
      successor = successorOf(t);
      if (successor == 0) {
        Cluster.sleep(LEADER_POLL_MS);
        return;
      }
    }
    String value = "v" + values.incrementAndGet();
    Op invocation = recorder.invoke(Op.put(w.process(), t.key(), value, 0));
    writesToKey++;
    try {
      pinned(writeClients, successor, WRITE_TIMEOUT).put(t.key(), value);
    } catch (RuntimeException e) {
      if (outcomeUnknown(e)) {
        recorder.info(invocation);
        rekey = true;
        w.crashed();
      } else {
        recorder.fail(invocation);
      }
      return;
    }
    recorder.ok(invocation);
  }

  /** The member of the majority that says it leads {@code t}'s partition, or 0. */
  private long successorOf(Target t) {
    for (long m : t.majority()) {
      try {
        for (PartitionStatus p : cluster.admin(m).status().partitions()) {
          if (p.partitionId() == t.partition() && p.leader() == m) {
            return m;
          }
        }
      } catch (RuntimeException e) {
        // not answering (paused, restarting): ask the next one
      }
    }
    return 0;
  }

  /** A fresh key in a partition {@code d}'s node led. */
  private Target aim(Cluster.Deposed d) {
    List<Long> majority = cluster.responsive();
    majority.remove(Long.valueOf(d.node()));
    if (majority.isEmpty()) {
      return null;
    }
    long round = keyRounds.incrementAndGet();
    for (int i = 0; i < KEY_TRIES; i++) {
      String key = prefix + d.episode() + "-" + round + "-" + i;
      try {
        // a STALE read is answered locally by the isolated node, with the key's partition
        long partition = pinned(readClients, d.node(), READ_TIMEOUT).read(key.getBytes(StandardCharsets.UTF_8),
            ReadConsistency.STALE).partitionId();
        if (d.partitions().contains(partition)) {
          return new Target(d.episode(), d.node(), partition, List.copyOf(majority), key);
        }
      } catch (RuntimeException e) {
        return null;
      }
    }
    return null;
  }

  private void read(Worker w, Cluster.Deposed d) {
    Target t = target;
    if (t == null || t.episode() != d.episode()) {
      Cluster.sleep(10);
      return;
    }
    Op invocation = recorder.invoke(Op.get(w.process(), t.key(), 0));
    try {
      String read = pinned(readClients, t.isolated(), READ_TIMEOUT).get(t.key(), level).orElse(null);
      recorder.read(invocation, read);
      isolatedReads.incrementAndGet();
    } catch (RuntimeException e) {
      recorder.fail(invocation); // a read has no effect
    }
    Cluster.sleep(READ_EVERY_MS);
  }

  /** A client that talks to {@code node} only (no failover to other nodes). */
  private KvClient pinned(Map<Long, KvClient> clients, long node, Duration timeout) {
    return clients.computeIfAbsent(node, n -> cluster.client(timeout, List.of(cluster.node(n).address())));
  }

  @Override
  String checkNote() {
    return "; " + episodes.get() + " depose episode(s), " + isolatedReads.get() + " reads answered by the isolated node";
  }
}
