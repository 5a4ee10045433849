package io.quorumkv.raft.sim;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;

/**
 * Throughput of the Raft core alone in the simulator: three nodes, no faults, the leader fed
 * proposals as fast as a window of uncommitted entries allows, so that entries batch into
 * AppendEntries and disk writes. Prints one JSON line: committed entries per second of wall
 * time, entries, virtual ticks, seed; and, because wall time on a shared machine also measures
 * the neighbours, the same per second of this thread's CPU time. The simulator's own work
 * (network queue, invariant bookkeeping, state machine) is included in both.
 *
 * <pre>
 * mvn -B -q -ntp -pl raft -am verify -DskipTests \
 *   &amp;&amp; java -cp raft/target/classes:raft/target/test-classes io.quorumkv.raft.sim.SimBenchmark [entries] [seed]
 * </pre>
 */
public final class SimBenchmark {

  private static final int WINDOW = 2_048;
  private static final int PER_MILLI = 256;

  private SimBenchmark() {}

  /** Runs the benchmark; args: [entries to commit, default 300000] [seed, default 1]. */
  public static void main(String[] args) {
    long entries = args.length > 0 ? Long.parseLong(args[0]) : 300_000;
    long seed = args.length > 1 ? Long.parseLong(args[1]) : 1;
    run(20_000, seed); // warm up the JIT
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long cpuStart = threads.getCurrentThreadCpuTime();
    long start = System.nanoTime();
    SimCluster c = run(entries, seed);
    double seconds = (System.nanoTime() - start) / 1e9;
    double cpuSeconds = (threads.getCurrentThreadCpuTime() - cpuStart) / 1e9;
    long ticks = c.now() / c.config().tickMicros();
    System.out.printf(Locale.ROOT, "{\"benchmark\":\"raft-sim-core\",\"nodes\":3,\"entries\":%d,"
            + "\"entriesPerSecond\":%.0f,\"wallSeconds\":%.3f,\"entriesPerCpuSecond\":%.0f,"
            + "\"cpuSeconds\":%.3f,\"ticks\":%d,\"seed\":%d}%n",
        c.maxCommitted(), c.maxCommitted() / seconds, seconds, c.maxCommitted() / cpuSeconds, cpuSeconds,
        ticks, seed);
  }

  private static SimCluster run(long entries, long seed) {
    SimCluster c = new SimCluster(SimConfig.builder(3, seed).clients(0).maxSizePerMsg(64 << 10).build());
    if (!c.runUntil(c::hasMemberLeader, 5_000_000)) {
      throw new IllegalStateException("no leader: " + c.stats());
    }
    long proposed = c.maxCommitted();
    for (int guard = 0; c.maxCommitted() < entries; guard++) {
      if (guard > 10_000_000) {
        throw new IllegalStateException("no progress: " + c.stats());
      }
      for (int i = 0; i < PER_MILLI && proposed - c.maxCommitted() < WINDOW; i++) {
        if (c.proposeAtLeader("k" + (proposed % 64), "v" + proposed)) {
          proposed++;
        }
      }
      c.runFor(1_000);
    }
    return c;
  }
}
