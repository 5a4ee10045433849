package io.quorumkv.storage;

import static io.quorumkv.storage.StorageContractTest.G;
import static io.quorumkv.storage.StorageContractTest.b;
import static io.quorumkv.storage.StorageContractTest.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Snapshot;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Failing and stalling disks: fail-fast, stall detection, and crashes in the middle of work. */
class FaultInjectionTest {

  @TempDir Path dir;
  private final List<StorageEngine> engines = new ArrayList<>();

  @AfterEach
  void close() {
    engines.forEach(StorageEngine::close);
  }

  private StorageEngine engine(Backend backend, BlobStore blobs) {
    StorageEngine e = new StorageEngine(backend, blobs, "c", StorageOptions.defaults(1), () -> { });
    engines.add(e);
    return e;
  }

  private void checkFailFast(StorageEngine e, FaultyBackend faulty) throws Exception {
    List<SyncEvent> events = new ArrayList<>();
    e.syncMonitor().addListener(events::add);
    e.log(G).append(entries(1, 5, 1));
    e.stateMachine(G).apply(1, 1, List.of(KvMutation.put(b("k"), b("v"))));
    faulty.syncsBeforeFailure.set(0);
    StorageFailedException first =
        assertThrows(StorageFailedException.class, () -> e.log(G).append(entries(6, 6, 1)));
    assertTrue(first.getCause().getMessage().contains("injected"), first.toString());
    assertEquals(5, e.log(G).lastIndex(), "nothing of a failed write is visible");
    assertTrue(e.failure().isPresent());
    assertTrue(events.get(events.size() - 1).failure().isPresent());
    faulty.syncsBeforeFailure.set(-1); // the disk "recovers": the engine must not
    assertThrows(StorageFailedException.class, () -> e.log(G).append(entries(6, 6, 1)));
    assertThrows(StorageFailedException.class,
        () -> e.stateMachine(G).apply(2, 1, List.of()));
    assertThrows(StorageFailedException.class,
        () -> e.bootstrap(G + 1, ConfState.ofVoters(Set.of(1L))));
    assertThrows(StorageFailedException.class, () -> e.stateMachine(G).createSnapshot());
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> f = writer.submit(new LogBatch().append(G, entries(6, 6, 1)));
      ExecutionException ex = assertThrows(ExecutionException.class, f::get);
      assertTrue(ex.getCause() instanceof StorageFailedException);
    }
    assertEquals(5, e.log(G).lastIndex());
    assertEquals(1, e.stateMachine(G).appliedIndex());
    assertTrue(e.stateMachine(G).get(b("k")).isPresent(), "reads of durable data still work");
  }

  @Test
  void aFailedSyncFailsTheMemoryEngineForGood() throws Exception {
    MemoryDisk disk = new MemoryDisk();
    FaultyBackend faulty = new FaultyBackend(new MemoryBackend(disk));
    checkFailFast(engine(faulty, new MemoryBlobStore(disk)), faulty);
  }

  @Test
  void aFailedSyncFailsTheRocksDbEngineForGood() throws Exception {
    FaultyBackend faulty = new FaultyBackend(
        RocksBackend.open(dir.resolve("db"), StorageOptions.defaults(1)));
    checkFailFast(engine(faulty, new FileBlobStore(dir.resolve("snapshots"))), faulty);
  }

  /**
   * An apply batch of two groups: while its write is under way nothing new is published, and a
   * write that fails publishes nothing and fails the engine.
   */
  private void checkApplyBatchPublishesOnlyAfterItsWrite(Backend inner) {
    FaultyBackend faulty = new FaultyBackend(inner);
    StorageEngine e = engine(faulty, new MemoryBlobStore(new MemoryDisk()));
    for (long g = 1; g <= 2; g++) {
      e.log(g).append(entries(1, 5, 1));
    }
    List<String> seenDuringWrite = new ArrayList<>();
    faulty.beforeUnsyncedWrite = () -> {
      for (long g = 1; g <= 2; g++) {
        seenDuringWrite.add(g + "@" + e.stateMachine(g).appliedIndex() + "="
            + e.stateMachine(g).get(b("k")).map(StorageContractTest::s).orElse("-"));
      }
    };
    try (ApplyBatch batch = e.newApplyBatch()) {
      e.stateMachine(1).apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("a"))), null);
      e.stateMachine(2).apply(batch, 3, 1, List.of(KvMutation.put(b("k"), b("b"))), null);
      e.stateMachine(1).apply(batch, 4, 1, List.of(), null);
      batch.commit();
      assertEquals(List.of("1@0=-", "2@0=-"), seenDuringWrite, "one write, before any view moved");
      assertEquals(4, e.stateMachine(1).appliedIndex());
      assertEquals(3, e.stateMachine(2).appliedIndex());

      faulty.failUnsyncedWrites = true;
      e.stateMachine(1).apply(batch, 5, 1, List.of(KvMutation.put(b("k"), b("lost"))), null);
      e.stateMachine(2).apply(batch, 5, 1, List.of(KvMutation.put(b("k"), b("lost"))), null);
      StorageFailedException failed = assertThrows(StorageFailedException.class, batch::commit);
      assertTrue(failed.getMessage().contains("apply index 5 of group 1, index 5 of group 2"),
          failed.getMessage());
    }
    assertEquals(4, e.stateMachine(1).appliedIndex());
    assertEquals(3, e.stateMachine(2).appliedIndex());
    assertEquals("b", StorageContractTest.s(e.stateMachine(2).get(b("k")).orElseThrow()));
    assertTrue(e.failure().isPresent());
    assertThrows(StorageFailedException.class,
        () -> e.stateMachine(1).apply(5, 1, List.of()));
  }

  @Test
  void anApplyBatchPublishesOnlyAfterItsWriteInMemory() {
    checkApplyBatchPublishesOnlyAfterItsWrite(new MemoryBackend(new MemoryDisk()));
  }

  @Test
  void anApplyBatchPublishesOnlyAfterItsWriteOnRocksDb() {
    checkApplyBatchPublishesOnlyAfterItsWrite(
        RocksBackend.open(dir.resolve("db"), StorageOptions.defaults(1)));
  }

  @Test
  void aStalledSyncIsVisibleWhileItLasts() throws Exception {
    MemoryDisk disk = new MemoryDisk();
    FaultyBackend faulty = new FaultyBackend(new MemoryBackend(disk));
    StorageEngine e = engine(faulty, new MemoryBlobStore(disk));
    SyncMonitor monitor = e.syncMonitor();
    CountDownLatch stall = new CountDownLatch(1);
    faulty.stall = stall;
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> f = writer.submit(new LogBatch().append(G, entries(1, 1, 1)));
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (monitor.syncInProgressSince().isEmpty() && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      long since = monitor.syncInProgressSince().orElseThrow();
      Thread.sleep(100);
      long age = monitor.syncAgeNanos(System.nanoTime());
      assertTrue(age >= 100_000_000L, "age " + age);
      assertEquals(since, monitor.syncInProgressSince().orElseThrow());
      assertTrue(!f.isDone());
      stall.countDown();
      f.get();
    }
    assertTrue(monitor.syncInProgressSince().isEmpty());
    assertTrue(monitor.maxSyncNanos() >= 100_000_000L);
  }

  /** Readers see the old state, whole, until the install's final write; then the new one. */
  @Test
  void readersSeeTheOldStateUntilAnInstallCompletesInMemory() throws Exception {
    MemoryDisk disk = new MemoryDisk();
    checkReadersSeeTheOldStateDuringAnInstall(new MemoryBackend(disk), new MemoryBlobStore(disk));
  }

  /** The same on RocksDB, where the new state is ingested as an SST file. */
  @Test
  void readersSeeTheOldStateUntilAnInstallCompletesOnRocksDb() throws Exception {
    checkReadersSeeTheOldStateDuringAnInstall(
        RocksBackend.open(dir.resolve("db"), StorageOptions.defaults(1)),
        new FileBlobStore(dir.resolve("snapshots")));
  }

  private void checkReadersSeeTheOldStateDuringAnInstall(Backend inner, BlobStore blobs)
      throws Exception {
    MemoryDisk leaderDisk = new MemoryDisk();
    StorageEngine leader = StorageEngine.openInMemory(leaderDisk, "c", StorageOptions.defaults(1));
    engines.add(leader);
    Snapshot snap = StorageContractTest.applyAndSnapshot(leader, 300);
    FaultyBackend faulty = new FaultyBackend(inner);
    // 1 KiB chunks: without bulk loading, the state goes in several 4 KiB batches
    StorageEngine follower = new StorageEngine(faulty, blobs, "c",
        StorageOptions.defaults(1).withSnapshotChunkBytes(1024), () -> { });
    engines.add(follower);
    follower.log(G).append(entries(1, 2, 1));
    follower.stateMachine(G).apply(2, 1, List.of(KvMutation.put(b("old"), b("1"))));
    CountDownLatch release = new CountDownLatch(1);
    faulty.syncsBeforeStall.set(1); // the marker's sync passes, the final one stalls
    faulty.stall = release;
    try (SnapshotSource src = leader.stateMachine(G).openSnapshot(snap);
        SnapshotSink sink = follower.stateMachine(G).newSnapshotSink(snap)) {
      while (!sink.isComplete()) {
        sink.write(src.chunk(sink.nextOffset()));
      }
      CompletableFuture<Void> install = CompletableFuture.runAsync(sink::install);
      StateMachineStore sm = follower.stateMachine(G);
      try {
        assertTrue(faulty.stalling.await(10, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(sm.get(b("old")).isPresent(), "the old state, whole");
        assertTrue(sm.get(b("key7")).isEmpty(), "none of the new state yet");
        assertEquals(1, sm.scan(b(""), b("z"), 100).size());
        assertEquals(2, sm.appliedIndex());
      } finally {
        release.countDown();
      }
      install.get();
      assertTrue(sm.get(b("old")).isEmpty());
      assertEquals("value7", new String(sm.get(b("key7")).orElseThrow()));
      assertEquals(300, sm.appliedIndex());
    }
  }

  /**
   * Receives a snapshot of {@code index} applied entries into an engine over {@code inner} and
   * dies installing it: after the synced marker and the new state, before the synced write of the
   * applied index.
   */
  private StorageEngine dieDuringInstall(long index, Snapshot[] snapshot, Backend inner,
      BlobStore blobs) {
    MemoryDisk leaderDisk = new MemoryDisk();
    StorageEngine leader = StorageEngine.openInMemory(leaderDisk, "c", StorageOptions.defaults(1));
    engines.add(leader);
    Snapshot snap = StorageContractTest.applyAndSnapshot(leader, index);
    snapshot[0] = snap;
    FaultyBackend faulty = new FaultyBackend(inner);
    StorageEngine follower =
        new StorageEngine(faulty, blobs, "c", StorageOptions.defaults(2), () -> { });
    faulty.syncsBeforeFailure.set(1); // the marker's sync succeeds, the final one fails
    try (SnapshotSource src = leader.stateMachine(G).openSnapshot(snap);
        SnapshotSink sink = follower.stateMachine(G).newSnapshotSink(snap)) {
      while (!sink.isComplete()) {
        sink.write(src.chunk(sink.nextOffset()));
      }
      assertThrows(StorageFailedException.class, sink::install);
    }
    return follower;
  }

  @Test
  void anInterruptedSnapshotInstallIsFinishedAtTheNextStart() {
    Snapshot[] snap = new Snapshot[1];
    MemoryDisk disk = new MemoryDisk();
    // never closed: a dead process closes nothing, and its unsynced writes are lost
    dieDuringInstall(40, snap, new MemoryBackend(disk), new MemoryBlobStore(disk));
    StorageEngine restarted = StorageEngine.openInMemory(disk, "c", StorageOptions.defaults(2));
    engines.add(restarted);
    checkFinished(restarted, snap[0]);
  }

  @Test
  void anInterruptedSnapshotInstallIsFinishedAtTheNextStartOnRocksDb() {
    Snapshot[] snap = new Snapshot[1];
    Path node = dir.resolve("node");
    RocksBackend.writeMeta(createDirectories(node), new NodeMeta(StorageEngine.FORMAT_VERSION,
        "c", 2));
    dieDuringInstall(40, snap, RocksBackend.open(node.resolve("db"), StorageOptions.defaults(2)),
        new FileBlobStore(node.resolve("snapshots"))).close(); // frees RocksDB's own lock
    StorageEngine restarted = StorageEngine.openRocksDb(node, "c", StorageOptions.defaults(2));
    engines.add(restarted);
    checkFinished(restarted, snap[0]);
  }

  private static Path createDirectories(Path p) {
    try {
      return java.nio.file.Files.createDirectories(p);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void checkFinished(StorageEngine restarted, Snapshot snap) {
    assertEquals(40, restarted.stateMachine(G).appliedIndex());
    assertEquals(40, restarted.stateMachine(G).scan(b(""), b("z"), 100).size());
    assertEquals("value17", new String(restarted.stateMachine(G).get(b("key17")).orElseThrow()));
    assertEquals(41, restarted.log(G).firstIndex());
    assertEquals(snap.metadata(), restarted.log(G).snapshot().metadata());
  }

  @Test
  void anInterruptedInstallWhosePayloadIsGoneIsRefused() {
    MemoryDisk disk = new MemoryDisk();
    dieDuringInstall(10, new Snapshot[1], new MemoryBackend(disk), new MemoryBlobStore(disk));
    disk.blobs.clear();
    StorageStartupException ex = assertThrows(StorageStartupException.class,
        () -> StorageEngine.openInMemory(disk, "c", StorageOptions.defaults(2)));
    assertEquals(StorageStartupException.Reason.INTERRUPTED_RESTORE, ex.reason());
  }
}
