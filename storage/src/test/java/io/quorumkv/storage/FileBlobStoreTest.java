package io.quorumkv.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileBlobStoreTest {

  /**
   * The log writer lists payloads (to delete old ones after a compaction) while the snapshot
   * thread writes another group's payload: temporary files appear, are renamed and vanish under
   * the listing. A listing that read each file's attributes after listing it failed with
   * NoSuchFileException, which failed the log write it ran in (found by the long crash test).
   */
  @Test
  void listingIgnoresFilesThatComeAndGoMeanwhile(@TempDir Path dir) throws Exception {
    FileBlobStore store = new FileBlobStore(dir);
    try (BlobStore.Writer w = store.create("1/1-1.snap")) {
      w.commit();
    }
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> churnFailed = new AtomicReference<>();
    Thread churn = new Thread(() -> {
      try {
        for (long i = 2; i < 1_000_000 && !stop.get(); i++) {
          String name = (2 + i % 3) + "/" + i + "-1.snap";
          try (BlobStore.Writer w = store.create(name)) {
            if (i % 2 == 0) {
              w.commit();
            }
          }
          store.delete(name);
        }
      } catch (Throwable t) {
        churnFailed.set(t);
      }
    });
    churn.start();
    try {
      for (int i = 0; i < 3_000; i++) {
        List<String> names = store.list(); // never throws, always holds the one stable blob
        assertEquals(1, names.stream().filter("1/1-1.snap"::equals).count(), names.toString());
      }
    } finally {
      stop.set(true);
      churn.join(30_000);
    }
    assertEquals(null, churnFailed.get());
  }
}
