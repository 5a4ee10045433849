package io.quorumkv.storage;

import static io.quorumkv.storage.StorageContractTest.G;
import static io.quorumkv.storage.StorageContractTest.b;
import static io.quorumkv.storage.StorageContractTest.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.HardState;
import io.quorumkv.raft.LogUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The pipelined log writer: {@code onWritten} before durability, readers only after it, writes
 * going on while a sync is held, failures. Run on every backend (see the subclasses), each
 * wrapped in a {@link FaultyBackend} that can hold or fail a sync. Waits are bounded and only
 * guard against hangs; no assertion depends on timing.
 */
abstract class PipelinedLogWriterTest {

  private static final long WAIT_S = 10;

  /** The backend under test (a fresh database). */
  abstract Backend newBackend();

  /** A blob store beside it. */
  abstract BlobStore newBlobs();

  private final List<StorageEngine> engines = new ArrayList<>();
  private final List<CountDownLatch> stalls = new ArrayList<>();
  FaultyBackend faulty;

  @AfterEach
  void closeAll() {
    stalls.forEach(CountDownLatch::countDown);
    engines.forEach(StorageEngine::close);
  }

  StorageEngine open() {
    faulty = new FaultyBackend(newBackend());
    StorageEngine e = new StorageEngine(faulty, newBlobs(), "c",
        StorageOptions.defaults(1).withEntryCacheBytes(0), () -> { });
    engines.add(e);
    return e;
  }

  /** From now on the next sync (or synced write) waits until the returned latch is released. */
  CountDownLatch holdNextSync() {
    CountDownLatch release = new CountDownLatch(1);
    stalls.add(release);
    faulty.syncsBeforeStall.set(0);
    faulty.stall = release;
    return release;
  }

  void awaitSyncHeld() throws InterruptedException {
    assertTrue(faulty.stalling.await(WAIT_S, TimeUnit.SECONDS), "a sync started");
  }

  static <T> T await(CompletableFuture<T> f) throws Exception {
    return f.get(WAIT_S, TimeUnit.SECONDS);
  }

  /** Waits until {@code first} or {@code other} is done (whichever the outcome). */
  static void awaitEither(CompletableFuture<?> first, CompletableFuture<?> other) {
    try {
      CompletableFuture.anyOf(first, other).get(WAIT_S, TimeUnit.SECONDS);
    } catch (Exception ignored) {
      // the caller's assertions say what went wrong
    }
  }

  @Test
  void onWrittenRunsInSubmissionOrderAfterTheWriteAndBeforeTheFuture() throws Exception {
    StorageEngine e = open();
    List<String> events = new ArrayList<>();
    List<CompletableFuture<Void>> done = new ArrayList<>();
    java.util.concurrent.atomic.AtomicReferenceArray<CompletableFuture<Void>> submitted =
        new java.util.concurrent.atomic.AtomicReferenceArray<>(31);
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      for (long i = 1; i <= 30; i++) {
        long index = i;
        CompletableFuture<Void> f = writer.submit(
            new LogBatch().append(G, entries(index, index, 1)),
            () -> {
              // written: the entry is in the database already (not necessarily published)
              byte[] stored = e.backend().get(Backend.Cf.LOG, Keys.log(G, index));
              synchronized (events) {
                events.add("w" + index + (stored == null ? " NOT IN THE DATABASE" : ""));
              }
            });
        submitted.set((int) index, f);
        f.thenRun(() -> {
          // Every earlier future is complete by now. (Recording the order of the callbacks
          // instead would be racy: a thread waiting in get() may run a callback late.)
          for (int j = 1; j < index; j++) {
            if (!submitted.get(j).isDone()) {
              synchronized (events) {
                events.add("d" + index + " BEFORE d" + j);
              }
            }
          }
          synchronized (events) {
            events.add("d" + index);
          }
        });
        done.add(f);
      }
      for (CompletableFuture<Void> f : done) {
        await(f);
      }
    }
    List<String> written = new ArrayList<>();
    List<String> durable = new ArrayList<>();
    synchronized (events) {
      for (String ev : events) {
        (ev.startsWith("w") ? written : durable).add(ev);
      }
      for (long i = 1; i <= 30; i++) {
        assertTrue(events.indexOf("w" + i) >= 0 && events.indexOf("w" + i) < events.indexOf("d" + i),
            "onWritten of " + i + " runs after its write and before its future: " + events);
      }
    }
    List<String> expectedW = new ArrayList<>();
    List<String> expectedD = new ArrayList<>();
    for (long i = 1; i <= 30; i++) {
      expectedW.add("w" + i);
      expectedD.add("d" + i);
    }
    assertEquals(expectedW, written, "onWritten in submission order, each after its write");
    assertEquals(expectedD.size(), durable.size(), "every future completed once, none before an earlier one: " + durable);
    assertEquals(new java.util.HashSet<>(expectedD), new java.util.HashSet<>(durable));
    assertEquals(30, e.log(G).lastIndex());
  }

  @Test
  void aReaderSeesNothingOfAWrittenBatchBeforeItsFutureCompletes() throws Exception {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 5, 1));
    log.setHardState(new HardState(1, 1, 5));
    CountDownLatch release = holdNextSync();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> written = new CompletableFuture<>();
      CompletableFuture<Void> f = writer.submit(
          new LogBatch().append(G, entries(4, 8, 2)).hardState(G, new HardState(2, 1, 8)),
          () -> written.complete(null));
      await(written);
      awaitSyncHeld();
      assertFalse(f.isDone(), "its sync is held");
      assertEquals(5, log.lastIndex(), "the published log is the durable one");
      assertEquals(1, log.term(4), "the overwritten entries keep their durable term");
      assertEquals(new HardState(1, 1, 5), log.hardState());
      assertThrows(LogUnavailableException.class, () -> log.term(6));
      assertThrows(LogUnavailableException.class, () -> log.entries(6, 7, Long.MAX_VALUE));
      assertEquals(entries(1, 3, 1), log.entries(1, 4, Long.MAX_VALUE));
      release.countDown();
      await(f);
    }
    assertEquals(8, log.lastIndex());
    assertEquals(new HardState(2, 1, 8), log.hardState());
    assertEquals(entries(4, 8, 2), log.entries(4, 9, Long.MAX_VALUE));
  }

  @Test
  void aSecondBatchIsWrittenWhileTheFirstOnesSyncIsHeld() throws Exception {
    StorageEngine e = open();
    CountDownLatch release = holdNextSync();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> first = writer.submit(new LogBatch().append(G, entries(1, 3, 1)));
      awaitSyncHeld();
      CompletableFuture<Void> secondWritten = new CompletableFuture<>();
      // appends after the first batch, which is written but not published
      CompletableFuture<Void> second = writer.submit(
          new LogBatch().append(G, entries(4, 6, 1)).hardState(G, new HardState(1, 1, 6)),
          () -> secondWritten.complete(null));
      awaitEither(secondWritten, second);
      assertTrue(secondWritten.isDone(),
          "the second batch is written while the first sync is held: " + second);
      assertFalse(first.isDone());
      assertFalse(second.isDone());
      assertEquals(0, e.log(G).lastIndex());
      // the applier may apply what is written, before it is durable
      e.stateMachine(G).apply(6, 1, List.of(KvMutation.put(b("k"), b("v"))));
      assertThrows(IllegalArgumentException.class,
          () -> e.stateMachine(G).apply(7, 1, List.of()), "never past the written log");
      release.countDown();
      await(first);
      await(second);
    }
    assertEquals(6, e.log(G).lastIndex());
    assertEquals(entries(1, 6, 1), e.log(G).entries(1, 7, Long.MAX_VALUE));
  }

  @Test
  void writesRunABoundedNumberOfRoundsAheadOfTheSyncs() throws Exception {
    StorageEngine e = open();
    CountDownLatch release = holdNextSync();
    AtomicBoolean lastWritten = new AtomicBoolean();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      List<CompletableFuture<Void>> done = new ArrayList<>();
      done.add(writer.submit(new LogBatch().append(G, entries(1, 1, 1))));
      awaitSyncHeld();
      // one round per batch: each submitted once the one before is written
      for (long i = 2; i <= GroupCommitLogWriter.MAX_UNSYNCED_ROUNDS; i++) {
        CompletableFuture<Void> written = new CompletableFuture<>();
        done.add(writer.submit(
            new LogBatch().append(G, entries(i, i, 1)), () -> written.complete(null)));
        await(written);
      }
      long next = GroupCommitLogWriter.MAX_UNSYNCED_ROUNDS + 1;
      done.add(writer.submit(
          new LogBatch().append(G, entries(next, next, 1)), () -> lastWritten.set(true)));
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
      while (!writer.writesWaitForSync() && System.nanoTime() < until) {
        Thread.sleep(1);
      }
      assertTrue(writer.writesWaitForSync(), "the write stage waits for the held sync");
      assertFalse(lastWritten.get(), "not written while " + (next - 1) + " rounds await a sync");
      release.countDown();
      for (CompletableFuture<Void> f : done) {
        await(f);
      }
    }
    assertTrue(lastWritten.get());
    assertEquals(GroupCommitLogWriter.MAX_UNSYNCED_ROUNDS + 1, e.log(G).lastIndex());
  }

  @Test
  void anInvalidBatchFailsAloneWhileLaterBatchesGoThrough() throws Exception {
    StorageEngine e = open();
    CountDownLatch release = holdNextSync();
    AtomicBoolean invalidWritten = new AtomicBoolean();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> a = writer.submit(new LogBatch().append(G, entries(1, 3, 1)));
      awaitSyncHeld();
      CompletableFuture<Void> bad = writer.submit(
          new LogBatch().append(G, entries(10, 10, 1)), () -> invalidWritten.set(true));
      CompletableFuture<Void> cWritten = new CompletableFuture<>();
      CompletableFuture<Void> c = writer.submit(
          new LogBatch().append(G, entries(4, 5, 1)), () -> cWritten.complete(null));
      awaitEither(cWritten, c);
      assertTrue(cWritten.isDone(), "a batch after the invalid one is written: " + c);
      release.countDown();
      await(a);
      ExecutionException ex = assertThrows(ExecutionException.class, () -> await(bad));
      assertTrue(ex.getCause() instanceof IllegalArgumentException, ex.toString());
      await(c);
    }
    assertFalse(invalidWritten.get(), "no onWritten for an invalid batch");
    assertEquals(5, e.log(G).lastIndex());
    assertTrue(e.failure().isEmpty());
  }

  @Test
  void aFailedSyncFailsEveryBatchNotDurableAndTheEngineAndNoOnWrittenRunsAfter()
      throws Exception {
    StorageEngine e = open();
    e.log(G).append(entries(1, 2, 1));
    List<SyncEvent> syncs = new ArrayList<>();
    e.syncMonitor().addListener(ev -> {
      synchronized (syncs) {
        syncs.add(ev);
      }
    });
    CountDownLatch release = holdNextSync();
    AtomicBoolean lateWritten = new AtomicBoolean();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> a = writer.submit(new LogBatch().append(G, entries(3, 3, 1)));
      awaitSyncHeld();
      CompletableFuture<Void> bWritten = new CompletableFuture<>();
      CompletableFuture<Void> b = writer.submit(
          new LogBatch().append(G, entries(4, 4, 1)), () -> bWritten.complete(null));
      awaitEither(bWritten, b);
      assertTrue(bWritten.isDone(), "written while the sync is held: " + b);
      faulty.syncsBeforeFailure.set(0);
      release.countDown();
      for (CompletableFuture<Void> f : List.of(a, b)) {
        ExecutionException ex = assertThrows(ExecutionException.class, () -> await(f));
        assertTrue(ex.getCause() instanceof StorageFailedException, ex.toString());
      }
      assertTrue(e.failure().isPresent());
      faulty.syncsBeforeFailure.set(-1); // the disk "recovers": the engine must not
      CompletableFuture<Void> late = writer.submit(
          new LogBatch().append(G, entries(5, 5, 1)), () -> lateWritten.set(true));
      ExecutionException ex = assertThrows(ExecutionException.class, () -> await(late));
      assertTrue(ex.getCause() instanceof StorageFailedException, ex.toString());
    }
    assertFalse(lateWritten.get(), "no onWritten after the failure");
    assertEquals(2, e.log(G).lastIndex(), "nothing that was not durable is published");
    synchronized (syncs) {
      assertTrue(syncs.stream().anyMatch(ev -> ev.failure().isPresent()), "the monitor saw it");
    }
    assertEquals(0, e.syncMonitor().syncAgeNanos(System.nanoTime()));
  }

  @Test
  void closeWritesAndSyncsEverythingSubmittedBefore() throws Exception {
    StorageEngine e = open();
    List<CompletableFuture<Void>> done = new ArrayList<>();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      for (long i = 1; i <= 50; i++) {
        done.add(writer.submit(new LogBatch().append(G, entries(i, i, 1))));
      }
    }
    for (CompletableFuture<Void> f : done) {
      assertTrue(f.isDone() && !f.isCompletedExceptionally(), f.toString());
    }
    assertEquals(50, e.log(G).lastIndex());
  }

  @Test
  void synchronousWritesAndDeletesWaitForThePipelineAndPublishInOrder() throws Exception {
    StorageEngine e = open();
    CountDownLatch release = holdNextSync();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> a = writer.submit(new LogBatch().append(G, entries(1, 3, 1)));
      awaitSyncHeld();
      // validated against the written log, published with the pipelined batch before it
      CompletableFuture<Void> direct =
          CompletableFuture.runAsync(() -> e.log(G).append(entries(4, 4, 1)));
      release.countDown();
      await(direct);
      await(a);
      assertEquals(4, e.log(G).lastIndex());
      CompletableFuture<Void> moreWritten = new CompletableFuture<>();
      CompletableFuture<Void> more = writer.submit(
          new LogBatch().append(G, entries(5, 5, 1)), () -> moreWritten.complete(null));
      await(moreWritten);
      e.deleteGroup(G);
      await(more);
      assertEquals(0, e.log(G).lastIndex(), "the delete comes after the batch written before it");
      assertNull(e.backend().get(Backend.Cf.LOG, Keys.log(G, 5)));
    }
  }
}
