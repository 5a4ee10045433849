package io.quorumkv;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Everything that determines one run of the multi-raft key-value simulation ({@link KvSim}): the
 * partitioning, the cluster's size, how often replicas snapshot, the seed and the steps. Its text
 * form fits on one line and replays the run bit for bit, e.g.
 * {@code partitioner=range voters=3 snapshotEvery=0 seed=42 steps=120:partition:12|3,50:split:k4}.
 *
 * @param partitioning  hash (three fixed partitions) or range (two initial ranges, cut at
 *                      {@code k3}, that split steps cut further)
 * @param voters        nodes, every one a voter of every partition (3 or 5)
 * @param snapshotEvery each replica snapshots and compacts its log after this many applied
 *                      entries; 0 never (a split child still starts from a snapshot)
 * @param seed          drives every random choice of the run
 * @param steps         the faults, in order
 */
record KvSimSchedule(Partitioning partitioning, int voters, int snapshotEvery, long seed, List<KvSimStep> steps) {

  /** How keys map to partitions in a run. */
  enum Partitioning {
    /** {@code HashPartitioner.of(3)}. */
    HASH,
    /** {@code RangePartitioner.of("k3")}, splittable. */
    RANGE;

    Partitioner partitioner() {
      return this == HASH ? HashPartitioner.of(3) : RangePartitioner.of("k3");
    }
  }

  KvSimSchedule {
    steps = List.copyOf(steps);
    if (voters < 1 || voters > 9) {
      throw new IllegalArgumentException("need 1..9 nodes, was " + voters);
    }
  }

  /** The same schedule with other steps. */
  KvSimSchedule withSteps(List<KvSimStep> other) {
    return new KvSimSchedule(partitioning, voters, snapshotEvery, seed, other);
  }

  /** One line that {@link #parse} turns back into this schedule. */
  String encode() {
    return "partitioner=" + partitioning.name().toLowerCase(java.util.Locale.ROOT) + " voters=" + voters
        + " snapshotEvery=" + snapshotEvery + " seed=" + seed
        + " steps=" + steps.stream().map(KvSimStep::encode).collect(Collectors.joining(","));
  }

  /** Parses {@link #encode()}'s output; fields left out keep their defaults. */
  static KvSimSchedule parse(String text) {
    Partitioning partitioning = Partitioning.HASH;
    int voters = 3;
    int snapshotEvery = 0;
    long seed = 0;
    List<KvSimStep> steps = new ArrayList<>();
    for (String field : text.trim().split("\\s+")) {
      String[] kv = field.split("=", 2);
      if (kv.length != 2) {
        throw new IllegalArgumentException("expected name=value, got " + field);
      }
      switch (kv[0]) {
        case "partitioner" -> partitioning = Partitioning.valueOf(kv[1].toUpperCase(java.util.Locale.ROOT));
        case "voters" -> voters = Integer.parseInt(kv[1]);
        case "snapshotEvery" -> snapshotEvery = Integer.parseInt(kv[1]);
        case "seed" -> seed = Long.parseLong(kv[1]);
        case "steps" -> {
          for (String s : kv[1].split(",")) {
            if (!s.isEmpty()) {
              steps.add(KvSimStep.parse(s));
            }
          }
        }
        default -> throw new IllegalArgumentException("unknown field " + kv[0]);
      }
    }
    return new KvSimSchedule(partitioning, voters, snapshotEvery, seed, steps);
  }

  @Override
  public String toString() {
    return encode();
  }
}
