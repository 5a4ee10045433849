package io.quorumkv.storage;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.Snapshot;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The process {@link CrashRecoveryTest} kills with SIGKILL: per group, a thread appends batches
 * through the group-commit writer, prints {@code ACK <group> <last index>} once a batch is durable,
 * then applies it to the state machine, and now and then snapshots and compacts. Every entry's
 * payload is a function of (group, index, term), so the checker can verify it.
 */
final class CrashWorkload {

  static final String CLUSTER = "crash-cluster";
  static final int GROUPS = 4;
  static final int ENTRY_BYTES = 256;
  static final byte[] APPLIED_KEY = "applied".getBytes(StandardCharsets.UTF_8);

  private CrashWorkload() {}

  static byte[] data(long group, long index, long term) {
    ByteBuffer b = ByteBuffer.allocate(ENTRY_BYTES);
    b.putLong(group).putLong(index).putLong(term);
    Random r = new Random(group * 1_000_003 + index * 31 + term);
    while (b.hasRemaining()) {
      b.put((byte) r.nextInt());
    }
    return b.array();
  }

  static StorageOptions options() {
    return StorageOptions.defaults(1).withLogCompactionTriggerEntries(2_000);
  }

  /** Arguments: data directory, run number (the term of this run's entries is run + 1). */
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    long term = Long.parseLong(args[1]) + 1;
    PrintStream out = System.out;
    StorageEngine engine = StorageEngine.openRocksDb(dir, CLUSTER, options());
    GroupCommitLogWriter writer = new GroupCommitLogWriter(engine);
    out.println("READY");
    out.flush();
    List<Thread> threads = new ArrayList<>();
    for (long g = 1; g <= GROUPS; g++) {
      long group = g;
      Thread t = new Thread(() -> run(engine, writer, group, term, out), "appender-" + g);
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join(); // until killed; each loop is bounded, so a forgotten process ends by itself
    }
    writer.close();
    engine.close();
  }

  private static void run(
      StorageEngine engine, GroupCommitLogWriter writer, long g, long term, PrintStream out) {
    Random rnd = new Random(g * 7 + term);
    LogStore log = engine.log(g);
    StateMachineStore sm = engine.stateMachine(g);
    try {
      for (int i = 0; i < 200_000; i++) {
        long first = log.lastIndex() + 1;
        int n = 1 + rnd.nextInt(8);
        List<Entry> batch = new ArrayList<>(n);
        for (long index = first; index < first + n; index++) {
          batch.add(Entry.normal(index, term, data(g, index, term)));
        }
        long last = first + n - 1;
        writer.submit(new LogBatch().append(g, batch).hardState(g, new HardState(term, 1, last)))
            .get();
        synchronized (out) {
          out.println("ACK " + g + " " + last);
          out.flush();
        }
        List<KvMutation> mutations = new ArrayList<>();
        mutations.add(KvMutation.put(APPLIED_KEY, Long.toString(last).getBytes(
            StandardCharsets.UTF_8)));
        mutations.add(KvMutation.put(("k" + last).getBytes(StandardCharsets.UTF_8),
            data(g, last, term)));
        sm.apply(last, term, mutations);
        if (rnd.nextInt(40) == 0) {
          Snapshot snap = sm.createSnapshot();
          writer.submit(new LogBatch().compact(g, snap)).get();
        }
      }
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(3);
    }
  }
}
