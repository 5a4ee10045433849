package io.quorumkv.storage;

import io.quorumkv.raft.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Group-commit benchmark: N appender threads, each appending one entry at a time to its own Raft
 * group through one {@link GroupCommitLogWriter} and waiting for it to be durable (like N
 * concurrent client writes). Prints one JSON line per run. Mode {@code raw-fsync} measures the
 * disk itself with the same tool: append 256 bytes and fdatasync, in a loop, in the same
 * directory; {@code raw-fsync-prealloc} does the same over a preallocated file. With
 * {@code --engine memory} the log mode runs on the in-memory engine: the CPU cost of the write path
 * without a disk. With {@code --apply}, one more thread applies every durable entry to its group's
 * state machine (an unsynced write of one record and the applied index, as a node's applier does)
 * and the line adds how long those {@code apply} calls took: they share RocksDB's write queue with
 * the log writer's synced writes.
 *
 * <pre>
 * storage/bench/run-log-benchmark.sh --mode log --appenders 64 --seconds 5 --dir /tmp/qkv-bench
 * storage/bench/run-log-benchmark.sh --mode raw-fsync --seconds 5 --dir /tmp/qkv-bench
 * </pre>
 */
public final class LogBenchmark {

  private LogBenchmark() {}

  /** Parses flags and runs one measurement. */
  public static void main(String[] args) throws Exception {
    String mode = "log";
    boolean apply = false;
    int appenders = 1;
    double seconds = 5;
    double warmup = 1;
    int entryBytes = 256;
    boolean memory = false;
    Path base = Path.of(System.getProperty("java.io.tmpdir"));
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--mode" -> mode = args[i + 1];
        case "--appenders" -> appenders = Integer.parseInt(args[i + 1]);
        case "--seconds" -> seconds = Double.parseDouble(args[i + 1]);
        case "--warmup" -> warmup = Double.parseDouble(args[i + 1]);
        case "--entry-bytes" -> entryBytes = Integer.parseInt(args[i + 1]);
        case "--dir" -> base = Path.of(args[i + 1]);
        case "--engine" -> memory = args[i + 1].equals("memory");
        case "--apply" -> {
          apply = true;
          i--; // a flag without a value
        }
        default -> throw new IllegalArgumentException("unknown flag " + args[i]);
      }
    }
    Files.createDirectories(base);
    Path dir = Files.createTempDirectory(base, "run-");
    try {
      String json = switch (mode) {
        case "raw-fsync" -> rawFsync(dir, seconds, warmup, entryBytes, false);
        case "raw-fsync-prealloc" -> rawFsync(dir, seconds, warmup, entryBytes, true);
        case "log" -> log(dir, appenders, seconds, warmup, entryBytes, memory, apply);
        default -> throw new IllegalArgumentException("unknown mode " + mode);
      };
      System.out.println(json);
    } finally {
      deleteTree(dir);
    }
  }

  private static String log(Path dir, int appenders, double seconds, double warmup, int bytes,
      boolean memory, boolean apply) throws Exception {
    byte[] payload = new byte[bytes];
    new Random(1).nextBytes(payload);
    try (StorageEngine engine = memory
            ? StorageEngine.openInMemory(new MemoryDisk(), "bench", StorageOptions.defaults(1))
            : StorageEngine.openRocksDb(dir, "bench", StorageOptions.defaults(1));
        GroupCommitLogWriter writer = new GroupCommitLogWriter(engine)) {
      long start = System.nanoTime();
      long measureFrom = start + (long) (warmup * 1e9);
      long end = measureFrom + (long) (seconds * 1e9);
      long[][] latencies = new long[appenders][];
      int[] counts = new int[appenders];
      long[] syncsAt = new long[2];
      List<Thread> threads = new ArrayList<>();
      LinkedBlockingQueue<long[]> durable = new LinkedBlockingQueue<>();
      long[][] applyLatency = {new long[1 << 16]};
      int[] applyCount = {0};
      Thread applier = new Thread(() -> {
        List<long[]> work = new ArrayList<>();
        try {
          while (System.nanoTime() < end + 1_000_000_000L) {
            long[] first = durable.poll(100, TimeUnit.MILLISECONDS);
            if (first == null) {
              continue;
            }
            work.add(first);
            durable.drainTo(work);
            for (long[] w : work) { // {group, index}
              byte[] key = ("k" + (w[1] % 100_000)).getBytes(StandardCharsets.UTF_8);
              long t0 = System.nanoTime();
              engine.stateMachine(w[0]).apply(w[1], 1, List.of(KvMutation.put(key, payload)));
              long t1 = System.nanoTime();
              if (t0 >= measureFrom && t1 <= end) {
                if (applyCount[0] == applyLatency[0].length) {
                  applyLatency[0] = Arrays.copyOf(applyLatency[0], applyCount[0] * 2);
                }
                applyLatency[0][applyCount[0]++] = t1 - t0;
              }
            }
            work.clear();
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }, "applier");
      if (apply) {
        applier.start();
      }
      for (int a = 0; a < appenders; a++) {
        int id = a;
        Thread t = new Thread(() -> {
          long group = id + 1;
          long index = 0;
          long[] lat = new long[1 << 16];
          int n = 0;
          try {
            while (true) {
              long t0 = System.nanoTime();
              if (t0 >= end) {
                break;
              }
              index++;
              writer.submit(new LogBatch().append(group,
                  List.of(Entry.normal(index, 1, payload)))).get();
              long t1 = System.nanoTime();
              if (apply) {
                durable.add(new long[] {group, index});
              }
              if (t0 >= measureFrom) {
                if (n == lat.length) {
                  lat = Arrays.copyOf(lat, n * 2);
                }
                lat[n++] = t1 - t0;
              }
            }
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
          latencies[id] = lat;
          counts[id] = n;
        }, "appender-" + a);
        threads.add(t);
        t.start();
      }
      sleepUntil(measureFrom);
      syncsAt[0] = engine.syncMonitor().syncCount();
      sleepUntil(end);
      syncsAt[1] = engine.syncMonitor().syncCount();
      for (Thread t : threads) {
        t.join();
      }
      if (apply) {
        applier.join();
      }
      int total = 0;
      for (int c : counts) {
        total += c;
      }
      long[] all = new long[total];
      int off = 0;
      for (int a = 0; a < appenders; a++) {
        System.arraycopy(latencies[a], 0, all, off, counts[a]);
        off += counts[a];
      }
      long fsyncs = syncsAt[1] - syncsAt[0];
      String line = json(memory ? "log-memory" : "log", appenders, bytes, seconds, total, fsyncs,
          all, dir);
      if (!apply) {
        return line;
      }
      long[] applied = Arrays.copyOf(applyLatency[0], applyCount[0]);
      Arrays.sort(applied);
      long slow = Arrays.stream(applied).filter(ns -> ns > 200_000).count();
      return line.substring(0, line.length() - 1) + String.format(Locale.ROOT,
          ",\"applyCalls\":%d,\"applyMeanUs\":%.1f,\"applyP50Us\":%.0f,\"applyP99Us\":%.0f,"
              + "\"applyOver200UsPct\":%.1f}",
          applied.length, Arrays.stream(applied).average().orElse(0) / 1000, pct(applied, 0.50),
          pct(applied, 0.99), applied.length == 0 ? 0.0 : 100.0 * slow / applied.length);
    }
  }

  /**
   * Appends {@code bytes} and fdatasyncs, in a loop. With {@code prealloc} the file is first
   * written full of zeros and synced, and the loop overwrites it: the size never changes, so each
   * fdatasync flushes data only, without a journal commit for the file's size (closer to what
   * RocksDB's preallocated WAL costs).
   */
  private static String rawFsync(Path dir, double seconds, double warmup, int bytes,
      boolean prealloc) throws IOException {
    byte[] payload = new byte[bytes];
    new Random(1).nextBytes(payload);
    Path file = dir.resolve("raw-fsync.dat");
    if (prealloc) {
      try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW,
          StandardOpenOption.WRITE)) {
        ByteBuffer zeros = ByteBuffer.allocate(1 << 20);
        for (int i = 0; i < 256; i++) {
          zeros.clear();
          while (zeros.hasRemaining()) {
            ch.write(zeros);
          }
        }
        ch.force(true);
      }
    }
    long start = System.nanoTime();
    long measureFrom = start + (long) (warmup * 1e9);
    long end = measureFrom + (long) (seconds * 1e9);
    long[] lat = new long[1 << 16];
    int n = 0;
    try (FileChannel ch = prealloc
        ? FileChannel.open(file, StandardOpenOption.WRITE)
        : FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      long position = 0;
      while (true) {
        long t0 = System.nanoTime();
        if (t0 >= end) {
          break;
        }
        ByteBuffer b = ByteBuffer.wrap(payload);
        while (b.hasRemaining()) {
          position += ch.write(b, prealloc ? position % (256L << 20) : position);
        }
        ch.force(false); // fdatasync, what RocksDB does for the WAL
        long t1 = System.nanoTime();
        if (t0 >= measureFrom) {
          if (n == lat.length) {
            lat = Arrays.copyOf(lat, n * 2);
          }
          lat[n++] = t1 - t0;
        }
      }
    }
    return json(prealloc ? "raw-fsync-prealloc" : "raw-fsync", 1, bytes, seconds, n, n,
        Arrays.copyOf(lat, n), dir);
  }

  private static String json(String mode, int appenders, int bytes, double seconds, long entries,
      long fsyncs, long[] lat, Path dir) {
    Arrays.sort(lat);
    return String.format(Locale.ROOT,
        "{\"mode\":\"%s\",\"appenders\":%d,\"entryBytes\":%d,\"seconds\":%.1f,"
            + "\"entriesPerSec\":%.0f,\"fsyncsPerSec\":%.0f,\"entriesPerFsync\":%.2f,"
            + "\"p50Us\":%.0f,\"p99Us\":%.0f,\"p999Us\":%.0f,\"dir\":\"%s\",\"fs\":\"%s\"}",
        mode, appenders, bytes, seconds, entries / seconds, fsyncs / seconds,
        fsyncs == 0 ? 0.0 : (double) entries / fsyncs,
        pct(lat, 0.50), pct(lat, 0.99), pct(lat, 0.999), dir.getParent(), filesystem(dir));
  }

  private static double pct(long[] sorted, double p) {
    if (sorted.length == 0) {
      return 0;
    }
    int i = (int) Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
    return sorted[Math.max(0, i)] / 1000.0;
  }

  /** The type of the filesystem holding {@code dir}, from /proc/mounts (longest mount prefix). */
  static String filesystem(Path dir) {
    try (Stream<String> lines = Files.lines(Path.of("/proc/mounts"))) {
      String abs = dir.toAbsolutePath().toRealPath().toString();
      return lines.map(l -> l.split(" "))
          .filter(f -> f.length > 2 && (abs.equals(f[1]) || abs.startsWith(
              f[1].endsWith("/") ? f[1] : f[1] + "/")))
          .max(Comparator.comparingInt(f -> f[1].length()))
          .map(f -> f[2] + " on " + f[0])
          .orElse("unknown");
    } catch (IOException e) {
      return "unknown";
    }
  }

  private static void sleepUntil(long nanos) throws InterruptedException {
    long now;
    while ((now = System.nanoTime()) < nanos) {
      Thread.sleep(Math.max(1, (nanos - now) / 1_000_000));
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
