package io.quorumkv.jepsen;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * One kind of fault: {@link #start} injects it, {@link #stop} undoes it. Both return what they
 * did, for the history ({@code start-<name>} and {@code stop-<name>} nemesis events); a start
 * that finds nothing to do returns null and leaves no event.
 */
sealed interface Nemesis {

  /** The kinds of fault; {@link #create} builds one. */
  enum Kind {
    /** Network partitions through the nodes' fault hooks: majority/minority, isolated leader, bridge, one-way. */
    PARTITION,
    /** SIGKILL of one node, a minority, a majority, all, or the leader; restart from the same data. */
    KILL,
    /** SIGSTOP then SIGCONT, mostly of the leader. */
    PAUSE,
    /** Restart one node under libfaketime with its clocks offset and running 10% fast or slow. */
    CLOCK,
    /** Remove a member, then add a fresh node in its place. */
    MEMBERSHIP,
    /** Transfer the leadership of a random partition to a random member. */
    TRANSFER;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  Kind kind();

  /** Injects the fault; returns what was done, or null if nothing could be done now. */
  String start(Random rnd);

  /** Undoes {@link #start}; returns what was done. */
  String stop();

  /** Whether the fault is over once {@link #start} returns (a leadership transfer). */
  default boolean instant() {
    return false;
  }

  /** A nemesis of {@code kind} acting on {@code cluster}. */
  static Nemesis create(Kind kind, Cluster cluster) {
    return switch (kind) {
      case PARTITION -> new Partition(cluster);
      case KILL -> new Kill(cluster);
      case PAUSE -> new Pause(cluster);
      case CLOCK -> new Clock(cluster);
      case MEMBERSHIP -> new Membership(cluster);
      case TRANSFER -> new Transfer(cluster);
    };
  }

  /** Cuts links along a random {@link Grudge}. */
  final class Partition implements Nemesis {
    private final Cluster cluster;

    Partition(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.PARTITION;
    }

    @Override
    public String start(Random rnd) {
      Grudge.Kind shape = Grudge.Kind.values()[rnd.nextInt(Grudge.Kind.values().length)];
      List<Long> members = cluster.memberIds();
      if (members.size() < 2 || (shape == Grudge.Kind.BRIDGE && members.size() < 3)) {
        return null;
      }
      Grudge g = Grudge.random(shape, members, cluster.leader(), rnd);
      List<Long> missed = cluster.partition(g);
      return g.describe() + (missed.isEmpty() ? "" : " (not yet told: " + missed + ")");
    }

    @Override
    public String stop() {
      List<Long> missed = cluster.healNetwork();
      return "heal" + (missed.isEmpty() ? "" : " (not told: " + missed + ")");
    }
  }

  /** Chooses some members: one, a minority, a majority, all, or the leader. */
  static List<Long> targets(Cluster cluster, Random rnd, boolean leaderMostly) {
    List<Long> members = new ArrayList<>(cluster.memberIds());
    Collections.sort(members);
    Collections.shuffle(members, rnd);
    int n = members.size();
    int mode = rnd.nextInt(leaderMostly ? 3 : 5);
    if (leaderMostly ? mode < 2 : mode == 4) {
      long leader = cluster.leader();
      if (leader != 0) {
        return List.of(leader);
      }
    }
    int count = switch (mode) {
      case 1 -> Math.max(1, (n - 1) / 2);
      case 2 -> n / 2 + 1;
      case 3 -> n;
      default -> 1;
    };
    return List.copyOf(members.subList(0, Math.min(count, n)));
  }

  /** SIGKILL and restart. */
  final class Kill implements Nemesis {
    private final Cluster cluster;
    private List<Long> killed = List.of();

    Kill(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.KILL;
    }

    @Override
    public String start(Random rnd) {
      killed = targets(cluster, rnd, false);
      for (long id : killed) {
        cluster.kill(id);
      }
      return "SIGKILL " + killed;
    }

    @Override
    public String stop() {
      List<String> restarted = new ArrayList<>();
      for (long id : killed) {
        if (cluster.memberIds().contains(id) && !cluster.node(id).isAlive()) {
          restarted.add("n" + id + " " + cluster.restart(id));
        }
      }
      killed = List.of();
      return "restart " + restarted;
    }
  }

  /** SIGSTOP and SIGCONT. */
  final class Pause implements Nemesis {
    private final Cluster cluster;
    private List<Long> paused = List.of();

    Pause(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.PAUSE;
    }

    @Override
    public String start(Random rnd) {
      List<Long> chosen = new ArrayList<>();
      for (long id : targets(cluster, rnd, true)) {
        if (cluster.node(id).isAlive()) {
          cluster.pause(id);
          chosen.add(id);
        }
      }
      paused = chosen;
      return chosen.isEmpty() ? null : "SIGSTOP " + chosen;
    }

    @Override
    public String stop() {
      for (long id : paused) {
        cluster.resume(id);
      }
      String done = "SIGCONT " + paused;
      paused = List.of();
      return done;
    }
  }

  /** Restart under libfaketime, then restart with the real clock. */
  final class Clock implements Nemesis {
    private final Cluster cluster;
    private long skewed;

    Clock(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.CLOCK;
    }

    /** Why this nemesis cannot run here, or null. */
    static String unavailableReason() {
      return Faketime.library().isPresent() ? null : Faketime.unavailableReason();
    }

    @Override
    public String start(Random rnd) {
      if (Faketime.library().isEmpty()) {
        return null;
      }
      List<Long> target = targets(cluster, rnd, true);
      skewed = target.get(0);
      // An offset (wall and monotonic clocks jump) and a rate within the lease's drift margin
      // (ReadConsistency.LEASE claims linearizability only inside it).
      long offset = (rnd.nextBoolean() ? 1 : -1) * (5 + rnd.nextInt(300));
      String rate = rnd.nextBoolean() ? "0.9" : "1.1";
      String spec = (offset >= 0 ? "+" : "") + offset + " x" + rate;
      String answered = cluster.restart(skewed, spec, Map.of(
          "LD_PRELOAD", Faketime.library().get().toString(),
          "FAKETIME", spec));
      return "n" + skewed + " restarted with FAKETIME=\"" + spec + "\", " + answered;
    }

    @Override
    public String stop() {
      long id = skewed;
      skewed = 0;
      if (id == 0 || !cluster.memberIds().contains(id)) {
        return "nothing to reset";
      }
      return "n" + id + " restarted with the real clock, " + cluster.restart(id);
    }
  }

  /** Removes a member, then adds a fresh one (ids are never reused). */
  final class Membership implements Nemesis {
    private final Cluster cluster;
    private boolean removed;

    Membership(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.MEMBERSHIP;
    }

    @Override
    public String start(Random rnd) {
      List<Long> members = cluster.memberIds();
      if (members.size() < 3) {
        return null;
      }
      long victim = rnd.nextInt(3) == 0 && cluster.leader() != 0 ? cluster.leader()
          : members.get(rnd.nextInt(members.size()));
      try {
        cluster.removeNode(victim);
        removed = true;
        return "removed n" + victim;
      } catch (RuntimeException e) {
        removed = false;
        return "remove n" + victim + " failed: " + e;
      }
    }

    @Override
    public String stop() {
      if (!removed) {
        return "nothing to add back";
      }
      removed = false;
      try {
        return "added n" + cluster.addNode();
      } catch (RuntimeException e) {
        return "add failed: " + e;
      }
    }
  }

  /** Leadership transfer of one partition. */
  final class Transfer implements Nemesis {
    private final Cluster cluster;

    Transfer(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.TRANSFER;
    }

    @Override
    public boolean instant() {
      return true;
    }

    @Override
    public String start(Random rnd) {
      List<Long> responsive = cluster.responsive();
      if (responsive.size() < 2) {
        return null;
      }
      long via = responsive.get(rnd.nextInt(responsive.size()));
      Map<Long, Long> leaders;
      try {
        leaders = cluster.leaders(via);
      } catch (RuntimeException e) {
        return null;
      }
      if (leaders.isEmpty()) {
        return null;
      }
      List<Long> partitions = new ArrayList<>(leaders.keySet());
      long partition = partitions.get(rnd.nextInt(partitions.size()));
      List<Long> candidates = new ArrayList<>(responsive);
      candidates.remove(leaders.get(partition));
      long to = candidates.get(rnd.nextInt(candidates.size()));
      try {
        cluster.admin(via).transferLeader(partition, to);
        return "partition " + partition + " from n" + leaders.get(partition) + " to n" + to;
      } catch (RuntimeException e) {
        return "partition " + partition + " from n" + leaders.get(partition) + " to n" + to + " failed: " + e;
      }
    }

    @Override
    public String stop() {
      return "done";
    }
  }
}
