package io.quorumkv.storage;

import static io.quorumkv.storage.StorageContractTest.G;
import static io.quorumkv.storage.StorageContractTest.b;
import static io.quorumkv.storage.StorageContractTest.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.HardState;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The pipelined log writer on the in-memory engine, plus crashes between write and sync. */
class MemoryPipelinedLogWriterTest extends PipelinedLogWriterTest {

  private MemoryDisk disk;

  @Override
  Backend newBackend() {
    disk = new MemoryDisk();
    return new MemoryBackend(disk);
  }

  @Override
  BlobStore newBlobs() {
    return new MemoryBlobStore(disk);
  }

  /**
   * A crash after a batch was reported written, before its sync: the batch is lost together
   * with every write made after it (the next batch, the state applied from it), and what was
   * synced before it survives. Never a later write without an earlier one.
   */
  @Test
  void aCrashAfterOnWrittenBeforeTheSyncLosesTheBatchAndEverythingAfterIt() throws Exception {
    MemoryDisk crashDisk = new MemoryDisk();
    StorageEngine e = StorageEngine.openInMemory(crashDisk, "c", StorageOptions.defaults(1));
    e.log(G).append(entries(1, 2, 1));
    e.log(G).setHardState(new HardState(1, 1, 2));
    e.stateMachine(G).apply(2, 1, List.of(KvMutation.put(b("k"), b("synced"))));
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      writer.submit(new LogBatch().append(G, entries(3, 3, 1))).get(10, TimeUnit.SECONDS);
      crashDisk.stallSyncs();
      CompletableFuture<Void> aWritten = new CompletableFuture<>();
      CompletableFuture<Void> a = writer.submit(
          new LogBatch().append(G, entries(4, 5, 1)).hardState(G, new HardState(1, 1, 5)),
          () -> aWritten.complete(null));
      aWritten.get(10, TimeUnit.SECONDS);
      // what the Raft driver may now do: apply the written entries (a later write in the WAL)
      e.stateMachine(G).apply(5, 1, List.of(KvMutation.put(b("k"), b("applied-from-4-5"))));
      CompletableFuture<Void> bWritten = new CompletableFuture<>();
      CompletableFuture<Void> b = writer.submit(
          new LogBatch().append(G, entries(6, 6, 1)), () -> bWritten.complete(null));
      bWritten.get(10, TimeUnit.SECONDS);
      assertFalse(a.isDone());
      crashDisk.crash();
      for (CompletableFuture<Void> f : List.of(a, b)) {
        assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
      }
    } finally {
      crashDisk.resumeSyncs();
    }
    StorageEngine after = StorageEngine.openInMemory(crashDisk, "c", StorageOptions.defaults(1));
    try {
      assertEquals(3, after.log(G).lastIndex(), "the synced batch survives, the written ones not");
      assertEquals(entries(1, 3, 1), after.log(G).entries(1, 4, Long.MAX_VALUE));
      assertEquals(2, after.stateMachine(G).appliedIndex(), "the state applied after is lost too");
      assertEquals("synced", StorageContractTest.s(after.stateMachine(G).get(b("k")).orElseThrow()));
      assertTrue(after.log(G).hardState().commit() <= after.log(G).lastIndex());
    } finally {
      after.close();
    }
  }
}
