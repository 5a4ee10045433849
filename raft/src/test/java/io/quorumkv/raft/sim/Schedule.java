package io.quorumkv.raft.sim;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A complete description of one simulated run: the cluster's shape, the seed and the fault
 * steps. Its text form ({@link #encode()}) fits on one line and replays the run exactly:
 * {@code voters=3 spares=0 snapshotEvery=0 msgBytes=2048 seed=42 steps=120:partition:12|3,50:heal}
 * ({@code written=true} added when the driver reports {@link SimConfig#reportWritten()}).
 *
 * @param voters        initial voters (3 or 5)
 * @param spares        extra nodes that membership steps may add
 * @param snapshotEvery snapshot and compact every this many applied entries; 0 never
 * @param msgBytes      {@link SimConfig#maxSizePerMsg()}: small values send one entry per message
 * @param seed          drives every random choice of the run
 * @param steps         the faults, in order
 * @param written       {@link SimConfig#reportWritten()}
 */
public record Schedule(int voters, int spares, int snapshotEvery, long msgBytes, long seed, List<Step> steps,
    boolean written, long sendBudget) {

  public Schedule {
    steps = List.copyOf(steps);
  }

  /** A schedule without a node-wide send budget ({@code sendBudget} 0). */
  public Schedule(int voters, int spares, int snapshotEvery, long msgBytes, long seed, List<Step> steps,
      boolean written) {
    this(voters, spares, snapshotEvery, msgBytes, seed, steps, written, 0);
  }

  /** A schedule whose driver applies only durable entries (no {@code written()} reports). */
  public Schedule(int voters, int spares, int snapshotEvery, long msgBytes, long seed, List<Step> steps) {
    this(voters, spares, snapshotEvery, msgBytes, seed, steps, false);
  }

  /** The same schedule with other steps. */
  public Schedule withSteps(List<Step> other) {
    return new Schedule(voters, spares, snapshotEvery, msgBytes, seed, other, written, sendBudget);
  }

  /** The same schedule with each node's entry bytes per peer and tick bounded to {@code bytes}. */
  public Schedule withSendBudget(long bytes) {
    return new Schedule(voters, spares, snapshotEvery, msgBytes, seed, steps, written, bytes);
  }

  /** The cluster configuration this schedule runs with. */
  public SimConfig config() {
    return SimConfig.builder(voters, seed).spares(spares).snapshots(snapshotEvery, 5).maxSizePerMsg(msgBytes)
        .reportWritten(written).sendBudget(sendBudget).build();
  }

  /** One line that {@link #parse} turns back into this schedule. */
  public String encode() {
    return "voters=" + voters + " spares=" + spares + " snapshotEvery=" + snapshotEvery + " msgBytes=" + msgBytes
        + " seed=" + seed + (written ? " written=true" : "") + (sendBudget > 0 ? " sendBudget=" + sendBudget : "")
        + " steps=" + steps.stream().map(Step::encode).collect(Collectors.joining(","));
  }

  /** Parses {@link #encode()}'s output; fields left out keep their defaults. */
  public static Schedule parse(String text) {
    int voters = 3;
    int spares = 0;
    int snapshotEvery = 0;
    long msgBytes = 2048;
    long seed = 0;
    boolean written = false;
    long sendBudget = 0;
    List<Step> steps = new ArrayList<>();
    for (String field : text.trim().split("\\s+")) {
      String[] kv = field.split("=", 2);
      if (kv.length != 2) {
        throw new IllegalArgumentException("expected name=value, got " + field);
      }
      switch (kv[0]) {
        case "voters" -> voters = Integer.parseInt(kv[1]);
        case "spares" -> spares = Integer.parseInt(kv[1]);
        case "snapshotEvery" -> snapshotEvery = Integer.parseInt(kv[1]);
        case "msgBytes" -> msgBytes = Long.parseLong(kv[1]);
        case "seed" -> seed = Long.parseLong(kv[1]);
        case "written" -> written = Boolean.parseBoolean(kv[1]);
        case "sendBudget" -> sendBudget = Long.parseLong(kv[1]);
        case "steps" -> {
          for (String s : kv[1].split(",")) {
            if (!s.isEmpty()) {
              steps.add(Step.parse(s));
            }
          }
        }
        default -> throw new IllegalArgumentException("unknown field " + kv[0]);
      }
    }
    return new Schedule(voters, spares, snapshotEvery, msgBytes, seed, steps, written, sendBudget);
  }

  @Override
  public String toString() {
    return encode();
  }
}
