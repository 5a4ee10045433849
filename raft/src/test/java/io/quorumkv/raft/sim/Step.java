package io.quorumkv.raft.sim;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * One step of a fault schedule: wait {@link #waitMillis()} of virtual time (clients keep
 * working), then do something to the cluster. Each step has a short text form, e.g.
 * {@code 120:partition:12|3}, used by {@link Schedule#encode()} for one-line replays.
 *
 * <p>Fault steps act on any {@link FaultTarget} (core's multi-raft simulation reuses them);
 * membership steps need the single-group {@link SimCluster}.
 */
public sealed interface Step {

  /** Virtual milliseconds to run before this step. */
  int waitMillis();

  /** Does the step to the cluster. */
  void apply(FaultTarget cluster);

  /** The step's name in the text form. */
  String name();

  /** The step's arguments in the text form; empty if none. */
  default String args() {
    return "";
  }

  /** The text form, {@code wait:name[:args]}. */
  default String encode() {
    return waitMillis() + ":" + name() + (args().isEmpty() ? "" : ":" + args());
  }

  /** Parses {@link #encode()}'s output. */
  static Step parse(String text) {
    Step step = parseOrNull(text);
    if (step == null) {
      throw new IllegalArgumentException("unknown step " + text);
    }
    return step;
  }

  /**
   * Parses {@link #encode()}'s output; null if the name is not a step of this package (a
   * simulator with steps of its own tries those next).
   */
  static Step parseOrNull(String text) {
    String[] p = text.split(":", 3);
    int wait = Integer.parseInt(p[0]);
    String arg = p.length > 2 ? p[2] : "";
    return switch (p[1]) {
      case "partition" -> new Partition(wait, arg);
      case "oneway" -> new OneWay(wait, Integer.parseInt(arg.substring(0, 1)), Integer.parseInt(arg.substring(1)));
      case "isolate-leader" -> new IsolateLeader(wait);
      case "heal" -> new Heal(wait);
      case "crash" -> new Crash(wait, Integer.parseInt(arg));
      case "crash-leader" -> new CrashLeader(wait);
      case "restart" -> new Restart(wait, Integer.parseInt(arg));
      case "faults" -> {
        String[] f = arg.split("/");
        yield new Faults(wait, Integer.parseInt(f[0]), Integer.parseInt(f[1]), Integer.parseInt(f[2]));
      }
      case "add-learner" -> new AddLearner(wait, Integer.parseInt(arg));
      case "promote" -> new Promote(wait, Integer.parseInt(arg));
      case "remove" -> new Remove(wait, Integer.parseInt(arg));
      case "remove-leader" -> new RemoveLeader(wait);
      case "transfer" -> new TransferLeader(wait, Integer.parseInt(arg));
      case "churn" -> new LeaderChurn(wait, Integer.parseInt(arg));
      case "pause-leader" -> new PauseLeader(wait, Integer.parseInt(arg));
      case "slow-disk" -> new SlowDisk(wait, Integer.parseInt(arg.substring(0, 1)), Integer.parseInt(arg.substring(2)));
      case "no-campaign" -> new NoCampaign(wait, Integer.parseInt(arg.substring(0, 1)), Integer.parseInt(arg.substring(2)));
      case "replace" -> new Replace(wait, Integer.parseInt(arg.substring(0, 1)), Integer.parseInt(arg.substring(1)));
      default -> null;
    };
  }

  /** The single-group cluster a membership step needs; fails clearly on another target. */
  private static SimCluster singleGroup(FaultTarget target, Step step) {
    if (target instanceof SimCluster c) {
      return c;
    }
    throw new IllegalArgumentException(step.encode() + " changes the membership of a single-group SimCluster only");
  }

  /**
   * Splits the nodes into groups, written as digits: {@code 12|3} cuts {1,2} from {3}. Nodes
   * not named are alone.
   */
  record Partition(int waitMillis, String groups) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      List<Set<Long>> sets = new ArrayList<>();
      for (String g : groups.split("\\|")) {
        Set<Long> set = new TreeSet<>();
        for (char c : g.toCharArray()) {
          set.add((long) (c - '0'));
        }
        sets.add(set);
      }
      cluster.partition(sets);
    }

    @Override
    public String name() {
      return "partition";
    }

    @Override
    public String args() {
      return groups;
    }
  }

  /** Cuts the link from one node to another only. */
  record OneWay(int waitMillis, int from, int to) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      if (from != to) {
        cluster.cutOneWay(from, to);
      }
    }

    @Override
    public String name() {
      return "oneway";
    }

    @Override
    public String args() {
      return String.valueOf(from) + to;
    }
  }

  /** Cuts the current leader off from everyone (a no-op without a leader). */
  record IsolateLeader(int waitMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      OptionalLong leader = cluster.leader();
      if (leader.isEmpty()) {
        return;
      }
      Set<Long> rest = new TreeSet<>(cluster.nodeIds());
      rest.remove(leader.getAsLong());
      cluster.partition(List.of(Set.of(leader.getAsLong()), rest));
    }

    @Override
    public String name() {
      return "isolate-leader";
    }
  }

  /** Restores every link. */
  record Heal(int waitMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.heal();
    }

    @Override
    public String name() {
      return "heal";
    }
  }

  /** Crashes a node, losing its unsynced writes. */
  record Crash(int waitMillis, int node) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.crash(node);
    }

    @Override
    public String name() {
      return "crash";
    }

    @Override
    public String args() {
      return String.valueOf(node);
    }
  }

  /** Crashes whichever node leads now. */
  record CrashLeader(int waitMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.leader().ifPresent(cluster::crash);
    }

    @Override
    public String name() {
      return "crash-leader";
    }
  }

  /** Restarts a crashed node from its disk. */
  record Restart(int waitMillis, int node) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.restart(node);
    }

    @Override
    public String name() {
      return "restart";
    }

    @Override
    public String args() {
      return String.valueOf(node);
    }
  }

  /** Changes message loss, duplication and the delay spread (a wide spread reorders). */
  record Faults(int waitMillis, int dropPercent, int duplicatePercent, int maxDelayMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.setFaults(new SimNetwork.Faults(dropPercent, duplicatePercent, 100, 100 + maxDelayMillis * 1000L));
    }

    @Override
    public String name() {
      return "faults";
    }

    @Override
    public String args() {
      return dropPercent + "/" + duplicatePercent + "/" + maxDelayMillis;
    }
  }

  /** Adds a spare node as a learner. */
  record AddLearner(int waitMillis, int node) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      singleGroup(cluster, this).addLearner(node);
    }

    @Override
    public String name() {
      return "add-learner";
    }

    @Override
    public String args() {
      return String.valueOf(node);
    }
  }

  /** Promotes an in-sync learner to voter. */
  record Promote(int waitMillis, int node) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      singleGroup(cluster, this).promote(node);
    }

    @Override
    public String name() {
      return "promote";
    }

    @Override
    public String args() {
      return String.valueOf(node);
    }
  }

  /** Removes a member unless it leads now ({@link RemoveLeader} does that). */
  record Remove(int waitMillis, int node) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      if (cluster.leader().orElse(0) != node) {
        singleGroup(cluster, this).remove(node);
      }
    }

    @Override
    public String name() {
      return "remove";
    }

    @Override
    public String args() {
      return String.valueOf(node);
    }
  }

  /** Removes whichever node leads now. */
  record RemoveLeader(int waitMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.leader().ifPresent(id -> singleGroup(cluster, this).remove(id));
    }

    @Override
    public String name() {
      return "remove-leader";
    }
  }

  /** Asks the current leader to hand leadership to a node (thesis §3.10). */
  record TransferLeader(int waitMillis, int node) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.transferLeadership(node);
    }

    @Override
    public String name() {
      return "transfer";
    }

    @Override
    public String args() {
      return String.valueOf(node);
    }
  }

  /**
   * Leaders come and go fast: {@code rounds} times, after 1–60 ms, restart one crashed node and
   * then crash or isolate whoever leads. Short-lived leaders leave entries of several terms on
   * minorities, the situation of the paper's figure 8.
   */
  record LeaderChurn(int waitMillis, int rounds) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      SplittableRandom r = cluster.choices();
      for (int i = 0; i < rounds; i++) {
        cluster.runFor(1_000 + r.nextLong(60_000));
        List<Long> down = new ArrayList<>();
        for (long id : cluster.nodeIds()) {
          if (!cluster.isUp(id)) {
            down.add(id);
          }
        }
        if (!down.isEmpty()) {
          cluster.restart(down.get(r.nextInt(down.size())));
        }
        if (r.nextBoolean()) {
          cluster.leader().ifPresent(cluster::crash);
        } else {
          new IsolateLeader(0).apply(cluster);
        }
      }
    }

    @Override
    public String name() {
      return "churn";
    }

    @Override
    public String args() {
      return String.valueOf(rounds);
    }
  }

  /**
   * Stops the leader's process for a while (a long GC pause): it keeps believing it leads while
   * the others elect a new leader, and when it resumes it may act on that belief first.
   */
  record PauseLeader(int waitMillis, int pauseMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.leader().ifPresent(id -> cluster.pause(id, pauseMillis * 1_000L));
    }

    @Override
    public String name() {
      return "pause-leader";
    }

    @Override
    public String args() {
      return String.valueOf(pauseMillis);
    }
  }

  /**
   * Replaces a voter by an in-sync learner in one joint-consensus change, unless the voter leads
   * now (see {@link RemoveLeader}).
   */
  record Replace(int waitMillis, int in, int out) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      if (cluster.leader().orElse(0) != out) {
        singleGroup(cluster, this).replace(in, out);
      }
    }

    @Override
    public String name() {
      return "replace";
    }

    @Override
    public String args() {
      return String.valueOf(in) + out;
    }
  }

  /**
   * Slows one node's disk: every sync takes {@code extraMillis} longer, which widens the window
   * in which a crash loses acknowledged-looking but unsynced writes.
   */
  record SlowDisk(int waitMillis, int node, int extraMillis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      cluster.slowDisk(node, extraMillis * 1_000L);
    }

    @Override
    public String name() {
      return "slow-disk";
    }

    @Override
    public String args() {
      return node + "/" + extraMillis;
    }
  }

  /**
   * Forbids one node to lead for {@code millis} (the driver's switch, {@code RawNode.setPromotable}):
   * it must not become leader meanwhile, and still votes, so the others elect among themselves.
   */
  record NoCampaign(int waitMillis, int node, int millis) implements Step {
    @Override
    public void apply(FaultTarget cluster) {
      SimCluster c = singleGroup(cluster, this);
      c.note("no-campaign", node + " for " + millis + "ms");
      c.node(node).forbidLeadingFor(millis * 1_000L);
    }

    @Override
    public String name() {
      return "no-campaign";
    }

    @Override
    public String args() {
      return node + "/" + millis;
    }
  }
}
