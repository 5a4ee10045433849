package io.quorumkv.storage;

import static io.quorumkv.storage.StorageContractTest.G;
import static io.quorumkv.storage.StorageContractTest.entries;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.Snapshot;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The RocksDB engine against real files: damaged bytes, torn writes, foreign data, leaks. */
class RocksDbFilesTest {

  @TempDir Path dir;

  private StorageEngine open(StorageOptions options) {
    return StorageEngine.openRocksDb(dir.resolve("node"), "c", options);
  }

  private StorageEngine open() {
    return open(StorageOptions.defaults(1));
  }

  private static List<Path> files(Path dbDir, String suffix) throws Exception {
    try (Stream<Path> s = Files.list(dbDir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(suffix)).sorted().toList();
    }
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Test
  void aByteFlippedInAnSstFileIsReportedWithTheFileAndTheGroup() throws Exception {
    byte[] marker = "unique-payload-of-entry-42".getBytes(StandardCharsets.UTF_8);
    try (StorageEngine e = open()) {
      List<Entry> batch = new ArrayList<>(entries(1, 41, 1));
      batch.add(Entry.normal(42, 1, marker));
      batch.addAll(entries(43, 60, 1));
      e.log(G).append(batch);
      ((RocksBackend) e.backend()).flush();
    }
    Path hit = null;
    for (Path sst : files(dir.resolve("node/db"), ".sst")) {
      byte[] bytes = Files.readAllBytes(sst);
      int at = indexOf(bytes, marker);
      if (at >= 0) {
        try (RandomAccessFile f = new RandomAccessFile(sst.toFile(), "rw")) {
          f.seek(at + 5);
          f.write(bytes[at + 5] ^ 0x20);
        }
        hit = sst;
      }
    }
    assertTrue(hit != null, "the entry is in an SST file");
    StorageCorruptionException ex = assertThrows(StorageCorruptionException.class, this::open);
    assertTrue(ex.getMessage().contains(hit.getFileName().toString()), ex.getMessage());
    assertTrue(ex.getMessage().contains("group 7"), ex.getMessage());
  }

  /**
   * A write torn by a power cut leaves a partial record at the end of the write-ahead log. The
   * engine recovers to the record before it and serves nothing past it.
   */
  @Test
  void nothingPastATornWriteIsServed() throws Exception {
    try (StorageEngine e = open()) {
      for (long i = 1; i <= 20; i++) {
        e.log(G).append(entries(i, i, 1));
      }
    }
    List<Path> wals = files(dir.resolve("node/db"), ".log");
    Path wal = wals.get(wals.size() - 1);
    long size = Files.size(wal);
    try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
      f.setLength(size - 5); // tear the last record
    }
    try (StorageEngine e = open()) {
      long last = e.log(G).lastIndex();
      assertEquals(19, last, "the torn entry 20 is gone, 1..19 are intact");
      assertEquals(entries(1, 19, 1), e.log(G).entries(1, 20, Long.MAX_VALUE));
    }
  }

  /**
   * The usual power-cut case: the WAL file was preallocated, so after the torn record comes a run
   * of zeros rather than the end of the file. Still tolerated.
   */
  @Test
  void aTornWriteFollowedByPreallocatedZerosIsTolerated() throws Exception {
    Path wal = logTwentyEntries(null);
    long size = Files.size(wal);
    try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
      f.setLength(size - 5);
      f.setLength(size + 64 * 1024); // zero-filled, as preallocated space reads
    }
    try (StorageEngine e = open()) {
      assertEquals(19, e.log(G).lastIndex());
      assertEquals(entries(1, 19, 1), e.log(G).entries(1, 20, Long.MAX_VALUE));
    }
  }

  /**
   * A damaged record in the middle of the WAL, with intact records after it, is not a torn write:
   * the records after it were written (and acknowledged) later. Recovering up to the damage would
   * silently drop them, so the engine refuses to start and names the problem.
   */
  @Test
  void aDamagedRecordInTheMiddleOfTheWalIsRefusedAtStart() throws Exception {
    byte[] marker = "unique-payload-of-entry-ten".getBytes(StandardCharsets.UTF_8);
    Path wal = logTwentyEntries(marker);
    byte[] bytes = Files.readAllBytes(wal);
    int at = indexOf(bytes, marker);
    assertTrue(at > 0, "entry 10 is in the WAL");
    try (RandomAccessFile f = new RandomAccessFile(wal.toFile(), "rw")) {
      f.seek(at + 3);
      f.write(bytes[at + 3] ^ 0x20);
    }
    StorageStartupException ex = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.WAL_CORRUPTION, ex.reason());
    assertTrue(ex.getMessage().contains(dir.resolve("node").toString()), ex.getMessage());
  }

  /** Twenty log entries, one synced write each (entry 10 carries {@code marker} if given); the last WAL. */
  private Path logTwentyEntries(byte[] marker) throws Exception {
    try (StorageEngine e = open()) {
      for (long i = 1; i <= 20; i++) {
        e.log(G).append(i == 10 && marker != null ? List.of(Entry.normal(10, 1, marker)) : entries(i, i, 1));
      }
    }
    List<Path> wals = files(dir.resolve("node/db"), ".log");
    return wals.get(wals.size() - 1);
  }

  @Test
  void dataOfAnUnknownFormatVersionIsRefused() throws Exception {
    open().close();
    Path meta = dir.resolve("node/META");
    String text = Files.readString(meta).replace("format.version=1", "format.version=2");
    Files.writeString(meta, text);
    StorageStartupException ex = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.UNKNOWN_FORMAT_VERSION, ex.reason());
    assertTrue(ex.getMessage().contains("format version 2"), ex.getMessage());
    Files.delete(meta);
    StorageStartupException missing = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.BAD_META, missing.reason());
  }

  @Test
  void aDirectoryLockedByAnotherLiveProcessIsRefused() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    File err = dir.resolve("holder.err").toFile();
    Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        LockHolder.class.getName(), dir.resolve("node").toString()).redirectError(err).start();
    try {
      BufferedReader in = new BufferedReader(
          new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
      assertTrue(in.readLine().startsWith("READY"), "holder failed, see " + err);
      StorageStartupException ex = assertThrows(StorageStartupException.class, this::open);
      assertEquals(StorageStartupException.Reason.LOCKED, ex.reason());
      assertTrue(ex.getMessage().contains("another live process"), ex.getMessage());
      holder.getOutputStream().close();
      assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, holder.exitValue());
    } finally {
      holder.destroyForcibly();
    }
    open().close(); // the lock went with the process
  }

  private static long openFiles() throws Exception {
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      return s.count();
    }
  }

  /**
   * 1,000 open/close cycles leave no file descriptor or thread behind. Run on tmpfs when there is
   * one: the test is about native handles, and each open's fsyncs would otherwise dominate.
   */
  @Test
  void openAndCloseLeakNoHandles() throws Exception {
    int cycles = 1000;
    Path shm = Path.of("/dev/shm");
    Path data = Files.isDirectory(shm) && Files.isWritable(shm)
        ? Files.createTempDirectory(shm, "quorumkv-cycles-")
        : dir.resolve("cycles");
    try {
      StorageOptions options = StorageOptions.defaults(1);
      try (StorageEngine e = StorageEngine.openRocksDb(data, "c", options)) {
        e.log(G).append(entries(1, 10, 1));
      }
      long filesBefore = openFiles();
      int threadsBefore = Thread.activeCount();
      for (int i = 0; i < cycles; i++) {
        try (StorageEngine e = StorageEngine.openRocksDb(data, "c", options)) {
          if (i % 100 == 0) {
            assertEquals(10, e.log(G).lastIndex());
          }
        }
      }
      long filesAfter = openFiles();
      assertTrue(filesAfter <= filesBefore + 2,
          "file descriptors " + filesBefore + " -> " + filesAfter + " after " + cycles
              + " cycles");
      assertTrue(Thread.activeCount() <= threadsBefore + 2,
          "threads " + threadsBefore + " -> " + Thread.activeCount());
    } finally {
      try (Stream<Path> s = Files.walk(data)) {
        for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /**
   * Log disk use follows the log's live size once snapshots compact it: the engine range-deletes
   * the prefix and has RocksDB compact it away, with no manual step.
   */
  @Test
  void logDiskUseStaysBoundedAfterSnapshots() throws Exception {
    StorageOptions small = StorageOptions.defaults(1)
        .withMemory(8L << 20, 1L << 20, 2L << 20)
        .withLogCompactionTriggerEntries(2_000);
    byte[] payload = new byte[1024];
    new java.util.Random(1).nextBytes(payload);
    long written = 0;
    long peak = 0;
    try (StorageEngine e = open(small)) {
      LogStore log = e.log(G);
      StateMachineStore sm = e.stateMachine(G);
      for (int round = 0; round < 40; round++) {
        for (int b = 0; b < 5; b++) {
          List<Entry> batch = new ArrayList<>();
          for (int i = 0; i < 100; i++) {
            batch.add(Entry.normal(log.lastIndex() + 1 + i, 1, payload));
          }
          log.append(batch);
          written += 100L * payload.length;
        }
        sm.apply(log.lastIndex(), 1, List.of());
        Snapshot snap = sm.createSnapshot();
        log.compact(snap);
        peak = Math.max(peak, bytesOf(dir.resolve("node").resolve("db"), ".sst"));
      }
      ((RocksBackend) e.backend()).awaitReclaim();
      long end = e.diskBytes();
      long sst = bytesOf(dir.resolve("node").resolve("db"), ".sst");
      long wal = bytesOf(dir.resolve("node").resolve("db"), ".log");
      // The table files follow the live log; the WAL files are bounded apart from it (the current
      // ones by max_total_wal_size, plus the obsolete ones kept for reuse, however many of those
      // there are at this moment: so no bound on the sum, which a clean-clone CI run found racy)
      assertTrue(sst < written / 20,
          "table files " + sst + " B after writing " + written + " B (disk " + end + ")");
      assertTrue(wal <= (2L << 20) * (2 + RocksBackend.WAL_FILES_RECYCLED),
          "WAL files " + wal + " B after writing " + written + " B");
      assertTrue(peak < written / 2, "table files at most " + peak + " B of " + written + " B written");
    }
  }

  /**
   * A log whose memtable outlasts its compactions writes only the entries still live at a flush to
   * SST files; one whose memtable fills before its entries are compacted writes them all (the
   * second run shows the counter and the workload can tell the two apart).
   */
  @Test
  void logEntriesCompactedWhileInTheMemtableAreNotWrittenToFiles() throws Exception {
    long written = 32L << 20;
    StorageOptions base = StorageOptions.defaults(1).withMemory(8L << 20, 1L << 20, 128L << 20);
    long large = logBytesFlushed(base.withLogWriteBufferBytes(8L << 20), written);
    Path first = dir.resolve("node");
    try (Stream<Path> walk = Files.walk(first)) {
      walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    }
    long small = logBytesFlushed(base, written);
    assertTrue(large < written / 4, large + " B of log flushed to files with an 8 MiB memtable, of " + written);
    assertTrue(small > written / 2, small + " B of log flushed to files with a 1 MiB memtable, of " + written);
  }

  /** Appends {@code total} bytes of 1 KiB entries, compacting all but the last ~1 MiB every 1 MiB. */
  private long logBytesFlushed(StorageOptions options, long total) {
    byte[] payload = new byte[1024];
    new java.util.Random(7).nextBytes(payload);
    try (StorageEngine e = open(options)) {
      LogStore log = e.log(G);
      StateMachineStore sm = e.stateMachine(G);
      for (long bytes = 0; bytes < total; bytes += 1L << 20) {
        for (int b = 0; b < 8; b++) {
          List<Entry> batch = new ArrayList<>();
          for (int i = 0; i < 128; i++) {
            batch.add(Entry.normal(log.lastIndex() + 1 + i, 1, payload));
          }
          log.append(batch);
        }
        sm.apply(log.lastIndex(), 1, List.of());
        long through = log.lastIndex() - 1024;
        if (through > 0) {
          e.write(e.newLogBatch().compactThrough(G, through));
        }
      }
      ((RocksBackend) e.backend()).flush();
      return e.sstWrites().logFlushBytes();
    }
  }

  private static long bytesOf(Path dbDir, String suffix) throws Exception {
    long sum = 0;
    for (Path p : files(dbDir, suffix)) {
      try {
        sum += Files.size(p);
      } catch (java.nio.file.NoSuchFileException compactedAway) {
        // deleted since the listing
      }
    }
    return sum;
  }

  @Test
  void aRecordOnlyInAFileIsNotReadFromMemoryUntilItsBlockIsCached() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 1, 1));
    e.stateMachine(G).apply(1, 1, List.of(KvMutation.put(StorageContractTest.b("k"), StorageContractTest.b("v"))));
    ((RocksBackend) e.backend()).flush();
    e.close();
    StorageEngine again = open(); // a new block cache: the record's block is in the SST file only
    try {
      StateMachineStore sm = again.stateMachine(G);
      assertEquals(MemoryRead.NEEDS_DISK, sm.getInMemory(StorageContractTest.b("k")));
      assertEquals("v", StorageContractTest.s(sm.get(StorageContractTest.b("k")).orElseThrow()));
      assertEquals("v", StorageContractTest.s(
          ((MemoryRead.Found) sm.getInMemory(StorageContractTest.b("k"))).value().orElseThrow()));
    } finally {
      again.close();
    }
  }
}
