package io.quorumkv.jepsen;

import io.quorumkv.OfflineReplicas;
import io.quorumkv.PartitionStatus;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

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
    /**
     * A power cut of one node, a minority, a majority, all, or the leader: each loses every write
     * it has not synced (kill -9 keeps them in the page cache), then restarts on what is left.
     */
    POWER,
    /** SIGSTOP then SIGCONT, mostly of the leader. */
    PAUSE,
    /** Restart one node under libfaketime with its clocks offset and running 10% fast or slow. */
    CLOCK,
    /** Remove a member, then add a fresh node in its place. */
    MEMBERSHIP,
    /** Transfer the leadership of a random partition to a random member. */
    TRANSFER,
    /**
     * Cut the leader off from every peer (both ways) while clients still reach it, so that it
     * believes it leads until CheckQuorum deposes it while the others elect a new leader;
     * {@link DeposedLeaderWorkload} aims reads at it meanwhile.
     */
    DEPOSE,
    /**
     * SIGSTOP the leader for a little longer than a client attempt (1 s) and shorter than most
     * elections: clients retry the same write through other nodes, and every attempt reaches the
     * leader when it wakes (the exactly-once sessions must apply it once).
     */
    STALL,
    /** Split a range partition at a random register or set key (range-partitioned runs only). */
    SPLIT,
    /** Delay every log sync of one node (mostly the leader): slow (tens of ms) or stalled (2.5 s). */
    DISK,
    /**
     * SIGKILL one node, change a canary's value in its replica on disk behind Raft's back (bit rot),
     * restart it: the replica hash checks must find it and its partition's leader replace it
     * ({@link ReplicaRot} judges that at the end). Once per run.
     */
    DIVERGE;

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

  /**
   * How long to hold the fault when it is the only one active, given the scheduler's draw; a
   * nemesis whose point is a precise duration overrides it.
   */
  default int holdMs(int drawn, Random rnd) {
    return drawn;
  }

  /** What this nemesis itself observed and judged (the cluster's reaction to its faults), if anything. */
  default List<CheckResult> checks() {
    return List.of();
  }

  /**
   * A nemesis of {@code kind} acting on {@code cluster}; {@code alone} when no other fault will be
   * active at the same time (a nemesis may then judge the cluster's reaction to its own fault).
   */
  static Nemesis create(Kind kind, Cluster cluster, boolean alone) {
    return switch (kind) {
      case PARTITION -> new Partition(cluster);
      case KILL, POWER -> new Crash(cluster, kind);
      case PAUSE -> new Pause(cluster);
      case CLOCK -> new Clock(cluster);
      case MEMBERSHIP -> new Membership(cluster);
      case TRANSFER -> new Transfer(cluster);
      case DEPOSE -> new Depose(cluster);
      case STALL -> new Stall(cluster);
      case SPLIT -> new Split(cluster);
      case DISK -> new Disk(cluster, alone);
      case DIVERGE -> new Diverge(cluster);
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

  /**
   * A crash and a restart from the same data directory: SIGKILL ({@link Kind#KILL}: the page
   * cache keeps what was written) or a power cut ({@link Kind#POWER}: what was not synced is lost).
   */
  final class Crash implements Nemesis {
    private final Cluster cluster;
    private final Kind kind;
    private List<Long> crashed = List.of();

    Crash(Cluster cluster, Kind kind) {
      this.cluster = cluster;
      this.kind = kind;
    }

    @Override
    public Kind kind() {
      return kind;
    }

    @Override
    public String start(Random rnd) {
      crashed = targets(cluster, rnd, false);
      if (kind == Kind.KILL) {
        crashed.forEach(cluster::kill);
        return "SIGKILL " + crashed;
      }
      List<String> done = new ArrayList<>();
      for (long id : crashed) {
        done.add(cluster.cutPower(id));
      }
      return "power cut " + done;
    }

    @Override
    public String stop() {
      List<String> restarted = new ArrayList<>();
      for (long id : crashed) {
        if (cluster.memberIds().contains(id) && !cluster.node(id).isAlive()) {
          restarted.add("n" + id + " " + cluster.restart(id));
        }
      }
      crashed = List.of();
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
        return "added " + cluster.addNode();
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

  /**
   * Cuts a leader off from every peer, both ways, at a chosen moment of its CheckQuorum period,
   * and publishes it as {@link Cluster#deposed()} with the partition it leads, so
   * {@link DeposedLeaderWorkload} writes that partition through the successor and reads it from
   * the isolated node.
   *
   * <p>A leader checks its quorum once per election timeout, counted from when it became leader,
   * and steps down at the first check that finds no peer heard from since the previous one. Cut
   * at a random moment, it steps down one to two election timeouts later, while the majority
   * elects a successor one to two election timeouts after its last heartbeat: a race the
   * successor wins about half the time. So the nemesis first transfers one partition of the
   * leader of the most partitions to another member, notes when that member reports itself
   * leader, and cuts it off one election timeout and a bit later: just after its first check,
   * which still sees the peers. Its next check does too, so it steps down only at the third,
   * about 1.85 s after the cut, and the successor (elected after 1-2 s, most often well under
   * 1.85 s) overlaps with it for several hundred ms. If the transfer does not happen in time the
   * current leader is cut off as it is, at a random moment of its period.
   */
  final class Depose implements Nemesis {
    /** How far past the new leader's first CheckQuorum check to cut. */
    private static final long PAST_CHECK_MS = 150;
    private final Cluster cluster;

    Depose(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.DEPOSE;
    }

    /** Long enough for CheckQuorum to depose it (at most two election timeouts, 2 s) and a bit. */
    @Override
    public int holdMs(int drawn, Random rnd) {
      return 2500 + rnd.nextInt(1001);
    }

    @Override
    public String start(Random rnd) {
      long leader = cluster.leader();
      List<Long> members = cluster.memberIds();
      if (leader == 0 || members.size() < 3 || cluster.node(leader).isPaused()) {
        return null;
      }
      Set<Long> led = new TreeSet<>();
      try {
        cluster.leaders(leader).forEach((p, l) -> {
          if (l == leader) {
            led.add(p);
          }
        });
      } catch (RuntimeException e) {
        return null;
      }
      if (led.isEmpty()) {
        return null;
      }
      List<Long> candidates = cluster.responsive();
      candidates.remove(Long.valueOf(leader));
      long partition = new ArrayList<>(led).get(rnd.nextInt(led.size()));
      long victim = leader;
      Set<Long> partitions = led;
      String timing = "at a random moment of its CheckQuorum period (the transfer to it did not happen in time)";
      if (!candidates.isEmpty()) {
        long to = candidates.get(rnd.nextInt(candidates.size()));
        long since = transfer(partition, to);
        if (since != 0) {
          Cluster.sleep(Math.max(0, Cluster.ELECTION_TIMEOUT_MS + PAST_CHECK_MS - (System.nanoTime() - since) / 1_000_000));
          victim = to;
          partitions = Set.of(partition);
          timing = "just after its first CheckQuorum check as leader of partition " + partition
              + " (transferred to it from n" + leader + ")";
        }
      }
      List<Long> others = new ArrayList<>(members);
      others.remove(Long.valueOf(victim));
      Grudge g = Grudge.split("deposed-leader", List.of(victim), others);
      List<Long> missed = cluster.partition(g);
      cluster.depose(victim, partitions);
      return "n" + victim + " (leader of partitions " + partitions + ") cut off from " + others + " " + timing
          + ", clients still reach it" + (missed.isEmpty() ? "" : " (not yet told: " + missed + ")");
    }

    /**
     * Moves {@code partition}'s leadership to {@code to}; returns when (System.nanoTime) {@code to}
     * first reported itself its leader, or 0 if it did not within an election timeout and a half.
     */
    private long transfer(long partition, long to) {
      try {
        cluster.admin(to).transferLeader(partition, to);
      } catch (RuntimeException e) {
        return 0;
      }
      long deadline = System.nanoTime() + (Cluster.ELECTION_TIMEOUT_MS * 3 / 2) * 1_000_000;
      while (System.nanoTime() < deadline) {
        try {
          if (cluster.leaders(to).getOrDefault(partition, 0L) == to) {
            return System.nanoTime();
          }
        } catch (RuntimeException e) {
          return 0;
        }
        Cluster.sleep(10);
      }
      return 0;
    }

    @Override
    public String stop() {
      cluster.depose(0, Set.of());
      List<Long> missed = cluster.healNetwork();
      return "heal" + (missed.isEmpty() ? "" : " (not told: " + missed + ")");
    }
  }

  /**
   * SIGSTOP of the leader for 1.1-1.4 s, then SIGCONT: longer than one client attempt
   * ({@code KvFrontend.MAX_ATTEMPT}, 1 s), so every write in flight to it is retried, with the
   * same session sequence number, through another node that forwards it to the same sleeping
   * leader; shorter than most elections (1-2 s), so the leader usually wakes still leading and
   * proposes both attempts. Without deduplication a compare-and-set would apply once and
   * answer "mismatch" to the retry ({@link CounterWorkload} catches that).
   */
  final class Stall implements Nemesis {
    private final Cluster cluster;
    private long paused;

    Stall(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.STALL;
    }

    @Override
    public int holdMs(int drawn, Random rnd) {
      return 1100 + rnd.nextInt(301);
    }

    @Override
    public String start(Random rnd) {
      long leader = cluster.leader();
      if (leader == 0 || !cluster.node(leader).isAlive() || cluster.node(leader).isPaused()) {
        return null;
      }
      cluster.pause(leader);
      paused = leader;
      return "SIGSTOP n" + leader + " (the leader) for about one client attempt";
    }

    @Override
    public String stop() {
      long id = paused;
      paused = 0;
      if (id != 0) {
        cluster.resume(id);
      }
      return "SIGCONT n" + id;
    }
  }

  /**
   * Splits the range partition holding a random register or set key at that key, through a
   * random responsive member (which routes the split to that partition's leader). The bank's
   * accounts sort before every key it picks, so they stay in one partition, as a batch needs.
   */
  final class Split implements Nemesis {
    /** Prefixes of the keys written by the register, set and counter workloads. */
    private static final List<String> PREFIXES = List.of("reg-linearizable/", "reg-follower/", "reg-lease/",
        "set/e", "reg-deposed-linearizable/", "reg-deposed-lease/");
    private final Cluster cluster;

    Split(Cluster cluster) {
      this.cluster = cluster;
    }

    @Override
    public Kind kind() {
      return Kind.SPLIT;
    }

    @Override
    public boolean instant() {
      return true;
    }

    @Override
    public String start(Random rnd) {
      if (!cluster.rangePartitioned()) {
        return null;
      }
      List<Long> responsive = cluster.responsive();
      if (responsive.isEmpty()) {
        return null;
      }
      long via = responsive.get(rnd.nextInt(responsive.size()));
      String key = PREFIXES.get(rnd.nextInt(PREFIXES.size())) + rnd.nextInt(400);
      try {
        long child = cluster.admin(via).split(key.getBytes(StandardCharsets.UTF_8));
        return "at \"" + key + "\" via n" + via + ": new partition " + child;
      } catch (RuntimeException e) {
        return "at \"" + key + "\" via n" + via + " failed: " + e;
      }
    }

    @Override
    public String stop() {
      return "done";
    }
  }

  /**
   * Slows one node's disk with {@link SlowDisk} (strace delaying its log writer's syncs). Two
   * modes, drawn at random:
   * <ul>
   *   <li><b>slow</b>: 20-120 ms per sync on the leader (mostly) or any node. Heartbeats do not
   *       wait for the disk, so no election should follow: when the fault is the only one, a
   *       partition whose term grows by more than one meanwhile is an election storm, a problem;</li>
   *   <li><b>stalled</b>: 2.5 s per sync on the leader, past its {@code syncStallTimeout} (one
   *       election timeout): the leader must hand its leaderships away. When the fault is the only
   *       one, a partition it still leads after 3-4 s (in another member's view) is a problem.</li>
   * </ul>
   * Acknowledged writes must survive either way: the workloads' own checks judge that.
   */
  final class Disk implements Nemesis {
    private final Cluster cluster;
    private final boolean judge;
    private final List<String> problems = new ArrayList<>();
    private SlowDisk disk;
    private long target;
    private boolean stalled;
    private long via;
    private long startedAt;
    private Map<Long, PartitionStatus> before = Map.of();
    private int slowEpisodes;
    private int stallEpisodes;
    private int handedAway;
    private int unjudged;

    Disk(Cluster cluster, boolean judge) {
      this.cluster = cluster;
      this.judge = judge;
    }

    @Override
    public Kind kind() {
      return Kind.DISK;
    }

    /** Why this nemesis cannot run here, or null. */
    static String unavailableReason() {
      return SlowDisk.unavailableReason();
    }

    @Override
    public int holdMs(int drawn, Random rnd) {
      return stalled ? 3000 + rnd.nextInt(1001) : drawn;
    }

    @Override
    public String start(Random rnd) {
      long leader = cluster.leader();
      stalled = leader != 0 && rnd.nextBoolean();
      List<Long> responsive = cluster.responsive();
      target = stalled || (leader != 0 && rnd.nextInt(3) > 0) ? leader
          : responsive.isEmpty() ? 0 : responsive.get(rnd.nextInt(responsive.size()));
      if (target == 0 || !responsive.contains(target)) {
        return null;
      }
      responsive.remove(Long.valueOf(target));
      via = responsive.isEmpty() ? 0 : responsive.get(0);
      before = view(via);
      Duration delay = Duration.ofMillis(stalled ? 2500 : 20 + rnd.nextInt(101));
      Path out = cluster.logDir().resolve("n" + target + "-disk-" + (slowEpisodes + stallEpisodes + 1) + ".strace");
      disk = SlowDisk.attach(cluster.node(target).pid(), delay, out);
      startedAt = System.nanoTime();
      if (stalled) {
        stallEpisodes++;
      } else {
        slowEpisodes++;
      }
      return "n" + target + (target == leader ? " (leader)" : "") + ": every log sync delayed by " + delay.toMillis()
          + " ms" + (stalled ? " (stalled: past syncStallTimeout)" : " (slow)");
    }

    @Override
    public String stop() {
      if (disk == null) {
        return "nothing to restore";
      }
      Map<Long, PartitionStatus> after = view(via);
      String verdict = judge(after);
      disk.close();
      long delayed = disk.delayedSyncs();
      disk = null;
      return "n" + target + " restored after " + delayed + " delayed syncs" + verdict;
    }

    /** Compares the views before and after the fault; returns what it saw, for the history. */
    private String judge(Map<Long, PartitionStatus> after) {
      // a stall cut short by the end of the run has not had its time to be detected
      boolean heldLongEnough = System.nanoTime() - startedAt > Duration.ofMillis(2500).toNanos();
      if (!judge || before.isEmpty() || after.isEmpty() || (stalled && !heldLongEnough)) {
        unjudged++;
        return "";
      }
      List<Long> stillLed = new ArrayList<>();
      List<String> storms = new ArrayList<>();
      for (PartitionStatus b : before.values()) {
        PartitionStatus a = after.get(b.partitionId());
        if (a == null) {
          continue;
        }
        if (stalled && b.leader() == target && a.leader() == target) {
          stillLed.add(b.partitionId());
        }
        if (!stalled && a.term() > b.term() + 1) {
          storms.add("partition " + b.partitionId() + " term " + b.term() + " -> " + a.term());
        }
      }
      if (stalled) {
        if (stillLed.isEmpty()) {
          handedAway++;
          return "; it leads none of its partitions now (handed away)";
        }
        CheckResult.note(problems, "n" + target + "'s log syncs stalled for 3-4 s but it still leads partitions "
            + stillLed + " in n" + via + "'s view: the stall detector did not hand leadership away");
        return "; STILL leads " + stillLed;
      }
      if (!storms.isEmpty()) {
        CheckResult.note(problems, "elections while n" + target + "'s syncs were only slow: " + storms);
        return "; elections meanwhile: " + storms;
      }
      return "; no election meanwhile";
    }

    private Map<Long, PartitionStatus> view(long node) {
      Map<Long, PartitionStatus> out = new TreeMap<>();
      if (node == 0) {
        return out;
      }
      try {
        for (PartitionStatus p : cluster.admin(node).status().partitions()) {
          out.put(p.partitionId(), p);
        }
      } catch (RuntimeException e) {
        out.clear(); // not answering: this episode is not judged
      }
      return out;
    }

    @Override
    public List<CheckResult> checks() {
      String summary = stallEpisodes + " stalled-disk episode(s) (leadership handed away in " + handedAway + "), "
          + slowEpisodes + " slow-disk episode(s)" + (unjudged > 0 ? ", " + unjudged + " not judged" : "")
          + (judge ? "" : " (combined with other faults: reactions not judged)");
      return List.of(CheckResult.of("disk", summary, problems));
    }
  }

  /**
   * Rots one replica, the way a bad disk would: SIGKILLs a responsive member, changes the value of a
   * canary ({@link ReplicaRot}) in its replica of the partition holding it, offline, through the
   * project's own storage code ({@link OfflineReplicas#rewrite}: a record with a right checksum, the
   * applied index unchanged, no log entry), and restarts it. Then it asks every member for a hash
   * check: the periodic one comes only once a minute, longer than most runs. Only canaries: until a
   * check finds the rotted replica, it may lead and serve its value, which a workload's checker would
   * rightly count against the run (docs/testing.md). Once per run: a leader starts at most one repair
   * per check period (a minute), and {@link ReplicaRot#settle} waits for every repair at the end.
   * A replica that has not applied the canary yet (its state on disk lacks it) is not rotted: the
   * event says why, and the next deal tries again.
   */
  final class Diverge implements Nemesis {
    private final Cluster cluster;
    private final ReplicaRot rot;

    Diverge(Cluster cluster) {
      this.cluster = cluster;
      this.rot = new ReplicaRot(cluster);
    }

    @Override
    public Kind kind() {
      return Kind.DIVERGE;
    }

    /** Its canaries and rotted replicas, for the run's set-up and verdict. */
    ReplicaRot rot() {
      return rot;
    }

    @Override
    public boolean instant() {
      return true; // the rotted replica stays rotted until repaired: nothing to undo
    }

    @Override
    public String start(Random rnd) {
      List<Long> responsive = cluster.responsive();
      if (!rot.rots().isEmpty() || cluster.memberIds().size() < 3 || responsive.isEmpty()) {
        return null; // once per run; and a majority must outvote the rotted replica
      }
      long victim = responsive.get(rnd.nextInt(responsive.size()));
      String key = rot.draw(rnd);
      cluster.kill(victim);
      OfflineReplicas.Rewrite w;
      try {
        w = cluster.rewriteOffline(victim, key, ReplicaRot.ROTTEN);
      } catch (RuntimeException e) {
        return "SIGKILL n" + victim + "; its replica holding \"" + key + "\" could not be rewritten (" + e
            + "); restarted, " + cluster.restart(victim);
      }
      ReplicaRot.Rot r = new ReplicaRot.Rot(victim, w.partition(), key, w.before(), w.appliedIndex());
      rot.record(r);
      String answered = cluster.restart(victim);
      ReplicaRot.askForChecks(cluster);
      return "SIGKILL n" + victim + ", rotted " + r.describe() + " offline, restarted (" + answered
          + "), hash checks asked for";
    }

    @Override
    public String stop() {
      return "done";
    }
  }
}
