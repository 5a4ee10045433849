package io.quorumkv.examples;

import io.quorumkv.ReadConsistency;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * The benchmark's engine: N logical clients, each with exactly one request outstanding (closed
 * loop), issuing gets and puts of the workload's keys until the phase's time or operation budget
 * is spent. Latencies of successful requests go into HdrHistograms (nanoseconds, 3 significant
 * digits); a failed or timed-out request counts as an error and is not recorded.
 */
final class ClosedLoop {

  /** What the loop drives: asynchronous gets and puts. */
  interface Operations {
    /** Writes {@code value} under {@code key}; completes when acknowledged. */
    CompletableFuture<?> put(byte[] key, byte[] value);

    /** Reads {@code key}; completes with whether it was present. */
    CompletableFuture<Boolean> get(byte[] key, ReadConsistency consistency);
  }

  /**
   * One phase of the workload.
   *
   * @param name         the phase's name in the JSON record ({@code put}, {@code get}, {@code mix}, ...)
   * @param readFraction the share of requests that are gets, in [0, 1]
   * @param consistency  the consistency of the gets
   */
  record Phase(String name, double readFraction, ReadConsistency consistency) {
    Phase {
      if (!(readFraction >= 0 && readFraction <= 1)) {
        throw new IllegalArgumentException("read fraction must be in [0, 1], was " + readFraction);
      }
    }

    /**
     * Parses a phase name: {@code put}, {@code get} (linearizable), {@code get-lease},
     * {@code get-follower}, {@code get-stale}, {@code get-linearizable}, or {@code mix}
     * ({@code readPercent}% linearizable gets, the rest puts).
     */
    static Phase parse(String name, int readPercent) {
      if (name.equals("put")) {
        return new Phase(name, 0, ReadConsistency.LINEARIZABLE);
      }
      if (name.equals("get")) {
        return new Phase(name, 1, ReadConsistency.LINEARIZABLE);
      }
      if (name.equals("mix")) {
        return new Phase(name, readPercent / 100.0, ReadConsistency.LINEARIZABLE);
      }
      if (name.startsWith("get-")) {
        String level = name.substring(4).toUpperCase(Locale.ROOT);
        for (ReadConsistency c : ReadConsistency.values()) {
          if (c.name().equals(level)) {
            return new Phase(name, 1, c);
          }
        }
      }
      throw new IllegalArgumentException("unknown phase '" + name
          + "' (put, get, get-lease, get-follower, get-stale, get-linearizable, mix)");
    }

    /** For the JSON record: what the phase does. */
    String describe() {
      if (readFraction == 0) {
        return "100% put";
      }
      String gets = consistency.name().toLowerCase(Locale.ROOT) + " get";
      return readFraction == 1 ? "100% " + gets
          : Math.round(readFraction * 100) + "% " + gets + " / " + Math.round((1 - readFraction) * 100) + "% put";
    }
  }

  /** Limits of one run. */
  record Limits(int clients, long durationNanos, long maxOps, long timeoutMillis) {}

  /** What a run measured. Histograms are in nanoseconds. */
  record Result(Histogram all, Histogram gets, Histogram puts, long ok, long errors, long hits,
      long startNanos, long endNanos, Throwable firstError) {
    double seconds() {
      return (endNanos - startNanos) / 1e9;
    }

    double opsPerSecond() {
      double s = seconds();
      return s <= 0 ? 0 : ok / s;
    }
  }

  /** Called about once a second with the progress so far (from the loop's reporter thread). */
  interface Progress {
    void report(long elapsedNanos, long ok, long errors, Histogram lastInterval);
  }

  /** Longest latency the histograms hold; slower requests are recorded as this. */
  static final long MAX_TRACKED_NANOS = TimeUnit.SECONDS.toNanos(120);

  private final Operations ops;
  private final Workload workload;
  private final Executor retryExecutor;

  /**
   * @param retryExecutor where a client's next request is issued when the previous one completed on
   *                      the issuing thread (a synchronous failure), so the stack never grows
   */
  ClosedLoop(Operations ops, Workload workload, Executor retryExecutor) {
    this.ops = ops;
    this.workload = workload;
    this.retryExecutor = retryExecutor;
  }

  /** Runs {@code phase} with {@code limits}; returns once every client's last request completed. */
  Result run(Phase phase, Limits limits, Progress progress) throws InterruptedException {
    return run(phase, limits, progress, new CompletableFuture<>());
  }

  /** The same, ending early (no new request issued) once {@code stop} completes. */
  Result run(Phase phase, Limits limits, Progress progress, CompletableFuture<?> stop) throws InterruptedException {
    Run run = new Run(phase, limits);
    run.startNanos = System.nanoTime();
    run.deadline = run.startNanos + limits.durationNanos();
    stop.thenRun(() -> run.deadline = Math.min(run.deadline, System.nanoTime()));
    for (int i = 0; i < limits.clients(); i++) {
      new Client(run).next();
    }
    long reportEvery = TimeUnit.SECONDS.toNanos(1);
    long nextReport = run.startNanos + reportEvery;
    // Every client stops issuing at the deadline; its last request ends by its own timeout.
    long hardStop = run.startNanos + limits.durationNanos() + TimeUnit.MILLISECONDS.toNanos(limits.timeoutMillis()) + TimeUnit.SECONDS.toNanos(30);
    while (!run.done.await(Math.max(1, nextReport - System.nanoTime()), TimeUnit.NANOSECONDS)) {
      long now = System.nanoTime();
      if (now >= hardStop) {
        System.err.println("WARN: " + run.done.getCount() + " clients did not finish; their requests are not counted");
        break;
      }
      if (now >= nextReport) {
        Histogram interval = run.harvest();
        if (progress != null) {
          progress.report(now - run.startNanos, run.ok.sum(), run.errors.sum(), interval);
        }
        nextReport += reportEvery;
      }
    }
    run.harvest();
    Histogram all = run.totalGets.copy();
    all.add(run.totalPuts);
    return new Result(all, run.totalGets, run.totalPuts, run.ok.sum(), run.errors.sum(), run.hits.sum(),
        run.startNanos, run.lastEnd.get(), run.firstError.get());
  }

  /** The shared state of one run. */
  private final class Run {
    final Phase phase;
    final Limits limits;
    final CountDownLatch done;
    final AtomicLong issued = new AtomicLong();
    final LongAdder ok = new LongAdder();
    final LongAdder errors = new LongAdder();
    final LongAdder hits = new LongAdder();
    final AtomicLong lastEnd = new AtomicLong();
    final AtomicReference<Throwable> firstError = new AtomicReference<>();
    final Recorder getRecorder = new Recorder(MAX_TRACKED_NANOS, 3);
    final Recorder putRecorder = new Recorder(MAX_TRACKED_NANOS, 3);
    final Histogram totalGets = new Histogram(MAX_TRACKED_NANOS, 3);
    final Histogram totalPuts = new Histogram(MAX_TRACKED_NANOS, 3);
    Histogram recycledGets;
    Histogram recycledPuts;
    long startNanos;
    volatile long deadline;

    Run(Phase phase, Limits limits) {
      this.phase = phase;
      this.limits = limits;
      this.done = new CountDownLatch(limits.clients());
    }

    /** Moves what was recorded since the last call into the totals; returns that interval. */
    Histogram harvest() {
      recycledGets = getRecorder.getIntervalHistogram(recycledGets);
      recycledPuts = putRecorder.getIntervalHistogram(recycledPuts);
      totalGets.add(recycledGets);
      totalPuts.add(recycledPuts);
      Histogram interval = recycledGets.copy();
      interval.add(recycledPuts);
      return interval;
    }
  }

  /**
   * A request slower than the threshold, for a JDK Flight Recorder recording of the driver
   * (examples/bench/tail.py lines these up with the nodes' own events; free unless a recording
   * runs).
   */
  @jdk.jfr.Name("io.quorumkv.bench.Request")
  @jdk.jfr.Label("Benchmark Request")
  @jdk.jfr.Category({"QuorumKV", "Bench"})
  @jdk.jfr.StackTrace(false)
  @jdk.jfr.Threshold("2 ms")
  static final class RequestEvent extends jdk.jfr.Event {
    @jdk.jfr.Label("Operation")
    String op;

    @jdk.jfr.Label("Succeeded")
    boolean ok;
  }

  /** One logical client: issues its next request when the previous one completes. */
  private final class Client {
    private final Run run;

    Client(Run run) {
      this.run = run;
    }

    void next() {
      if (System.nanoTime() >= run.deadline || run.issued.incrementAndGet() > run.limits.maxOps()) {
        run.done.countDown();
        return;
      }
      ThreadLocalRandom rnd = ThreadLocalRandom.current();
      byte[] key = workload.key(rnd.nextInt(workload.keyspace()));
      boolean get = run.phase.readFraction() == 1 || (run.phase.readFraction() > 0 && rnd.nextDouble() < run.phase.readFraction());
      RequestEvent event = new RequestEvent();
      event.begin();
      long t0 = System.nanoTime();
      CompletableFuture<?> f;
      try {
        f = get ? ops.get(key, run.phase.consistency()) : ops.put(key, workload.freshValue(rnd));
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      boolean synchronous = f.isDone();
      f.orTimeout(run.limits.timeoutMillis(), TimeUnit.MILLISECONDS).whenComplete((r, e) -> {
        long t1 = System.nanoTime();
        event.end();
        if (event.shouldCommit()) {
          event.op = get ? "get" : "put";
          event.ok = e == null;
          event.commit();
        }
        run.lastEnd.accumulateAndGet(t1, Math::max);
        if (e == null) {
          (get ? run.getRecorder : run.putRecorder).recordValue(Math.min(t1 - t0, MAX_TRACKED_NANOS));
          run.ok.increment();
          if (get && Boolean.TRUE.equals(r)) {
            run.hits.increment();
          }
        } else {
          run.errors.increment();
          run.firstError.compareAndSet(null, Errors.unwrap(e));
        }
        if (synchronous || e != null) {
          retryExecutor.execute(this::next); // keep the stack flat on fast completions
        } else {
          next();
        }
      });
    }
  }
}
