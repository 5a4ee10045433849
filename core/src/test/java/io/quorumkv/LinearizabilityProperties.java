package io.quorumkv;

import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.LongRuns;
import io.quorumkv.testkit.Op;
import io.quorumkv.testkit.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * Clients (remote {@link KvClient}s, each starting at a different node) read and write a few
 * contended keys while a jqwik-generated schedule partitions the in-memory network and crashes and
 * restarts nodes (losing what they had not synced); the recorded history (JSON Lines, io.quorumkv.testkit) must be
 * linearizable. A failing history is kept under target/histories for reading and re-checking.
 * Runs a few schedules by default; -Dquorumkv.long=true runs a hundred times more.
 */
@AddLifecycleHook(LongRuns.class)
class LinearizabilityProperties {

  /**
   * One step of the nemesis, held for a while: a network split (empty = healed), and possibly one
   * node crashed (losing what it had not synced) for the step and restarted after it.
   */
  record Step(List<Set<Long>> sides, long crash, int millis) {
    String describe() {
      return (sides.isEmpty() ? "heal" : sides.toString()) + (crash == 0 ? "" : " crash " + crash);
    }
  }

  @Provide
  Arbitrary<List<Step>> schedules() {
    Arbitrary<List<Set<Long>>> splits = Arbitraries.of(
        List.<Set<Long>>of(),
        List.of(Set.of(1L), Set.of(2L, 3L)),
        List.of(Set.of(2L), Set.of(1L, 3L)),
        List.of(Set.of(3L), Set.of(1L, 2L)),
        List.of(Set.of(1L), Set.of(2L), Set.of(3L)));
    Arbitrary<Long> crash = Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(3, Arbitraries.just(0L)), net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(1, 3)));
    Arbitrary<Step> step = Combinators.combine(splits, crash, Arbitraries.integers().between(50, 400)).as(Step::new);
    return step.list().ofMinSize(2).ofMaxSize(6);
  }

  @Property(tries = 3)
  void hashPartitionedHistoriesAreLinearizable(@ForAll("schedules") List<Step> schedule, @ForAll long seed)
      throws Exception {
    run(HashPartitioner.of(2), schedule, seed);
  }

  @Property(tries = 3)
  void rangePartitionedHistoriesAreLinearizable(@ForAll("schedules") List<Step> schedule, @ForAll long seed)
      throws Exception {
    run(RangePartitioner.of("k2"), schedule, seed);
  }

  private static void run(Partitioner partitioner, List<Step> schedule, long seed) throws Exception {
    HistoryRecorder recorder = new HistoryRecorder(System::nanoTime);
    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong nextProcess = new AtomicLong(3);
    AtomicLong successes = new AtomicLong();
    try (MemoryCluster c = new MemoryCluster(3, partitioner, seed).start()) {
      c.awaitLeaders(Duration.ofSeconds(10));
      List<Thread> clients = new ArrayList<>();
      List<KvClient> connections = new ArrayList<>();
      for (long id = 1; id <= 3; id++) {
        // Each client starts at its own node and moves on when that node is down or cut off.
        KvClient client = c.client(id, id % 3 + 1, (id + 1) % 3 + 1);
        connections.add(client);
        KvStore store = client.withTimeout(Duration.ofMillis(700));
        long first = id - 1;
        SplittableRandom random = new SplittableRandom(seed + id);
        Thread t = new Thread(() -> client(store, first, nextProcess, random, recorder, stop, successes),
            "client-" + id);
        clients.add(t);
        t.start();
      }
      for (Step s : schedule) {
        @SuppressWarnings("unchecked")
        Set<Long>[] sides = s.sides().toArray(Set[]::new);
        c.partition(sides);
        recorder.nemesis(s.sides().isEmpty() ? "heal" : "partition", s.describe());
        if (s.crash() != 0) {
          c.crash(s.crash());
          recorder.nemesis("crash", Long.toString(s.crash()));
        }
        Thread.sleep(s.millis());
        if (s.crash() != 0) {
          c.restart(s.crash());
          recorder.nemesis("restart", Long.toString(s.crash()));
        }
      }
      c.partition();
      recorder.nemesis("heal", "heal");
      // Liveness: once healed, with every node up, the cluster serves again.
      long before = successes.get();
      MemoryCluster.await(Duration.ofSeconds(15), "operations to succeed after the heal",
          () -> successes.get() >= before + 10);
      stop.set(true);
      for (Thread t : clients) {
        t.join(10_000);
      }
      connections.forEach(KvClient::close);
    }
    History history = recorder.history();
    Verdict verdict = new LinearizabilityChecker().check(history);
    if (!verdict.isLinearizable()) {
      Path dir = Path.of("target", "histories");
      Files.createDirectories(dir);
      Path file = dir.resolve("register-" + seed + ".jsonl");
      history.write(file);
      throw new AssertionError(verdict.describe() + " (history kept in " + file.toAbsolutePath() + ")");
    }
  }

  /** One client: a process that gets an unknown outcome is replaced by a new one, as in Jepsen. */
  private static void client(KvStore store, long firstProcess, AtomicLong nextProcess, SplittableRandom random,
      HistoryRecorder h, AtomicBoolean stop, AtomicLong successes) {
    long process = firstProcess;
    while (!stop.get()) {
      String key = "k" + random.nextInt(4);
      String value = Integer.toString(random.nextInt(5));
      int kind = random.nextInt(10);
      Op inv = null;
      try {
        if (kind < 4) {
          ReadConsistency level = List.of(ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE,
              ReadConsistency.FOLLOWER).get(random.nextInt(3));
          inv = h.invoke(Op.get(process, key, 0));
          try {
            h.read(inv, store.get(key, level).orElse(null));
            successes.incrementAndGet();
          } catch (KvException e) {
            h.fail(inv); // a read has no effect: failing it is always truthful
          }
          continue;
        }
        if (kind < 7) {
          inv = h.invoke(Op.put(process, key, value, 0));
          store.put(key, value);
          h.ok(inv);
          successes.incrementAndGet();
        } else if (kind < 9) {
          String expected = random.nextBoolean() ? null : Integer.toString(random.nextInt(5));
          inv = h.invoke(Op.cas(process, key, expected, value, 0));
          boolean ok = expected == null ? store.putIfAbsent(key, value) : store.compareAndSet(key, expected, value);
          if (ok) {
            h.ok(inv);
          } else {
            h.fail(inv);
          }
        } else {
          inv = h.invoke(Op.delete(process, key, 0));
          store.delete(key);
          h.ok(inv);
        }
      } catch (KvException e) {
        if (e.outcomeUnknown()) {
          h.info(inv);
          process = nextProcess.getAndIncrement();
        } else {
          h.fail(inv);
        }
      }
    }
  }
}
