package io.quorumkv.testing;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.quorumkv.KvNode;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * One step of a fault schedule, applied to a {@link TestCluster} by {@link ScheduleRunner}. Steps
 * name nodes by id (1..N are the initial members) or {@link Target#leader()} (whoever leads the
 * first partition when the step runs). A step that cannot apply (the node is down, no leader is
 * known, it would remove an initial member) is skipped and says so in the history.
 */
public sealed interface Step {

  /**
   * Applies this step to {@code cluster}.
   *
   * @return what was done, for the history's nemesis line, e.g. {@code [[1], [2, 3]]}
   * @throws io.quorumkv.KvException if an administrative call failed (the runner records it)
   */
  String apply(TestCluster cluster) throws InterruptedException;

  /** The name of the nemesis event this step writes, e.g. {@code partition}. */
  String name();

  /** A node a step acts on: a fixed id, or the current leader. */
  sealed interface Target {
    /** Node {@code id}. */
    static Target node(long id) {
      return new Node(id);
    }

    /** Whoever leads the first partition when the step runs. */
    static Target leader() {
      return new Leader();
    }

    /** The node this target names now, if it can be told. */
    Optional<Long> resolve(TestCluster cluster);

    /** A fixed node. */
    record Node(long id) implements Target {
      @Override
      public Optional<Long> resolve(TestCluster cluster) {
        return Optional.of(id);
      }

      @Override
      public String toString() {
        return "n" + id;
      }
    }

    /** The current leader of the first partition. */
    record Leader() implements Target {
      @Override
      public Optional<Long> resolve(TestCluster cluster) {
        return cluster.partitions().stream().findFirst().flatMap(cluster::leaderOf);
      }

      @Override
      public String toString() {
        return "leader";
      }
    }
  }

  /** Splits the nodes into {@code minority} and everyone else (nodes added later included). */
  record Partition(Set<Long> minority) implements Step {
    /** Copies the set, in order. */
    public Partition {
      minority = Set.copyOf(minority);
    }

    @Override
    public String apply(TestCluster cluster) {
      Set<Long> rest = new TreeSet<>(cluster.members());
      rest.addAll(cluster.running());
      rest.removeAll(minority);
      Set<Long> small = new TreeSet<>(minority);
      cluster.partition(small, rest);
      return "[" + small + ", " + rest + "]";
    }

    @Override
    public String name() {
      return "partition";
    }

    @Override
    public String toString() {
      return "partition " + new TreeSet<>(minority) + "|rest";
    }
  }

  /** Cuts one node off from all the others. */
  record Isolate(Target target) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      return target.resolve(cluster).map(id -> {
        cluster.isolate(id);
        return "isolated " + id;
      }).orElse("skipped: no " + target);
    }

    @Override
    public String name() {
      return "isolate";
    }

    @Override
    public String toString() {
      return "isolate " + target;
    }
  }

  /** Drops every message {@code from} sends to {@code to} (the reverse direction still works). */
  record BlockOneWay(long from, long to) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      cluster.blockOneWay(from, to);
      return from + " -> " + to;
    }

    @Override
    public String name() {
      return "block";
    }

    @Override
    public String toString() {
      return "block " + from + "->" + to;
    }
  }

  /** Removes every network fault. */
  record Heal() implements Step {
    @Override
    public String apply(TestCluster cluster) {
      cluster.heal();
      return "healed";
    }

    @Override
    public String name() {
      return "heal";
    }

    @Override
    public String toString() {
      return "heal";
    }
  }

  /** Crashes a node: it stops at once; an in-memory node loses what it had not synced. */
  record Crash(Target target) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      return target.resolve(cluster).filter(cluster.running()::contains).map(id -> {
        cluster.crash(id);
        return "crashed " + id;
      }).orElse("skipped: " + target + " not running");
    }

    @Override
    public String name() {
      return "crash";
    }

    @Override
    public String toString() {
      return "crash " + target;
    }
  }

  /** Restarts every member that is down. */
  record Restart() implements Step {
    @Override
    public String apply(TestCluster cluster) {
      Set<Long> down = cluster.down();
      cluster.restartAll();
      return "restarted " + down;
    }

    @Override
    public String name() {
      return "restart";
    }

    @Override
    public String toString() {
      return "restart";
    }
  }

  /** Starts a new node and adds it to every partition (learner, caught up, voter). */
  record AddNode() implements Step {
    @Override
    public String apply(TestCluster cluster) {
      return "added " + cluster.addNode();
    }

    @Override
    public String name() {
      return "add-node";
    }

    @Override
    public String toString() {
      return "add-node";
    }
  }

  /**
   * Removes a member from every partition and stops it; skipped unless the cluster has more
   * members than it started with, so schedules cannot shrink it below its initial size.
   */
  record RemoveNode(Target target) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      if (cluster.members().size() <= cluster.initialMembers().size()) {
        return "skipped: only " + cluster.members().size() + " members";
      }
      return target.resolve(cluster).filter(cluster.running()::contains).map(id -> {
        cluster.removeNode(id);
        return "removed " + id;
      }).orElse("skipped: " + target + " not running");
    }

    @Override
    public String name() {
      return "remove-node";
    }

    @Override
    public String toString() {
      return "remove-node " + target;
    }
  }

  /**
   * Empties a member and then stops it ({@link TestCluster#decommission}), on a cluster with a
   * replication factor (of at most 3); skipped if it would leave fewer than 3 members, or the
   * cluster has no replication factor.
   */
  record Decommission(Target target) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      if (cluster.members().size() <= 3) {
        return "skipped: only " + cluster.members().size() + " members";
      }
      Optional<Long> id = target.resolve(cluster).filter(cluster.running()::contains);
      if (id.isEmpty()) {
        return "skipped: " + target + " not running";
      }
      try {
        cluster.decommission(id.get());
        return "decommissioned " + id.get();
      } catch (IllegalArgumentException e) {
        return "skipped: " + e.getMessage();
      }
    }

    @Override
    public String name() {
      return "decommission";
    }

    @Override
    public String toString() {
      return "decommission " + target;
    }
  }

  /**
   * Splits the range partition holding {@code key} at {@code key}, through the first running
   * member; skipped if a partition starts at {@code key} already (or the cluster hashes its keys).
   */
  record Split(String key) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      return viaFirstRunning(cluster, n -> "split at " + key + " into partition " + n.split(key.getBytes(UTF_8)));
    }

    @Override
    public String name() {
      return "split";
    }

    @Override
    public String toString() {
      return "split " + key;
    }
  }

  /**
   * Merges the range partition holding {@code key} into its left-hand neighbour, through the first
   * running member; skipped if that partition has no left-hand neighbour. A merge that times out
   * (a member of the frozen partition is down or cut off) goes on in the background.
   */
  record Merge(String key) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      return viaFirstRunning(cluster, n -> "merged " + key + "'s partition into partition "
          + n.merge(key.getBytes(UTF_8)));
    }

    @Override
    public String name() {
      return "merge";
    }

    @Override
    public String toString() {
      return "merge " + key;
    }
  }

  /** Asks the leader of every partition to hand leadership to node {@code to}. */
  record TransferLeader(long to) implements Step {
    @Override
    public String apply(TestCluster cluster) {
      if (!cluster.running().contains(to) || !cluster.members().contains(to)) {
        return "skipped: " + to + " is not a running member";
      }
      for (long partition : cluster.partitions()) {
        cluster.node(to).transferLeader(partition, to);
      }
      return "to " + to;
    }

    @Override
    public String name() {
      return "transfer-leader";
    }

    @Override
    public String toString() {
      return "transfer-leader->" + to;
    }
  }

  /**
   * Makes an administrative call through the first running member; an
   * {@link IllegalArgumentException} means the step does not apply to the cluster as it is now.
   */
  private static String viaFirstRunning(TestCluster cluster, Function<KvNode, String> call) {
    Optional<Long> via = cluster.running().stream().findFirst();
    if (via.isEmpty()) {
      return "skipped: no node running";
    }
    try {
      return call.apply(cluster.node(via.get())) + " via " + via.get();
    } catch (IllegalArgumentException e) {
      return "skipped: " + e.getMessage();
    }
  }

  /** Lets the cluster and the clients run under the current faults. */
  record Wait(Duration duration) implements Step {
    @Override
    public String apply(TestCluster cluster) throws InterruptedException {
      Thread.sleep(duration.toMillis());
      return duration.toMillis() + " ms";
    }

    @Override
    public String name() {
      return "wait";
    }

    @Override
    public String toString() {
      return "wait " + duration.toMillis() + "ms";
    }
  }
}
