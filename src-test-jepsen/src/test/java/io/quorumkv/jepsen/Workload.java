package io.quorumkv.jepsen;

import io.quorumkv.KvClient;
import io.quorumkv.KvException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A client workload: threads that each run {@link #operate} in a loop, recording every operation
 * in the workload's history, then a final phase after the faults are healed, then checks.
 */
abstract class Workload {

  /** What every workload of one run shares. */
  record Context(Cluster cluster, LongSupplier clock, AtomicLong processIds, Map<Long, Integer> laneOfProcess) {
    Context(Cluster cluster, LongSupplier clock) {
      this(cluster, clock, new AtomicLong(), new ConcurrentHashMap<>());
    }
  }

  /**
   * One client thread: its random source, its client, and its current process id. A process
   * whose last operation's outcome is unknown never invokes again: {@link #crashed()} moves the
   * thread to a fresh process, as Jepsen does.
   */
  static final class Worker {
    final int lane;
    final Random rnd;
    final KvClient client;
    private final Context ctx;
    private long process;
    private RuntimeException lastFailure;

    Worker(int lane, Random rnd, KvClient client, Context ctx) {
      this.lane = lane;
      this.rnd = rnd;
      this.client = client;
      this.ctx = ctx;
      newProcess();
    }

    long process() {
      return process;
    }

    /** Remembers why an operation failed, for a final read that gives up to report. */
    void failed(RuntimeException e) {
      lastFailure = e;
    }

    /** The last failure {@link #failed} recorded, or null. */
    RuntimeException lastFailure() {
      return lastFailure;
    }

    /** The last operation's outcome is unknown: continue as a new process. */
    void crashed() {
      newProcess();
    }

    /** Continues as a fresh process id (after an unknown outcome, or for every concurrent probe). */
    void newProcess() {
      process = ctx.processIds().incrementAndGet();
      ctx.laneOfProcess().put(process, lane);
    }
  }

  /** {@code e} and its causes, for a report. */
  static String describe(Throwable e) {
    StringBuilder b = new StringBuilder(e.toString());
    for (Throwable c = e.getCause(); c != null && c != e; c = c.getCause()) {
      b.append(" caused by ").append(c);
    }
    return b.toString();
  }

  /** Whether a failed write may have taken effect (then it must be recorded as {@code info}). */
  static boolean outcomeUnknown(RuntimeException e) {
    return !(e instanceof KvException k) || k.outcomeUnknown();
  }

  /** The workload's name, e.g. {@code register-linearizable}; also its history file's prefix. */
  abstract String name();

  /** How many client threads it runs. */
  abstract int threads();

  /** Prepares initial state before the faults begin (e.g. opens the bank's accounts). */
  void setup(Context ctx) {}

  /** Performs and records one operation. Must not throw; every call is bounded by the client's deadline. */
  abstract void operate(Worker w);

  /** Runs after every fault was healed: final reads. */
  void finish(Context ctx) {}

  /** Records a nemesis event into this workload's histories. */
  abstract void nemesis(String f, String value);

  /** Writes the histories into {@code dir}; returns the file names. */
  abstract List<String> write(Path dir, String stamp) throws IOException;

  /** Checks the histories. */
  abstract List<CheckResult> check();

  /** The operations, for the report's timeline and latency chart. */
  abstract List<Report.Operation> operations(Context ctx);
}
