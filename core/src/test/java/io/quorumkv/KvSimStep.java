package io.quorumkv;

import io.quorumkv.raft.sim.Step;

/**
 * One step of a {@link KvSimSchedule}: wait {@link #waitMillis()} of virtual time (clients keep
 * working), then strike. The Raft simulator's fault {@link Step}s (partitions, one-way cuts, loss
 * and reordering, crashes, pauses, slow disks, transfers) are reused as they are; the key-value
 * layer adds slow state machines, range splits, membership changes ({@link Rejoin}) and a replica
 * whose state rots behind Raft's back ({@link Diverge}). Text form as in the Raft simulator,
 * {@code wait:name[:args]}.
 */
sealed interface KvSimStep {

  /** Virtual milliseconds to run before this step. */
  int waitMillis();

  /** Does the step to the simulation. */
  void apply(KvSim sim);

  /** The text form. */
  String encode();

  /** Parses {@link #encode()}'s output. */
  static KvSimStep parse(String text) {
    String[] p = text.split(":", 3);
    int wait = Integer.parseInt(p[0]);
    String arg = p.length > 2 ? p[2] : "";
    return switch (p[1]) {
      case "split" -> new Split(wait, arg);
      case "slow-apply" -> {
        String[] a = arg.split("/");
        yield new SlowApply(wait, Integer.parseInt(a[0]), Integer.parseInt(a[1]));
      }
      case "rejoin" -> {
        String[] a = arg.split("/");
        yield new Rejoin(wait, Integer.parseInt(a[0]), Integer.parseInt(a[1]), Integer.parseInt(a[2]));
      }
      case "diverge" -> {
        String[] a = arg.split("/");
        yield new Diverge(wait, Integer.parseInt(a[0]), Integer.parseInt(a[1]));
      }
      default -> new Fault(Step.parse(text));
    };
  }

  /**
   * A fault step of the Raft simulator: network faults cut the one link per node pair, so every
   * partition; crashes and pauses stop whole nodes; "the leader" is partition 1's.
   */
  record Fault(Step step) implements KvSimStep {
    @Override
    public int waitMillis() {
      return step.waitMillis();
    }

    @Override
    public void apply(KvSim sim) {
      step.apply(sim);
    }

    @Override
    public String encode() {
      return step.encode();
    }
  }

  /**
   * Splits the range partition owning {@code key} at {@code key}, through its current leader
   * (nothing happens without one, or for hash partitions, whose state machine refuses).
   */
  record Split(int waitMillis, String key) implements KvSimStep {
    @Override
    public void apply(KvSim sim) {
      sim.split(key);
    }

    @Override
    public String encode() {
      return waitMillis + ":split:" + key;
    }
  }

  /**
   * Slows node {@code node}'s state machine: every batch it applies takes {@code extraMillis}
   * longer (0 restores it). The Raft loop keeps ticking meanwhile, as the node's does.
   */
  record SlowApply(int waitMillis, int node, int extraMillis) implements KvSimStep {
    @Override
    public void apply(KvSim sim) {
      sim.slowApply(node, extraMillis * 1_000L);
    }

    @Override
    public String encode() {
      return waitMillis + ":slow-apply:" + node + "/" + extraMillis;
    }
  }

  /**
   * A membership change: the current leader of the {@code partition}-th initial partition (0-based,
   * modulo their number) proposes removing node {@code node} from its voters (a ConfChange entry,
   * the leader itself included); {@code awayMillis} after the removal is proposed, the leader of
   * the day adds it back as a learner, and promotes it to voter once it has caught up (see
   * {@link KvSim#rejoin}). Nothing happens if the partition already misses a voter.
   */
  record Rejoin(int waitMillis, int partition, int node, int awayMillis) implements KvSimStep {
    @Override
    public void apply(KvSim sim) {
      sim.rejoin(partition, node, awayMillis * 1_000L);
    }

    @Override
    public String encode() {
      return waitMillis + ":rejoin:" + partition + "/" + node + "/" + awayMillis;
    }
  }

  /**
   * Jepsen's {@code diverge} nemesis: the leader of the {@code partition}-th partition (0-based, modulo
   * the partitions there are then, splits included) writes a canary key (one no client reads)
   * through Raft; once node {@code node}'s replica holds it on disk (or half a second later), the node
   * is killed, the canary's value is changed in its store on disk, behind Raft's back (no log entry,
   * applied index unchanged), and the node restarts (a node that was down stays down). See
   * {@link KvSim#diverge}; the hash checks must then single that replica out by majority.
   */
  record Diverge(int waitMillis, int node, int partition) implements KvSimStep {
    @Override
    public void apply(KvSim sim) {
      sim.diverge(node, partition);
    }

    @Override
    public String encode() {
      return waitMillis + ":diverge:" + node + "/" + partition;
    }
  }
}
