package io.quorumkv.storage;

import static io.quorumkv.storage.StorageContractTest.G;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Entry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A really full disk. Needs a small filesystem, given as {@code -Dquorumkv.smallfs=/mnt/small}
 * (for example {@code mount -t tmpfs -o size=6m tmpfs /mnt/small}); without one it is skipped,
 * and {@link FaultInjectionTest} covers the same fail-fast path with an injected error.
 */
class DiskFullTest {

  @Test
  void aFullDiskFailsTheEngineInsteadOfAcknowledging() throws Exception {
    String small = System.getProperty("quorumkv.smallfs");
    Assumptions.assumeTrue(small != null, "no -Dquorumkv.smallfs given");
    Path dir = Files.createTempDirectory(Path.of(small), "full-");
    StorageOptions options = StorageOptions.defaults(1).withMemory(1L << 20, 512L << 10, 1L << 20);
    byte[] payload = new byte[4096];
    new java.util.Random(3).nextBytes(payload);
    long acked = 0;
    StorageFailedException failure = null;
    try (StorageEngine e = StorageEngine.openRocksDb(dir, "c", options)) {
      for (int i = 0; i < 100_000 && failure == null; i++) {
        List<Entry> batch = new ArrayList<>();
        for (int j = 0; j < 16; j++) {
          batch.add(Entry.normal(acked + 1 + j, 1, payload));
        }
        try {
          e.log(G).append(batch);
          acked += batch.size();
        } catch (StorageFailedException full) {
          failure = full;
        }
      }
      assertTrue(failure != null, "the disk never filled");
      assertTrue(e.failure().isPresent());
      assertEquals(acked, e.log(G).lastIndex(), "nothing past the failure is acknowledged");
      assertThrows(StorageFailedException.class,
          () -> e.log(G).append(List.of(Entry.normal(1, 1, new byte[1]))));
      System.out.println("disk full after " + acked + " entries: " + failure.getCause());
    } finally {
      try (java.util.stream.Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }
}
