package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.Recording;
import io.quorumkv.testing.RecordingKvStore;
import io.quorumkv.testing.ScheduleRunner;
import io.quorumkv.testing.TestCluster;
import io.quorumkv.testing.Workloads;
import io.quorumkv.testkit.Verdict;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Traffic for the placement tests, and the checks every one of them ends with: register clients
 * (the test kit's recorder) on contended keys, through remote clients that start at different
 * nodes, plus a writer of distinct keys; at the end the register history must be linearizable and
 * every acknowledged distinct write readable.
 */
final class PlacementWorkload implements AutoCloseable {

  private final TestCluster cluster;
  private final Recording recording = new Recording("placement");
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLong operations = new AtomicLong();
  private final ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
  private final List<Thread> threads = new ArrayList<>();
  private final BackgroundWriter writer;
  /** The fewest voters any partition's leader reported while the traffic ran. */
  private final AtomicLong fewestVoters = new AtomicLong(Long.MAX_VALUE);
  private boolean closed;

  PlacementWorkload(TestCluster cluster, String keyPrefix, int clients) {
    this.cluster = cluster;
    ScheduleRunner.Workload registers = Workloads.registers(6,
        List.of(ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE, ReadConsistency.FOLLOWER));
    List<Long> ids = new ArrayList<>(cluster.members());
    for (int i = 0; i < clients; i++) {
      long[] order = new long[ids.size()];
      for (int k = 0; k < order.length; k++) {
        order[k] = ids.get((i + k) % ids.size());
      }
      KvStore store = cluster.client(order).withTimeout(Duration.ofSeconds(2));
      RecordingKvStore recorded = recording.store(() -> store);
      SplittableRandom random = new SplittableRandom(i + 1);
      int client = i;
      Thread t = new Thread(() -> {
        for (int n = 0; !stop.get() && n < 1_000_000; n++) {
          try {
            registers.operate(recorded, client, random);
            operations.incrementAndGet();
          } catch (KvException e) {
            MemoryCluster.sleep(5);
          } catch (Throwable e) {
            errors.add(e);
            return;
          }
        }
      }, "placement-client-" + i);
      threads.add(t);
      t.start();
    }
    Thread sampler = new Thread(() -> {
      while (!stop.get()) {
        try {
          byLeaders(cluster).values().forEach(p -> fewestVoters.accumulateAndGet(p.voters().size(), Math::min));
        } catch (RuntimeException e) {
          // a node closing under the sampler
        }
        MemoryCluster.sleep(2);
      }
    }, "placement-sampler");
    threads.add(sampler);
    sampler.start();
    writer = new BackgroundWriter(cluster.client(ids.stream().mapToLong(Long::longValue).toArray())
        .withTimeout(Duration.ofSeconds(3)), keyPrefix);
  }

  /** Waits until the clients have completed {@code n} more operations and the writer {@code n} more writes. */
  void awaitProgress(int n) {
    long ops = operations.get();
    int acked = writer.acked.size();
    writer.awaitAcked(acked + n);
    MemoryCluster.await(Duration.ofSeconds(30), n + " more register operations", () -> operations.get() >= ops + n);
  }

  /** The fewest voters any partition's leader reported so far (sampled every few ms). */
  long fewestVoters() {
    return fewestVoters.get();
  }

  /** Stops the traffic, then checks linearizability and that every acknowledged write is there. */
  @Override
  public void close() throws InterruptedException {
    if (closed) {
      return;
    }
    closed = true;
    stop.set(true);
    for (Thread t : threads) {
      t.join(20_000);
    }
    writer.close();
    assertTrue(errors.isEmpty(), () -> "a client failed: " + errors.peek());
    Verdict verdict = recording.check();
    if (!verdict.isLinearizable()) {
      throw new AssertionError("the history is " + verdict.describe() + "; written to " + recording.write());
    }
    assertTrue(operations.get() > 0);
    KvStore reader = cluster.client().withTimeout(Duration.ofSeconds(10));
    BackgroundWriter.assertAllPresent(reader, writer.acked);
  }

  /** Each partition's voters and learners, as its leader reports them (leaders only). */
  static Map<Long, PartitionStatus> byLeaders(TestCluster cluster) {
    Map<Long, PartitionStatus> out = new TreeMap<>();
    for (KvNode n : cluster.nodes()) {
      for (PartitionStatus p : n.status().partitions()) {
        if (p.leader() == n.nodeId()) {
          out.put(p.partitionId(), p);
        }
      }
    }
    return out;
  }

  /** Every partition as every running node reports it, and the load: what a failed wait leaves. */
  static String describe(TestCluster cluster) {
    StringBuilder out = new StringBuilder();
    for (KvNode n : cluster.nodes()) {
      try {
        out.append("\n  node ").append(n.nodeId()).append(": ").append(n.status().partitions());
      } catch (RuntimeException e) {
        out.append("\n  node ").append(n.nodeId()).append(": ").append(e);
      }
    }
    return out.append("\n  load by leaders: ").append(load(cluster)).toString();
  }

  /** How many replicas (voters or learners) each running node holds, by its leaders' reports. */
  static Map<Long, Integer> load(TestCluster cluster) {
    Map<Long, Integer> load = new TreeMap<>();
    cluster.running().forEach(id -> load.put(id, 0));
    for (PartitionStatus p : byLeaders(cluster).values()) {
      Set<Long> all = new TreeSet<>(p.voters());
      all.addAll(p.learners());
      all.forEach(id -> load.merge(id, 1, Integer::sum));
    }
    return load;
  }

  /**
   * Waits until every one of {@code partitions} partitions has a leader reporting exactly
   * {@code factor} voters among {@code nodes} and no learner, and the nodes' loads differ by at
   * most one.
   */
  static void awaitPlaced(TestCluster cluster, int partitions, int factor, Set<Long> nodes, Duration timeout) {
    TestCluster.await(timeout, () -> "replicas placed: " + factor + " voters per partition on " + nodes
        + ", loads even; partitions by their leaders: " + describe(cluster), () -> {
          Map<Long, PartitionStatus> parts = byLeaders(cluster);
          if (parts.size() != partitions) {
            return false;
          }
          for (PartitionStatus p : parts.values()) {
            if (p.voters().size() != factor || !p.learners().isEmpty() || !nodes.containsAll(p.voters())) {
              return false;
            }
          }
          Map<Long, Integer> load = load(cluster);
          load.keySet().retainAll(nodes);
          int max = load.values().stream().mapToInt(Integer::intValue).max().orElse(0);
          int min = load.values().stream().mapToInt(Integer::intValue).min().orElse(0);
          return max - min <= 1;
        });
    for (PartitionStatus p : byLeaders(cluster).values()) {
      assertEquals(factor, p.voters().size(), p.toString());
    }
  }
}
