package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.Recording;
import io.quorumkv.testing.RecordingKvStore;
import io.quorumkv.testkit.Verdict;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Many threads writing and reading a few keys (16) through one {@link KvClient}, each thread a recorded
 * process: enough concurrency for the client to coalesce its requests into multis. Used by the
 * in-memory and the Netty + RocksDB cluster tests; {@link #checkLinearizable} and
 * {@link #multisServed} are their assertions.
 */
final class CoalescedWorkload {

  /**
   * Keys the threads spread over: enough that one key sees a couple of concurrent operations, not
   * dozens, so the linearizability checker's search stays bounded (with 6 keys it gave up once,
   * on a key with 1,988 operations from 32 threads).
   */
  private static final int KEYS = 16;

  private CoalescedWorkload() {}

  /** What a run did. */
  record Outcome(Recording recording, int completed, List<String> unexpected) {}

  /**
   * Runs {@code threads} closed-loop processes for {@code length} (each at most {@code maxOps}
   * operations), calling {@code midway} once from the test's thread half-way through (a fault,
   * recorded as a nemesis event).
   */
  static Outcome run(KvClient client, String workload, int threads, int maxOps, Duration length, long seed,
      java.util.function.Consumer<Recording> midway) throws InterruptedException {
    Recording recording = new Recording(workload);
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger completed = new AtomicInteger();
    List<String> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Thread> workers = new ArrayList<>();
    ReadConsistency[] levels = {ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE, ReadConsistency.FOLLOWER};
    for (int t = 0; t < threads; t++) {
      SplittableRandom random = new SplittableRandom(seed + t);
      int id = t;
      Thread w = new Thread(() -> {
        RecordingKvStore store = recording.store(client);
        for (int i = 0; i < maxOps && !stop.get(); i++) {
          String key = "key" + random.nextInt(KEYS);
          try {
            int dice = random.nextInt(10);
            if (dice < 4) {
              store.put(key, "v" + id + "-" + i);
            } else if (dice < 5) {
              store.compareAndSet(key, "v" + random.nextInt(threads) + "-" + random.nextInt(Math.max(1, i)), "c" + id + "-" + i);
            } else {
              store.get(key, levels[random.nextInt(levels.length)]);
            }
            completed.incrementAndGet();
          } catch (KvException e) {
            // recorded as fail or info by the store; the process goes on (a new one after info)
          } catch (RuntimeException e) {
            unexpected.add(e.toString()); // e.g. an answer of the wrong kind: recorded as info
          }
        }
      }, "coalesced-" + t);
      w.setDaemon(true);
      workers.add(w);
      w.start();
    }
    long half = length.toMillis() / 2;
    Thread.sleep(half);
    midway.accept(recording);
    Thread.sleep(length.toMillis() - half);
    stop.set(true);
    for (Thread w : workers) {
      w.join(30_000);
      assertTrue(!w.isAlive(), w.getName() + " is stuck");
    }
    return new Outcome(recording, completed.get(), List.copyOf(unexpected));
  }

  /** The history is linearizable and no call failed with anything but a {@link KvException}. */
  static void checkLinearizable(Outcome o) {
    if (!o.unexpected().isEmpty()) {
      throw new AssertionError(o.unexpected().size() + " calls failed unexpectedly, first: " + o.unexpected().get(0));
    }
    Verdict v = o.recording().check();
    if (!v.isLinearizable()) {
      throw new AssertionError("not linearizable (history in " + o.recording().write() + "): " + v.describe());
    }
  }

  /** Multis received by {@code nodes} and the items they carried: {@code [multis, items]}. */
  static double[] multisServed(Collection<KvNode> nodes) {
    double multis = 0;
    double items = 0;
    for (KvNode n : nodes) {
      multis += n.meterRegistry().find("quorumkv.requests.multi").counter().count();
      items += n.meterRegistry().find("quorumkv.requests.multi.items").counter().count();
    }
    return new double[] {multis, items};
  }
}
