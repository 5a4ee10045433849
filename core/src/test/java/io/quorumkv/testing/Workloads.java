package io.quorumkv.testing;

import io.quorumkv.ReadConsistency;
import java.util.List;

/** Ready-made {@link ScheduleRunner.Workload}s, for testing the store itself. */
public final class Workloads {

  private Workloads() {}

  /**
   * Random register operations on keys {@code k0..k<keys-1>} and values {@code 0..4}: 40% reads
   * at one of {@code reads}, 30% puts, 20% compare-and-sets (half of them from absent), 10% deletes.
   * Few keys and values keep the operations contended, which is what finds anomalies.
   */
  public static ScheduleRunner.Workload registers(int keys, List<ReadConsistency> reads) {
    if (keys < 1 || reads.isEmpty()) {
      throw new IllegalArgumentException("need at least one key and one read level");
    }
    List<ReadConsistency> levels = List.copyOf(reads);
    return (store, client, random) -> {
      String key = "k" + random.nextInt(keys);
      String value = Integer.toString(random.nextInt(5));
      int kind = random.nextInt(10);
      if (kind < 4) {
        store.get(key, levels.get(random.nextInt(levels.size())));
      } else if (kind < 7) {
        store.put(key, value);
      } else if (kind < 9) {
        if (random.nextBoolean()) {
          store.putIfAbsent(key, value);
        } else {
          store.compareAndSet(key, Integer.toString(random.nextInt(5)), value);
        }
      } else {
        store.delete(key);
      }
    };
  }
}
