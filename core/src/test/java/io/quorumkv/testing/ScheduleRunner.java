package io.quorumkv.testing;

import io.quorumkv.KvClient;
import io.quorumkv.KvException;
import io.quorumkv.KvStore;
import io.quorumkv.testkit.Verdict;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Applies a {@link FaultSchedule} to a started {@link TestCluster} while client threads run a
 * workload through {@link RecordingKvStore}s, then checks what happened:
 *
 * <ol>
 *   <li>waits for leaders, starts the clients, applies the steps one by one (each recorded as a
 *       nemesis event; a failed administrative step is recorded, not fatal);</li>
 *   <li>heals the network and restarts every member that is down, then requires <b>recovery</b>:
 *       leaders again, and new successful operations from the clients;</li>
 *   <li>stops the clients, runs the caller's own {@link Builder#finalCheck final check} (e.g. "no
 *       acknowledged increment was lost"), and checks that the <b>history is linearizable</b>.</li>
 * </ol>
 *
 * <p>Any problem throws {@link ScheduleFailure} naming the schedule and the history file, written
 * under {@code target/quorumkv-histories/} (every history is kept in {@code -Dquorumkv.history.dir}).
 *
 * <pre>{@code
 * ScheduleRunner runner = ScheduleRunner.builder("register")
 *     .workload((store, client, random) -> store.put("k", Integer.toString(random.nextInt(5))))
 *     .build();
 * runner.run(cluster, schedule);
 * }</pre>
 */
public final class ScheduleRunner {

  /**
   * What each client thread does, over and over until the run ends: typically one call of the code
   * under test, made with {@code store}. A {@link KvException} it throws is expected under faults
   * (it is already in the history) and the loop goes on; any other exception fails the run.
   */
  @FunctionalInterface
  public interface Workload {
    /**
     * One operation of client {@code client} (0-based).
     *
     * @param store  this client's recording store (one client process at a time)
     * @param client which client thread
     * @param random this client's randomness
     */
    void operate(RecordingKvStore store, int client, SplittableRandom random) throws Exception;
  }

  /** How clients reach the cluster. */
  public enum Via {
    /** Client {@code i} calls member {@code i % N + 1} directly, as a service embedding it would. */
    EMBEDDED_NODE,
    /** Each client has its own {@link KvClient} of every member, starting at a different one. */
    REMOTE_CLIENT
  }

  /**
   * What a successful run saw.
   *
   * @param history    the file, if kept ({@code -Dquorumkv.history.dir})
   * @param verdict    the checker's verdict
   * @param operations completed calls of the workload (normal returns)
   * @param failures   calls that threw a {@link KvException}
   * @param outcomes   what each step of the schedule did, in order, as its nemesis event says:
   *                   {@link Step#name()}, then {@code ": "} and the outcome (e.g.
   *                   {@code "merge: skipped: ..."}, {@code "split: failed: ..."})
   */
  public record Result(Optional<Path> history, Verdict verdict, long operations, long failures,
      List<String> outcomes) {

    /** Copies the list. */
    public Result {
      outcomes = List.copyOf(outcomes);
    }

    /** How many steps named {@code name} took effect: neither skipped nor failed. */
    public long applied(String name) {
      String prefix = name + ": ";
      return outcomes.stream().filter(o -> o.startsWith(prefix))
          .map(o -> o.substring(prefix.length()))
          .filter(o -> !o.startsWith("skipped") && !o.startsWith("failed")).count();
    }
  }

  private final Builder config;

  private ScheduleRunner(Builder config) {
    this.config = config;
  }

  /** A builder for a workload whose history files are named {@code <workload>-...jsonl}. */
  public static Builder builder(String workload) {
    return new Builder(workload);
  }

  /**
   * Runs {@code schedule} on {@code cluster} (started, not necessarily with leaders yet).
   *
   * @throws ScheduleFailure if the history is not linearizable, the cluster did not recover, a
   *                         client threw an unexpected exception or the final check failed
   */
  public Result run(TestCluster cluster, FaultSchedule schedule) throws InterruptedException {
    Recording recording = new Recording(config.workload);
    recording.nemesis("schedule", schedule.toString());
    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong operations = new AtomicLong();
    AtomicLong failures = new AtomicLong();
    ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
    List<Thread> clients = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    List<String> outcomes = new ArrayList<>();
    Throwable cause = null;
    try {
      cluster.awaitLeaders(config.recoveryTimeout);
      List<Long> members = new ArrayList<>(cluster.members());
      for (int i = 0; i < config.clients; i++) {
        RecordingKvStore store = recording.store(storeFor(cluster, members, i));
        SplittableRandom random = new SplittableRandom(config.seed + i);
        int client = i;
        Thread t = new Thread(() -> loop(store, client, random, stop, operations, failures, errors),
            "testkit-client-" + i);
        clients.add(t);
        t.start();
      }
      for (Step step : schedule.steps()) {
        String outcome;
        try {
          outcome = step.apply(cluster);
        } catch (KvException e) {
          outcome = "failed: " + e;
        }
        recording.nemesis(step.name(), outcome);
        outcomes.add(step.name() + ": " + outcome);
      }
      cluster.heal();
      recording.nemesis("heal", "end of schedule");
      recording.nemesis("restart", "end of schedule: " + cluster.down());
      cluster.restartAll();
      long before = operations.get();
      try {
        cluster.awaitLeaders(config.recoveryTimeout);
        TestCluster.await(config.recoveryTimeout, config.clients + " operations to succeed after the faults ended",
            () -> operations.get() >= before + config.clients || !errors.isEmpty());
      } catch (AssertionError e) {
        problems.add("the cluster did not recover after the faults ended: " + e.getMessage());
        cause = e;
      }
    } finally {
      stop.set(true);
      for (Thread t : clients) {
        t.join(config.operationTimeout.multipliedBy(3).toMillis() + 5_000);
        if (t.isAlive()) {
          errors.add(new AssertionError(t.getName() + " did not stop"));
        }
      }
    }
    if (!errors.isEmpty()) {
      cause = errors.peek();
      problems.add("a client failed: " + cause);
    }
    if (problems.isEmpty()) {
      try {
        config.finalCheck.accept(cluster);
      } catch (AssertionError | RuntimeException e) {
        problems.add("the final check failed: " + e.getMessage());
        cause = e;
      }
    }
    Verdict verdict = recording.check();
    if (!verdict.isLinearizable()) {
      problems.add("the history is " + verdict.describe());
    }
    if (!problems.isEmpty()) {
      throw new ScheduleFailure(String.join("\n  ", problems), schedule, recording.write(), cause);
    }
    Optional<Path> kept = Recording.keepEveryHistory() ? Optional.of(recording.write()) : Optional.empty();
    return new Result(kept, verdict, operations.get(), failures.get(), outcomes);
  }

  private Supplier<KvStore> storeFor(TestCluster cluster, List<Long> members, int client) {
    Duration timeout = config.operationTimeout;
    if (config.via == Via.EMBEDDED_NODE) {
      long id = members.get(client % members.size());
      return () -> cluster.node(id).withTimeout(timeout);
    }
    long[] order = new long[members.size()];
    for (int k = 0; k < order.length; k++) {
      order[k] = members.get((client + k) % members.size());
    }
    KvStore store = cluster.client(order).withTimeout(timeout);
    return () -> store;
  }

  private void loop(RecordingKvStore store, int client, SplittableRandom random, AtomicBoolean stop,
      AtomicLong operations, AtomicLong failures, ConcurrentLinkedQueue<Throwable> errors) {
    while (!stop.get()) {
      try {
        config.operation.operate(store, client, random);
        operations.incrementAndGet();
      } catch (KvException e) {
        failures.incrementAndGet();
        pause(); // e.g. its node is down and refuses at once: do not spin
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Throwable e) {
        errors.add(e);
        return;
      }
    }
  }

  private static void pause() {
    try {
      Thread.sleep(10);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Configures a {@link ScheduleRunner}. */
  public static final class Builder {
    private final String workload;
    private Workload operation;
    private int clients = 3;
    private Via via = Via.EMBEDDED_NODE;
    private Duration operationTimeout = Duration.ofSeconds(1);
    private Duration recoveryTimeout = Duration.ofSeconds(15);
    private long seed = 1;
    private Consumer<TestCluster> finalCheck = c -> {};

    private Builder(String workload) {
      this.workload = workload;
    }

    /** What each client does in a loop (required). */
    public Builder workload(Workload w) {
      operation = w;
      return this;
    }

    /** How many client threads (default 3). */
    public Builder clients(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("clients must be positive, was " + n);
      }
      clients = n;
      return this;
    }

    /** How clients reach the cluster (default {@link Via#EMBEDDED_NODE}). */
    public Builder via(Via v) {
      via = v;
      return this;
    }

    /** The deadline of each client call (default 1 s). */
    public Builder operationTimeout(Duration d) {
      operationTimeout = d;
      return this;
    }

    /** How long the cluster may take to elect leaders and serve again after the faults (default 15 s). */
    public Builder recoveryTimeout(Duration d) {
      recoveryTimeout = d;
      return this;
    }

    /** Seeds the clients' randomness (client {@code i} gets {@code seed + i}). */
    public Builder seed(long s) {
      seed = s;
      return this;
    }

    /**
     * A check of the caller's own, run on the healed cluster after the clients stopped; an
     * {@link AssertionError} (or any runtime exception) it throws fails the run.
     */
    public Builder finalCheck(Consumer<TestCluster> check) {
      finalCheck = check;
      return this;
    }

    /** The runner. */
    public ScheduleRunner build() {
      if (operation == null) {
        throw new IllegalStateException("workload(...) is required");
      }
      return new ScheduleRunner(this);
    }
  }
}
