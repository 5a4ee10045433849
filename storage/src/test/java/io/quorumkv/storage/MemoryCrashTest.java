package io.quorumkv.storage;

import static io.quorumkv.storage.StorageContractTest.G;
import static io.quorumkv.storage.StorageContractTest.b;
import static io.quorumkv.storage.StorageContractTest.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** The in-memory engine's crash model: what was synced survives, the rest is lost, in order. */
class MemoryCrashTest {

  private final MemoryDisk disk = new MemoryDisk();

  private StorageEngine open() {
    return StorageEngine.openInMemory(disk, "c", StorageOptions.defaults(1));
  }

  @Test
  void anUnsyncedApplyIsLostButTheLogReplaysIt() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 3, 1));
    e.stateMachine(G).apply(3, 1, List.of(KvMutation.put(b("k"), b("v"))));
    disk.crash();
    StorageEngine after = open();
    assertEquals(0, after.stateMachine(G).appliedIndex());
    assertTrue(after.stateMachine(G).get(b("k")).isEmpty());
    assertEquals(3, after.log(G).lastIndex(), "the log, the durable source, is intact");
    after.close();
  }

  @Test
  void groupsBootstrappedTogetherSurviveACrashTogetherAndAnExistingOneWritesNone() {
    StorageEngine e = open();
    ConfState voters = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    e.bootstrap(List.of(1L, 2L, 3L), voters);
    assertThrows(IllegalStateException.class, () -> e.bootstrap(List.of(4L, 2L), voters));
    disk.crash();
    StorageEngine after = open();
    assertEquals(Set.of(1L, 2L, 3L), after.groups(), "all three durable with one write; group 4 refused with 2");
    for (long g = 1; g <= 3; g++) {
      assertEquals(voters, after.stateMachine(g).confState());
    }
    after.close();
  }

  @Test
  void aSyncedWriteMakesEveryEarlierWriteDurable() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 3, 1));
    e.stateMachine(G).apply(3, 1, List.of(KvMutation.put(b("k"), b("v"))));
    e.log(G).append(entries(4, 4, 1)); // synced, after the apply: the apply survives too
    e.stateMachine(G).apply(4, 1, List.of(KvMutation.put(b("k"), b("lost"))));
    disk.crash();
    StorageEngine after = open();
    assertEquals(3, after.stateMachine(G).appliedIndex());
    assertEquals("v", new String(after.stateMachine(G).get(b("k")).orElseThrow()));
    after.close();
  }

  @Test
  void aWriteBackBeforeTheCrashKeepsTheUnsyncedApplies() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 3, 1));
    e.stateMachine(G).apply(3, 1, List.of(KvMutation.put(b("k"), b("v"))));
    disk.writeBack();
    disk.crash();
    StorageEngine after = open();
    assertEquals(3, after.stateMachine(G).appliedIndex());
    assertEquals("v", new String(after.stateMachine(G).get(b("k")).orElseThrow()));
    after.close();
  }

  @Test
  void aCrashedEngineRefusesEveryCallAndFreesTheDisk() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 1, 1));
    assertTrue(disk.isInUse());
    disk.crash();
    assertFalse(disk.isInUse());
    assertThrows(RuntimeException.class, () -> e.log(G).append(entries(2, 2, 1)));
    assertThrows(RuntimeException.class, () -> e.stateMachine(G).get(b("k")));
    e.close();
    StorageEngine after = open();
    assertEquals(1, after.log(G).lastIndex());
    after.close();
  }

  @Test
  void aFlippedByteOnTheDiskIsReportedWithGroupAndIndex() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 10, 1));
    e.close();
    disk.corrupt(Backend.Cf.LOG, Keys.log(G, 4), 9);
    StorageCorruptionException ex = assertThrows(StorageCorruptionException.class, this::open);
    assertTrue(ex.getMessage().contains("group 7, log index 4"), ex.getMessage());
  }

  /** Submits entry 2 while syncs are stalled; it is still waiting after {@code ms}. */
  private static CompletableFuture<Void> stalledAppend(GroupCommitLogWriter writer, long ms) {
    CompletableFuture<Void> f = writer.submit(new LogBatch().append(G, entries(2, 2, 1)));
    assertThrows(TimeoutException.class, () -> f.get(ms, TimeUnit.MILLISECONDS));
    return f;
  }

  @Test
  void aStalledSyncWaitsWhileReadsAndUnsyncedWritesGoOnAndItsAgeShows() throws Exception {
    StorageEngine e = open();
    e.log(G).append(entries(1, 1, 1));
    disk.stallSyncs();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> f = stalledAppend(writer, 200);
      // The writer thread starts the sync a little after the submit: poll (bounded) rather than
      // assume the age already reached what the caller waited.
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (e.syncMonitor().syncAgeNanos(System.nanoTime()) < 200_000_000L && System.nanoTime() < until) {
        Thread.sleep(5);
      }
      assertTrue(e.syncMonitor().syncAgeNanos(System.nanoTime()) >= 200_000_000L, "the monitor sees it");
      assertEquals(1, e.log(G).lastIndex(), "reads go on; nothing of the stalled write is visible");
      e.stateMachine(G).apply(1, 1, List.of(KvMutation.put(b("k"), b("v")))); // unsynced: not stalled
      disk.resumeSyncs();
      f.get(5, TimeUnit.SECONDS);
    }
    assertEquals(2, e.log(G).lastIndex());
    assertEquals(0, e.syncMonitor().syncAgeNanos(System.nanoTime()));
    e.close();
  }

  /**
   * A synced batch is readable in the database before its sync returns (RocksDB: write, then
   * SyncWAL), while the published view still describes the log before it. A reader of entries
   * the batch overwrites finds them disagreeing with its view: it must wait for the writer's
   * commit, however long the sync takes, not give up after a bounded spin and report corruption.
   */
  @Test
  void aReaderOfEntriesBeingOverwrittenWaitsForTheirSync() throws Exception {
    StorageEngine e = StorageEngine.openInMemory(disk, "c",
        StorageOptions.defaults(1).withEntryCacheBytes(0)); // no cache: reads go to the database
    e.log(G).append(entries(1, 5, 1));
    disk.stallSyncs();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> overwrite = writer.submit(new LogBatch().append(G, entries(3, 5, 2)));
      assertThrows(TimeoutException.class, () -> overwrite.get(100, TimeUnit.MILLISECONDS));
      CompletableFuture<List<Entry>> read =
          CompletableFuture.supplyAsync(() -> e.log(G).entries(3, 6, Long.MAX_VALUE));
      assertThrows(TimeoutException.class, () -> read.get(300, TimeUnit.MILLISECONDS),
          "the reader waits for the stalled sync");
      disk.resumeSyncs();
      overwrite.get(5, TimeUnit.SECONDS);
      List<Entry> got = read.get(5, TimeUnit.SECONDS);
      assertEquals(List.of(3L, 5L, 2L, 2L), List.of(got.get(0).index(), got.get(2).index(),
          got.get(0).term(), got.get(2).term()), "the overwritten entries, as published after the sync");
    } finally {
      disk.resumeSyncs();
    }
    e.close();
  }

  @Test
  void aCrashEndsAStalledSyncWithAFailureAndLosesIt() throws Exception {
    StorageEngine e = open();
    e.log(G).append(entries(1, 1, 1));
    disk.stallSyncs();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      CompletableFuture<Void> f = stalledAppend(writer, 100);
      disk.crash();
      assertThrows(ExecutionException.class, () -> f.get(5, TimeUnit.SECONDS));
    }
    disk.resumeSyncs();
    StorageEngine after = open();
    assertEquals(1, after.log(G).lastIndex(), "the stalled write never reached the disk");
    after.close();
  }
}
