package io.quorumkv;

import static io.quorumkv.MemoryCluster.await;
import static io.quorumkv.MemoryCluster.isolateAndWrite;
import static io.quorumkv.MemoryCluster.leaderOf;
import static io.quorumkv.MemoryCluster.partition;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The read path's shortcuts keep every guarantee: a lease read answered on the calling thread
 * (its record in memory), reads sharing read index requests. In-memory cluster: every record is
 * in memory, so LEASE and STALE gets take the shortcut whenever their state is applied.
 */
class ReadPathTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static Optional<String> text(ReadResult r) {
    return r.value().map(v -> new String(v, StandardCharsets.UTF_8));
  }

  /**
   * The shortcut's twin of SlowWorkTest's paused lease read: the reader stops right after the lease
   * check, on the thread that called (no hand-off), until another leader has taken a write.
   */
  @Test
  void aLeaseReadAnsweredOnTheCallingThreadAndPausedPastItsLeaseIsNotAnsweredFromStaleState() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 21,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      long old = leaderOf(c, 1);
      KvNode l = c.node(old);
      l.put("k", "old");
      CountDownLatch release = new CountDownLatch(1);
      CompletableFuture<CompletableFuture<ReadResult>> issued = null;
      try {
        // A read that finds the shortcut closed (the lease republished at a tick, an entry not yet
        // applied) goes through the read pool and is not the one this test is after: try again.
        for (int attempt = 0; attempt < 20 && issued == null; attempt++) {
          MemoryCluster.await(WAIT, "the lease shortcut to open", () -> l.runtime().leaseReadSkipsTheLoop(1));
          CountDownLatch paused = new CountDownLatch(1);
          CompletableFuture<CompletableFuture<ReadResult>> call = new CompletableFuture<>();
          Thread caller = new Thread(() -> call.complete(l.readAsync(bytes("k"), ReadConsistency.LEASE)));
          stopReadsOf(caller, l, paused, release);
          caller.start();
          if (paused.await(2, TimeUnit.SECONDS)) {
            issued = call;
          } else {
            call.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS);
          }
        }
        assertNotNull(issued, "no lease read took the shortcut in 20 attempts");
        isolateAndWrite(c, old, "k", "new");
      } finally {
        l.runtime().overrides().beforeRead = null;
        release.countDown();
      }
      ReadResult answer;
      try {
        answer = issued.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS);
      } catch (ExecutionException refused) {
        answer = null; // no answer is a correct answer: the old leader could not confirm it still led
      }
      if (answer != null && text(answer).equals(Optional.of("old"))) {
        assertNotEquals(ReadConsistency.LEASE, answer.consistency(),
            "a LEASE read answered from memory after its lease lapsed and another leader took a write");
      }
    }
  }

  /**
   * A new leader's lease read waits until it has applied what its predecessor acknowledged: the
   * shortcut may answer only from state applied up to the commit index.
   */
  @Test
  void aLeaseReadOnANewLeaderWaitsForItToApplyWhatItsPredecessorAcknowledged() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 22,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      long old = leaderOf(c, 1);
      long next = old == 1 ? 2 : 1;
      KvNode l = c.node(old);
      KvNode f = c.node(next);
      l.put("k", "old");
      MemoryCluster.await(WAIT, "the follower to apply the first write",
          () -> partition(f, 1).appliedIndex() >= partition(l, 1).commitIndex());
      CountDownLatch release = new CountDownLatch(1);
      f.runtime().overrides().beforeApply = g -> await(release);
      List<CompletableFuture<ReadResult>> reads = new ArrayList<>();
      try {
        l.put("k", "new"); // acknowledged by the leader; the follower's applier is stuck before it
        MemoryCluster.await(WAIT, "the follower to know the write committed",
            () -> partition(f, 1).commitIndex() > partition(f, 1).appliedIndex());
        l.transferLeader(1, next);
        MemoryCluster.await(WAIT, "the follower to lead with a lease", () -> f.runtime().leaseReadSkipsTheLoop(1));
        for (int i = 0; i < 5; i++) {
          MemoryCluster.await(WAIT, "the lease shortcut to be open", () -> f.runtime().leaseReadSkipsTheLoop(1));
          reads.add(f.readAsync(bytes("k"), ReadConsistency.LEASE));
        }
        MemoryCluster.sleep(50);
        for (CompletableFuture<ReadResult> r : reads) {
          assertFalse(r.isDone() && text(r.join()).equals(Optional.of("old")),
              "a lease read on the new leader answered before it applied an acknowledged write");
        }
      } finally {
        f.runtime().overrides().beforeApply = null;
        release.countDown();
      }
      for (CompletableFuture<ReadResult> r : reads) {
        assertEquals(Optional.of("new"), text(r.get(30, TimeUnit.SECONDS)));
      }
    }
  }

  /** Many concurrent reads at every level see the latest acknowledged write and share read indexes. */
  @Test
  void concurrentReadsAtEveryLevelSeeTheLastAcknowledgedWriteAndShareReadIndexes() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 23,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      long leader = leaderOf(c, 1);
      KvNode l = c.node(leader);
      KvNode f = c.node(leader == 1 ? 2 : 1);
      for (int round = 0; round < 5; round++) {
        String v = "v" + round;
        l.put("k", v);
        List<CompletableFuture<ReadResult>> reads = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
          reads.add(l.readAsync(bytes("k"), ReadConsistency.LINEARIZABLE));
          reads.add(l.readAsync(bytes("k"), ReadConsistency.LEASE));
          reads.add(f.readAsync(bytes("k"), ReadConsistency.FOLLOWER));
        }
        for (CompletableFuture<ReadResult> r : reads) {
          assertEquals(Optional.of(v), text(r.get(30, TimeUnit.SECONDS)));
        }
      }
      double batches = counter(l, "quorumkv.reads.batches") + counter(f, "quorumkv.reads.batches");
      double batched = counter(l, "quorumkv.reads.batched") + counter(f, "quorumkv.reads.batched");
      assertTrue(batched >= 2_000, "linearizable and follower reads went through batches: " + batched);
      assertTrue(batches < batched / 2, batches + " read index requests for " + batched + " reads");
    }
  }

  /**
   * A get that checked its key is in the partition's span, then read the record only after a split
   * had moved the key to the new partition (applied and written meanwhile: the reader was
   * descheduled between its check and its read) must not answer that the key is absent: the parent
   * deleted the key when the split moved it. The Jepsen long profile's combined-5-2 (seed 1128429)
   * saw a {@code LINEARIZABLE} get answer nil for a key that held a value, splits among its
   * nemeses; this is one way it can happen.
   */
  @Test
  void aGetThatChecksItsSpanBeforeASplitMovesItsKeyAndReadsAfterDoesNotAnswerAbsent() throws Exception {
    Optional<String> got = readOverlappingASplitOfK(25, l -> l.readAsync(bytes("k"), ReadConsistency.LINEARIZABLE)
        .thenApply(ReadPathTest::text));
    assertEquals(Optional.of("v"), got);
  }

  /** The same for a scan: it must not answer without the keys the split moved while it read. */
  @Test
  void aScanThatChecksItsSpanBeforeASplitMovesItsKeysAndReadsAfterDoesNotMissThem() throws Exception {
    List<String> got = readOverlappingASplitOfK(26, l -> l.scanAsync(bytes("k"), bytes("l"), 10, ReadConsistency.LINEARIZABLE)
        .thenApply(kvs -> kvs.stream().map(KeyValue::toString).toList()));
    assertEquals(List.of("k=v"), got);
  }

  /**
   * A follower's read that took the replica's state machine, checked its span, and read only after
   * a snapshot install had replaced the replica's state must not answer from the installed state
   * with the old span: the snapshot was taken after a split this follower missed, so the installed
   * state no longer holds the key its old span owns. A {@code STALE} get, read on the calling
   * thread, stopped there while node {@code f} is cut off, the partition splits at the key and
   * compacts its log past the split, and the follower gets it back by snapshot.
   */
  @Test
  void aReadThatASnapshotInstallOvertakesDoesNotAnswerFromTheInstalledStateWithTheOldSpan() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 27,
        b -> b.logCompactionEntries(8).balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      long leader = leaderOf(c, 1);
      long fid = leader == 1 ? 2 : 1;
      KvNode l = c.node(leader);
      KvNode f = c.node(fid);
      l.put("k", "v");
      await(WAIT, "the follower to apply the write", () -> partition(f, 1).appliedIndex() >= partition(l, 1).commitIndex());
      CountDownLatch paused = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      CompletableFuture<CompletableFuture<ReadResult>> call = new CompletableFuture<>();
      Thread caller = new Thread(() -> call.complete(f.readAsync(bytes("k"), ReadConsistency.STALE)));
      stopReadsOf(caller, f, paused, release);
      try {
        caller.start();
        assertTrue(paused.await(10, TimeUnit.SECONDS), "the read stopped after its span check");
        Set<Long> rest = new HashSet<>(List.of(1L, 2L, 3L));
        rest.remove(fid);
        Fault cut = new Fault.Partition(List.of(Set.of(fid), rest));
        for (long id = 1; id <= 3; id++) {
          c.node(id).injectFault(id, cut);
        }
        double taken = l.meterRegistry().find("quorumkv.snapshots.taken").counter().count();
        l.split(bytes("k"));
        for (int i = 0; i < 30; i++) {
          l.put("a" + i, "x"); // the parent's log grows past the split and is compacted
        }
        for (long id = 1; id <= 3; id++) {
          c.node(id).injectFault(id, new Fault.Heal());
        }
        await(WAIT, "the follower to install a snapshot of the parent taken after the split",
            () -> "[, k)".equals(partition(f, 1).keys()));
        assertTrue(l.meterRegistry().find("quorumkv.snapshots.taken").counter().count() > taken,
            "the follower caught up by snapshot, not by applying the split");
      } finally {
        f.runtime().overrides().beforeRead = null;
        release.countDown();
      }
      Optional<String> answer;
      try {
        answer = text(call.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS));
      } catch (ExecutionException refused) {
        answer = null; // no answer is a correct answer (the new partition may not be on the follower yet)
      }
      assertNotEquals(Optional.empty(), answer, "answered absent for a key that holds a value");
    }
  }

  /**
   * A read reports the index of the state it read, exactly. Here a {@code STALE} get on the leader
   * stops after taking the index and before reading, while a write of its key is applied and
   * written; it must not answer the new value at the index the old one was read at (the Jepsen
   * stale-read checker's "two values at applied index 109" in session 21: the read took the
   * replica's applied index, then read state the applier had written since).
   */
  @Test
  void aGetDuringWhichAWriteIsAppliedReportsTheIndexOfTheStateItRead() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 28,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      KvNode l = c.node(leaderOf(c, 1));
      ReadResult before = writeAndReadOld(l);
      CountDownLatch paused = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      CompletableFuture<CompletableFuture<ReadResult>> call = new CompletableFuture<>();
      Thread caller = new Thread(() -> call.complete(l.readAsync(bytes("k"), ReadConsistency.STALE)));
      stopReadsOf(caller, l, paused, release);
      try {
        caller.start();
        assertTrue(paused.await(10, TimeUnit.SECONDS), "the read stopped before reading the state");
        l.put("k", "new");
        await(WAIT, "the leader to apply the second write", () -> partition(l, 1).appliedIndex() >= partition(l, 1).commitIndex());
      } finally {
        l.runtime().overrides().beforeRead = null;
        release.countDown();
      }
      ReadResult during = call.get(30, TimeUnit.SECONDS).get(30, TimeUnit.SECONDS);
      assertEquals(Optional.of("new"), text(during));
      assertTrue(during.appliedIndex() > before.appliedIndex(), "answered the new value at applied index "
          + during.appliedIndex() + ", where the old one was read at " + before.appliedIndex());
      assertTrue(during.appliedIndex() <= partition(l, 1).appliedIndex(), "an index the replica applied");
      assertTrue(l.meterRegistry().get("quorumkv.reads.index.retries").counter().count() >= 1,
          "the read that met the apply was counted as read again");
    }
  }

  /**
   * The same from the applier's side: it has written an entry's state and not yet raised the
   * replica's applied index (nor answered the write). A read then reads the new state, and must
   * report the new index, not the replica's old one.
   */
  @Test
  void aGetBetweenTheApplierWritingAndRaisingTheAppliedIndexReportsTheIndexWritten() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 29,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      KvNode l = c.node(leaderOf(c, 1));
      ReadResult before = writeAndReadOld(l);
      CountDownLatch written = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      AtomicBoolean armed = new AtomicBoolean(true);
      l.runtime().overrides().afterApplyWrite = () -> {
        if (armed.compareAndSet(true, false)) {
          written.countDown();
          await(release);
        }
      };
      ReadResult during;
      CompletableFuture<Void> put;
      try {
        put = l.putAsync(bytes("k"), bytes("new"));
        assertTrue(written.await(10, TimeUnit.SECONDS), "the applier wrote the second write");
        assertEquals(before.appliedIndex(), partition(l, 1).appliedIndex(), "the replica's applied index is not raised yet");
        during = l.readAsync(bytes("k"), ReadConsistency.STALE).get(30, TimeUnit.SECONDS);
      } finally {
        l.runtime().overrides().afterApplyWrite = null;
        release.countDown();
      }
      put.get(30, TimeUnit.SECONDS);
      assertEquals(Optional.of("new"), text(during));
      assertTrue(during.appliedIndex() > before.appliedIndex(), "answered the new value at applied index "
          + during.appliedIndex() + ", where the old one was read at " + before.appliedIndex());
      ReadResult after = l.readAsync(bytes("k"), ReadConsistency.STALE).get(30, TimeUnit.SECONDS);
      assertTrue(after.appliedIndex() >= during.appliedIndex(), "the index written is applied");
    }
  }

  /** Writes {@code k = old} through leader {@code l} and returns a {@code STALE} get of it there, once applied. */
  private static ReadResult writeAndReadOld(KvNode l) throws Exception {
    l.put("k", "old");
    await(WAIT, "the leader to apply the first write", () -> partition(l, 1).appliedIndex() >= partition(l, 1).commitIndex());
    ReadResult before = l.readAsync(bytes("k"), ReadConsistency.STALE).get(30, TimeUnit.SECONDS);
    assertEquals(Optional.of("old"), text(before));
    return before;
  }

  /**
   * Writes {@code k = v} on a range cluster of one partition, then issues {@code read} on its
   * leader and, once the read has checked its span and before it reads the state, splits the
   * partition at {@code k} and waits until the split is applied and written there; returns what
   * the read answered. The read is released by the applier (its read index is past what the
   * leader applied), so it is served on the read pool, where it can wait for the split without
   * holding up the Raft loop or the applier.
   */
  private static <T> T readOverlappingASplitOfK(long seed, Function<KvNode, CompletableFuture<T>> read)
      throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), seed,
        b -> b.balanceLeaders(false).quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      KvNode l = c.node(leaderOf(c, 1));
      l.put("k", "v");
      CountDownLatch release = new CountDownLatch(1);
      AtomicBoolean split = new AtomicBoolean();
      AtomicReference<Throwable> splitFailed = new AtomicReference<>();
      l.runtime().overrides().beforeApply = g -> await(release);
      try {
        CompletableFuture<Void> put = l.putAsync(bytes("other"), bytes("x"));
        await(WAIT, "the write to commit unapplied",
            () -> partition(l, 1).commitIndex() > partition(l, 1).appliedIndex());
        l.runtime().overrides().beforeRead = g -> {
          if (g == 1 && Thread.currentThread().getName().startsWith("quorumkv-read-")
              && split.compareAndSet(false, true)) {
            try {
              l.split(bytes("k")); // answered once this node, the leader, has applied and written it
            } catch (RuntimeException e) {
              splitFailed.set(e);
            }
          }
        };
        CompletableFuture<T> answer = read.apply(l);
        MemoryCluster.sleep(100);
        assertFalse(answer.isDone(), "the read waits for the applier");
        release.countDown();
        put.get(30, TimeUnit.SECONDS);
        T got = answer.get(30, TimeUnit.SECONDS);
        assertTrue(split.get(), "the read was served on the read pool, where the split ran under it");
        assertNull(splitFailed.get());
        return got;
      } finally {
        l.runtime().overrides().beforeApply = null;
        l.runtime().overrides().beforeRead = null;
        release.countDown();
      }
    }
  }

  /**
   * Has every read that {@code caller} makes on {@code n} stop right before it reads the state
   * (its span checked), count down {@code paused}, and wait for {@code release}.
   */
  private static void stopReadsOf(Thread caller, KvNode n, CountDownLatch paused, CountDownLatch release) {
    n.runtime().overrides().beforeRead = g -> {
      if (Thread.currentThread() == caller) {
        paused.countDown();
        await(release);
      }
    };
  }

  private static double counter(KvNode n, String name) {
    return n.meterRegistry().find(name).counters().stream().mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
  }
}
