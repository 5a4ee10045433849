package io.quorumkv.jepsen;

import io.quorumkv.ClusterStatus;
import io.quorumkv.PartitionHashes;
import io.quorumkv.PartitionStatus;
import io.quorumkv.ReplicaHashes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The end-of-run check that every replica of each partition holds the same state. The clients'
 * histories can look fine while a replica silently diverged (a follower applied another value,
 * lost an entry in a crash): the cluster's own periodic hash check would fence it, but nothing in
 * the histories would say so. So after the final heal and the final reads, once the cluster is
 * quiet, every member is asked for {@code KvAdmin.replicaHashes()}: each leader proposes a hash
 * check through the log and answers with every replica's hash at that index. The run fails if two
 * replicas of a partition hashed differently at the same index, or if any replica is fenced;
 * replicas that could not answer within the bounded wait (a node still down, far behind) are
 * reported, not failed, each with its leader's account (how far its log had acknowledged the
 * check entry) and the harness's (its process, whether a member), so that the report says why.
 */
final class ReplicaHashCheck {

  /** The check's name in the report. */
  static final String NAME = "replica hashes";
  /** How long to wait for every replica to apply what its partition committed. */
  private static final Duration QUIET_WAIT = Duration.ofSeconds(10);
  /** Each node's deadline: it collects reports for three quarters of it, then answers with what it has. */
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(4);
  /**
   * Rounds of asking, when a partition was not checked (no leader at the moment, leadership moved)
   * or a replica on a running, unpaused node did not report its hash in time.
   */
  private static final int ROUNDS = 2;

  private ReplicaHashCheck() {}

  /** Waits for a quiet cluster, asks every member, and judges the answers. Bounded: about 10 + 2 x 4 s at worst. */
  static CheckResult run(Cluster cluster) {
    long began = System.nanoTime();
    List<String> notes = new ArrayList<>();
    Set<Long> expected = awaitQuiet(cluster, notes);
    List<ReplicaHashes> answers = new ArrayList<>();
    Map<Long, String> unanswered = new TreeMap<>();
    for (int round = 1; round <= ROUNDS; round++) {
      ask(cluster, answers, unanswered);
      Set<Long> checked = answers.stream().flatMap(a -> a.checked().stream()).map(PartitionHashes::partitionId)
          .collect(Collectors.toSet());
      List<Long> responsive = cluster.responsive();
      boolean missingOnResponsive = unverified(answers).values().stream().flatMap(Set::stream)
          .anyMatch(responsive::contains);
      if (checked.containsAll(expected) && !missingOnResponsive) {
        break;
      }
      if (round < ROUNDS) {
        Cluster.sleep(500); // then again: the summary lists a partition checked twice at both indexes
      }
    }
    Map<Long, String> nodes = new TreeMap<>();
    for (ReplicaHashes a : answers) {
      for (PartitionHashes p : a.checked()) {
        p.missing().forEach(n -> nodes.computeIfAbsent(n, cluster::describeNode));
      }
    }
    return verify(answers, unanswered, expected, notes, nodes, Duration.ofNanos(System.nanoTime() - began));
  }

  /**
   * The replicas that reported at no index of their partition, by partition: checked by no round,
   * though their partition was (a replica that missed one round and reported in another is compared
   * at the other's index).
   */
  static Map<Long, Set<Long>> unverified(List<ReplicaHashes> answers) {
    Map<Long, Set<Long>> missing = new TreeMap<>();
    Map<Long, Set<Long>> reported = new TreeMap<>();
    for (ReplicaHashes a : answers) {
      for (PartitionHashes p : a.checked()) {
        missing.computeIfAbsent(p.partitionId(), x -> new TreeSet<>()).addAll(p.missing());
        reported.computeIfAbsent(p.partitionId(), x -> new TreeSet<>()).addAll(p.hashes().keySet());
      }
    }
    missing.forEach((p, nodes) -> nodes.removeAll(reported.get(p)));
    missing.values().removeIf(Set::isEmpty);
    return missing;
  }


  /**
   * Waits (at most {@link #QUIET_WAIT}) until every responsive member answers its status, knows a
   * leader of each partition it hosts, and every replica of each partition has applied what any of
   * them knows committed: the check's entry then reaches every replica at once. A cluster that does
   * not get there is checked anyway, with a note.
   *
   * @return the partitions the members host
   */
  private static Set<Long> awaitQuiet(Cluster cluster, List<String> notes) {
    long deadline = System.nanoTime() + QUIET_WAIT.toNanos();
    Set<Long> partitions = new TreeSet<>();
    String last = "no member answered";
    while (true) {
      Map<Long, ClusterStatus> views = cluster.statuses();
      partitions.clear();
      Map<Long, long[]> committedApplied = new TreeMap<>(); // partition -> {max commit, min applied}
      boolean leaders = true;
      for (ClusterStatus s : views.values()) {
        for (PartitionStatus p : s.partitions()) {
          partitions.add(p.partitionId());
          leaders &= p.leader() != 0;
          long[] ca = committedApplied.computeIfAbsent(p.partitionId(), x -> new long[] {0, Long.MAX_VALUE});
          ca[0] = Math.max(ca[0], p.commitIndex());
          ca[1] = Math.min(ca[1], p.appliedIndex());
        }
      }
      List<String> behind = new ArrayList<>();
      committedApplied.forEach((p, ca) -> {
        if (ca[1] < ca[0]) {
          behind.add("partition " + p + " committed " + ca[0] + ", applied " + ca[1] + " by its slowest replica");
        }
      });
      boolean all = views.keySet().containsAll(cluster.responsive());
      if (all && leaders && behind.isEmpty() && !views.isEmpty()) {
        return partitions;
      }
      last = (all ? "" : "members answered: " + views.keySet() + " of " + cluster.responsive() + "; ")
          + (leaders ? "" : "a partition had no leader; ") + behind;
      if (System.nanoTime() - deadline >= 0) {
        notes.add("the cluster was not quiet after " + QUIET_WAIT.toSeconds() + " s (" + last + "); checked anyway");
        return partitions;
      }
      Cluster.sleep(100);
    }
  }

  /** Asks every member at once; records each answer, and why each member that did not answer did not. */
  static void ask(Cluster cluster, List<ReplicaHashes> answers, Map<Long, String> unanswered) {
    List<Long> ids = cluster.memberIds();
    ExecutorService pool = Executors.newFixedThreadPool(ids.size(), r -> {
      Thread t = new Thread(r, "jepsen-replica-hashes");
      t.setDaemon(true);
      return t;
    });
    try {
      Map<Long, Future<ReplicaHashes>> asked = new TreeMap<>();
      for (long id : ids) {
        if (!cluster.node(id).isAlive()) {
          unanswered.putIfAbsent(id, "not running");
          continue;
        }
        asked.put(id, pool.submit(() -> cluster.replicaHashes(id, CALL_TIMEOUT)));
      }
      asked.forEach((id, f) -> {
        try {
          answers.add(f.get(CALL_TIMEOUT.toMillis() + 2_000, TimeUnit.MILLISECONDS));
          unanswered.remove(id);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          unanswered.put(id, "interrupted");
        } catch (Exception e) {
          unanswered.put(id, Workload.describe(e.getCause() != null ? e.getCause() : e));
        }
      });
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * The verdict. Invalid when two replicas of a partition reported different hashes at the same
   * index, or a replica is fenced (by its own node's account or its leader's). Replicas that did
   * not report, partitions nobody checked and members that did not answer are listed after the
   * failures, marked as not verified; they do not fail the run.
   *
   * @param answers    every answer received (several rounds may check a partition at several indexes)
   * @param unanswered members that never answered, with why
   * @param expected   the partitions the members host (from their status)
   * @param notes      more things not verified (the cluster was not quiet, a round asked again)
   * @param nodes      what the harness knows of each node a replica of which did not report (its
   *                   process, whether a member): with the leader's account, why a hash is missing
   * @param took       how long the check took, for the summary
   */
  static CheckResult verify(List<ReplicaHashes> answers, Map<Long, String> unanswered, Set<Long> expected,
      List<String> notes, Map<Long, String> nodes, Duration took) {
    List<String> failures = new ArrayList<>();
    List<String> unverified = new ArrayList<>(notes);
    // partition -> index -> node -> hash; and the members expected to report at each
    Map<Long, Map<Long, Map<Long, Long>>> hashes = new TreeMap<>();
    Map<Long, Map<Long, Set<Long>>> expectedAt = new TreeMap<>();
    Map<String, String> fenced = new TreeMap<>(); // "partition P, node N" -> by whose account
    Map<String, PartitionHashes> checks = new TreeMap<>(); // "partition@index" -> the (last) check there
    for (ReplicaHashes a : answers) {
      for (PartitionHashes p : a.checked()) {
        checks.put(p.partitionId() + "@" + p.index(), p);
        Map<Long, Long> at = hashes.computeIfAbsent(p.partitionId(), x -> new TreeMap<>())
            .computeIfAbsent(p.index(), x -> new TreeMap<>());
        p.hashes().forEach((node, h) -> {
          Long before = at.putIfAbsent(node, h);
          if (before != null && before.longValue() != h) {
            CheckResult.note(failures, "partition " + p.partitionId() + " at index " + p.index() + ": n" + node
                + " reported two hashes, " + hex(before) + " and " + hex(h));
          }
        });
        expectedAt.computeIfAbsent(p.partitionId(), x -> new TreeMap<>())
            .computeIfAbsent(p.index(), x -> new TreeSet<>()).addAll(p.replicas());
        for (long f : p.fenced()) {
          fenced.merge("partition " + p.partitionId() + ": n" + f, "its leader n" + p.leader() + "'s", ReplicaHashCheck::and);
        }
      }
      a.fenced().forEach((p, index) -> fenced.merge("partition " + p + ": n" + a.nodeId(),
          "its own (diverged at index " + index + ")", ReplicaHashCheck::and));
    }
    int replicas = 0;
    List<String> indexes = new ArrayList<>();
    for (Map.Entry<Long, Map<Long, Map<Long, Long>>> partition : hashes.entrySet()) {
      long p = partition.getKey();
      for (Map.Entry<Long, Map<Long, Long>> atIndex : partition.getValue().entrySet()) {
        long index = atIndex.getKey();
        Map<Long, Long> byNode = atIndex.getValue();
        replicas += byNode.size();
        indexes.add(p + "@" + index + " (" + byNode.size() + ")");
        Map<Long, Set<Long>> nodesByHash = new TreeMap<>();
        byNode.forEach((node, h) -> nodesByHash.computeIfAbsent(h, x -> new TreeSet<>()).add(node));
        if (nodesByHash.size() > 1) {
          CheckResult.note(failures, "partition " + p + " at index " + index + ": its replicas hold different states: "
              + nodesByHash.entrySet().stream().map(e -> "n" + join(e.getValue()) + " hashed " + hex(e.getKey()))
              .collect(Collectors.joining(", ")));
        }
        Set<Long> missing = new TreeSet<>(expectedAt.get(p).get(index));
        missing.removeAll(byNode.keySet());
        for (long node : missing) {
          if (reportedAt(hashes.get(p), node)) {
            continue; // compared at another index of this partition (another round)
          }
          PartitionHashes check = checks.get(p + "@" + index);
          String leaderSays = check.unreported().get(node);
          CheckResult.note(unverified, "n" + node + "'s replica of partition " + p + " did not report its hash at index "
              + index + " while its leader n" + check.leader() + " waited; n" + check.leader() + " says: "
              + (leaderSays != null ? leaderSays : "nothing (no account of it in the answer)") + "; the harness: "
              + nodes.getOrDefault(node, "no account of n" + node));
        }
      }
    }
    fenced.forEach((replica, account) -> CheckResult.note(failures, replica + " is fenced, by " + account
        + " account: its state differed from a quorum's in a hash check"));
    for (ReplicaHashes a : answers) {
      a.unchecked().forEach((p, why) -> {
        if (!hashes.containsKey(p)) {
          CheckResult.note(unverified, "partition " + p + " not checked: its leader n" + a.nodeId() + " says: " + why);
        }
      });
    }
    Set<Long> answeredFor = answers.stream().flatMap(a -> a.unchecked().keySet().stream()).collect(Collectors.toSet());
    for (long p : expected) {
      if (!hashes.containsKey(p) && !answeredFor.contains(p)) {
        CheckResult.note(unverified, "partition " + p + " not checked: no member answered as its leader");
      }
    }
    unanswered.forEach((node, why) -> CheckResult.note(unverified, "n" + node + " did not answer: " + why));
    String summary = hashes.size() + " partition(s), " + replicas + " replica hashes compared (partition@index "
        + "(replicas): " + String.join(", ", indexes) + "), " + (failures.isEmpty() ? "all equal, none fenced"
        : failures.size() + " problem(s)") + (unverified.isEmpty() ? "" : ", " + unverified.size() + " not verified")
        + ", took " + Millis.of(took.toNanos());
    List<String> problems = new ArrayList<>(failures);
    unverified.forEach(u -> problems.add("not verified (not a failure): " + u));
    return new CheckResult(NAME, failures.isEmpty() ? CheckResult.Verdict.VALID : CheckResult.Verdict.INVALID,
        summary, problems, null);
  }

  /** Whether {@code node} reported a hash at any index of the partition whose hashes these are. */
  private static boolean reportedAt(Map<Long, Map<Long, Long>> byIndex, long node) {
    return byIndex.values().stream().anyMatch(byNode -> byNode.containsKey(node));
  }

  private static String and(String a, String b) {
    return a.equals(b) ? a : a + " and " + b;
  }

  private static String hex(long h) {
    return Long.toHexString(h);
  }

  private static String join(Set<Long> nodes) {
    return nodes.stream().map(String::valueOf).collect(Collectors.joining(",n"));
  }
}
