package io.quorumkv.jepsen;

import io.quorumkv.KvClient;
import io.quorumkv.ReadConsistency;
import io.quorumkv.ReplicaHashes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The diverge nemesis's canaries, the replicas it rotted, and the verdict on their repair.
 *
 * <p>At set-up {@link #plant} writes a few canary keys through a client; no workload reads them.
 * The nemesis ({@link Nemesis.Diverge}) changes one canary's value in one stopped node's replica,
 * behind Raft's back, and {@link #record}s it. Only a replica hash check can tell that replica from
 * the others, and the partition's leader is then to replace it ({@code ReplicaRepair}). Why canaries
 * and not the workloads' keys: until a hash check finds it, the rotted replica may lead its
 * partition and serve its wrong value, and the linearizability checker would rightly fail the run
 * for a fault the product does not claim to mask (state rotting between two checks, docs/testing.md).
 *
 * <p>{@link #settle}, after the final heal, is the verdict: every rotted replica was repaired (its
 * partition's leader logged {@code REPLICA REPAIR done} for it), asking for hash checks meanwhile,
 * since the periodic one comes only every minute; and every canary reads its planted value, at
 * {@code LINEARIZABLE} through the cluster and at {@code FOLLOWER} from each member's own replica.
 * That every replica's hash agrees is {@link ReplicaHashCheck}'s verdict, which runs after it.
 */
final class ReplicaRot {

  /** The check's name in the report. */
  static final String NAME = "replica repair";
  /** The canaries' key prefix: no workload writes or reads under it (and it sorts before "reg-"). */
  static final String PREFIX = "canary/";
  /** Canaries planted: enough that each of the 3 hash partitions most likely holds one. */
  static final int CANARIES = 8;
  /** What a rotted canary holds: a value no client ever wrote. */
  static final String ROTTEN = "rotten";
  /**
   * How long {@link #settle} waits for the repairs. A rebuild is four membership changes, the
   * node's destruction of its old replica between them, and a snapshot; under a loaded machine,
   * tens of seconds.
   */
  private static final Duration REPAIR_WAIT = Duration.ofSeconds(90);
  /** How often {@link #settle} asks for hash checks while a rotted replica is not being repaired yet. */
  private static final Duration CHECK_EVERY = Duration.ofSeconds(5);
  /** How often it reads the nodes' logs meanwhile. */
  private static final long POLL_MS = 1000;
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(2);
  private static final int READ_ATTEMPTS = 5;

  /** A leader starting a repair, as {@code ReplicaRepair} logs it: partition and node. */
  static final Pattern REPAIR_STARTED = Pattern.compile("group (\\d+): REPLICA REPAIR: replacing node (\\d+)'s replica");
  /** A leader that counted a repair done: partition and node. */
  static final Pattern REPAIR_DONE = Pattern.compile("group (\\d+): REPLICA REPAIR done: node (\\d+)'s diverged replica");

  /**
   * One rotted replica.
   *
   * @param node      the node whose replica was changed
   * @param partition the partition
   * @param key       the canary changed
   * @param before    its value there before (the planted one)
   * @param index     the replica's applied index, which the change left as it was
   */
  record Rot(long node, long partition, String key, String before, long index) {
    String describe() {
      return "n" + node + "'s replica of partition " + partition + " (\"" + key + "\" \"" + before + "\" -> \""
          + ROTTEN + "\" at applied index " + index + ")";
    }
  }

  private final Cluster cluster;
  private final Map<String, String> planted = new TreeMap<>();
  private final List<Rot> rots = new ArrayList<>();

  ReplicaRot(Cluster cluster) {
    this.cluster = cluster;
  }

  /**
   * Writes the canaries through a client (a retried put of the same value is harmless).
   *
   * @throws IllegalStateException if one cannot be written in 30 s
   */
  void plant(long seed) {
    KvClient client = cluster.client(Duration.ofSeconds(5), cluster.addresses(new Random(seed)));
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    for (int i = 0; i < CANARIES; i++) {
      String key = PREFIX + i;
      String value = "planted-" + i;
      while (true) {
        try {
          client.put(key, value);
          break;
        } catch (RuntimeException e) {
          if (System.nanoTime() - deadline >= 0) {
            throw new IllegalStateException("could not plant the canary " + key + " in 30 s", e);
          }
          Cluster.sleep(500);
        }
      }
      synchronized (this) {
        planted.put(key, value);
      }
    }
  }

  /** A canary, drawn with {@code rnd}. */
  synchronized String draw(Random rnd) {
    List<String> keys = new ArrayList<>(planted.keySet());
    return keys.get(rnd.nextInt(keys.size()));
  }

  synchronized void record(Rot rot) {
    rots.add(rot);
  }

  synchronized List<Rot> rots() {
    return List.copyOf(rots);
  }

  /**
   * Waits (bounded) until every rotted replica was repaired or left the cluster with its node,
   * asking the members for hash checks while none of the rotted ones is being repaired; then reads
   * every canary. Invalid when a rotted replica of a member was not repaired in time, a canary
   * reads another value than planted anywhere, or {@code mustRot} and nothing was rotted (the run
   * then exercised nothing).
   */
  CheckResult settle(boolean mustRot) {
    long began = System.nanoTime();
    List<String> problems = new ArrayList<>();
    List<String> evidence = new ArrayList<>();
    List<Rot> all = rots();
    if (all.isEmpty()) {
      String why = "the diverge nemesis rotted no replica in this run";
      return CheckResult.of(NAME, why, mustRot ? List.of(why + ": nothing was exercised") : List.of());
    }
    Map<Rot, String> outcome = awaitRepairs(all, evidence);
    for (Rot r : all) {
      String o = outcome.get(r);
      if (o == null) {
        CheckResult.note(problems, r.describe() + " was not repaired within " + REPAIR_WAIT.toSeconds()
            + " s of the heal (no leader logged REPLICA REPAIR done for it); " + cluster.describeNode(r.node()));
      }
    }
    int reads = readCanaries(problems);
    long wrong = problems.stream().filter(p -> p.startsWith("canary")).count();
    String summary = all.size() + " replica(s) rotted: " + all.stream().map(r -> r.describe() + ": "
        + outcome.getOrDefault(r, "NOT repaired")).toList() + "; " + reads + " canary reads, "
        + (wrong == 0 ? "every one the planted value" : wrong + " wrong or failed") + "; waited "
        + Millis.of(System.nanoTime() - began) + (evidence.isEmpty() ? "" : "; the leaders' logs: " + evidence);
    return CheckResult.of(NAME, summary, problems);
  }

  /** For each rot, how it ended (repaired, or its node removed); no entry if neither in time. */
  private Map<Rot, String> awaitRepairs(List<Rot> all, List<String> evidence) {
    long deadline = System.nanoTime() + REPAIR_WAIT.toNanos();
    long nextCheck = System.nanoTime();
    Map<Rot, String> outcome = new HashMap<>();
    while (true) {
      List<String> started = new ArrayList<>();
      List<String> done = new ArrayList<>();
      repairLines(started, done);
      for (Rot r : all) {
        if (outcome.containsKey(r)) {
          continue;
        }
        Optional<String> line = matching(done, REPAIR_DONE, r);
        if (line.isPresent()) {
          outcome.put(r, "repaired");
          matching(started, REPAIR_STARTED, r).ifPresent(evidence::add);
          evidence.add(line.get());
        } else if (!cluster.memberIds().contains(r.node())) {
          outcome.put(r, "not repaired: its node left the cluster (" + cluster.describeNode(r.node()) + ")");
        }
      }
      if (outcome.size() == all.size() || System.nanoTime() - deadline >= 0) {
        return outcome;
      }
      if (System.nanoTime() - nextCheck >= 0) {
        // The periodic check comes once a minute: ask for one, as an operator could (harmless
        // during a repair; and a repair given up waits for the next check to start again).
        askForChecks(cluster);
        nextCheck = System.nanoTime() + CHECK_EVERY.toNanos();
      }
      Cluster.sleep(POLL_MS);
    }
  }

  /** Asks every member for a replica hash check of the partitions it leads; the answers are not judged here. */
  static void askForChecks(Cluster cluster) {
    List<ReplicaHashes> answers = new ArrayList<>();
    ReplicaHashCheck.ask(cluster, answers, new TreeMap<>());
  }

  /** The last of {@code lines} that {@code p} matches for {@code r}'s partition and node. */
  private static Optional<String> matching(List<String> lines, Pattern p, Rot r) {
    String found = null;
    for (String line : lines) {
      Matcher m = p.matcher(line);
      if (m.find() && Long.parseLong(m.group(1)) == r.partition() && Long.parseLong(m.group(2)) == r.node()) {
        found = line;
      }
    }
    return Optional.ofNullable(found);
  }

  /** Every node log's lines about repairs, prefixed with the log's name. */
  private void repairLines(List<String> started, List<String> done) {
    for (NodeProcess n : cluster.everyNode()) {
      Path log = n.log();
      if (!Files.exists(log)) {
        continue;
      }
      try (Stream<String> lines = Files.lines(log, StandardCharsets.UTF_8)) {
        lines.filter(l -> l.contains("REPLICA REPAIR")).forEach(l -> {
          String line = log.getFileName() + ": " + l.strip();
          (REPAIR_DONE.matcher(l).find() ? done : started).add(line);
        });
      } catch (IOException | UncheckedIOException e) {
        // a line cut by a concurrent write (malformed input): read again at the next poll
      }
    }
  }

  /** Reads every canary; notes each wrong value, and each canary that could not be read. Returns the reads made. */
  private int readCanaries(List<String> problems) {
    Map<String, String> expected;
    synchronized (this) {
      expected = new TreeMap<>(planted);
    }
    int reads = 0;
    KvClient any = cluster.client(READ_TIMEOUT, cluster.addresses(new Random(0)));
    for (Map.Entry<String, String> e : expected.entrySet()) {
      reads++;
      check(problems, e, "at LINEARIZABLE through the cluster", () -> any.get(e.getKey(), ReadConsistency.LINEARIZABLE));
      for (long id : cluster.memberIds()) {
        if (!cluster.node(id).isAlive()) {
          continue;
        }
        reads++;
        KvClient pinned = cluster.admin(id);
        check(problems, e, "at FOLLOWER from n" + id, () -> pinned.get(e.getKey(), ReadConsistency.FOLLOWER));
      }
    }
    return reads;
  }

  private interface Read {
    Optional<String> get();
  }

  private static void check(List<String> problems, Map.Entry<String, String> canary, String how, Read read) {
    RuntimeException last = null;
    for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      try {
        Optional<String> v = read.get();
        if (!v.equals(Optional.of(canary.getValue()))) {
          CheckResult.note(problems, "canary \"" + canary.getKey() + "\" read " + how + ": " + v.map(s -> "\"" + s + "\"")
              .orElse("absent") + ", planted \"" + canary.getValue() + "\"");
        }
        return;
      } catch (RuntimeException e) {
        last = e;
        Cluster.sleep(500);
      }
    }
    CheckResult.note(problems, "canary \"" + canary.getKey() + "\" could not be read " + how + " in " + READ_ATTEMPTS
        + " attempts: " + Workload.describe(last));
  }
}
