package io.quorumkv.jepsen;

import io.quorumkv.KvClient;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Aims reads at a node while it is SIGSTOPped and just after its SIGCONT: a paused leader wakes
 * up still believing it leads (and, by its tick count, that its lease is valid), while the rest
 * of the cluster has elected a new leader and acknowledged writes. Reads sent to it during the
 * pause sit in its socket and are the first thing it serves when it wakes; each one invoked after
 * a write was acknowledged elsewhere must see that write. The reads go into the register
 * workloads' own histories (at their level: LINEARIZABLE, FOLLOWER, LEASE), so the
 * linearizability checker judges them; this workload has no history of its own.
 */
final class PausedNodeProbe extends Workload {

  /** Keep aiming at a node for this long after its SIGCONT. */
  private static final long AFTER_RESUME_NANOS = Duration.ofMillis(1500).toNanos();
  /** Long enough to outlast a pause: the read must still be wanted when the node wakes. */
  private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(10);
  /**
   * Probe reads outstanding per register history. Each one overlaps the whole pause, and every
   * set of concurrent reads is a state the checker may explore: a few are enough to catch a
   * stale answer, many would exhaust the checker's budget.
   */
  private static final int MAX_OUTSTANDING = 3;

  private final List<RegisterWorkload> registers;
  private final Cluster cluster;
  private final Map<Long, KvClient> clients = new HashMap<>();
  private final Map<RegisterWorkload, AtomicInteger> outstanding = new HashMap<>();
  private final AtomicInteger sent = new AtomicInteger();

  PausedNodeProbe(List<RegisterWorkload> registers, Context ctx) {
    this.registers = List.copyOf(registers);
    this.cluster = ctx.cluster();
    for (RegisterWorkload r : registers) {
      outstanding.put(r, new AtomicInteger());
    }
  }

  @Override
  String name() {
    return "paused-probe";
  }

  @Override
  int threads() {
    return 1;
  }

  @Override
  void operate(Worker w) {
    Cluster.sleep(200);
    for (long id : cluster.memberIds()) {
      if (!cluster.node(id).pausedWithin(AFTER_RESUME_NANOS)) {
        continue;
      }
      KvClient client = clients.computeIfAbsent(id,
          n -> cluster.client(PROBE_TIMEOUT, List.of(cluster.node(n).address())));
      for (RegisterWorkload r : registers) {
        AtomicInteger pending = outstanding.get(r);
        if (pending.get() >= MAX_OUTSTANDING) {
          continue;
        }
        pending.incrementAndGet();
        sent.incrementAndGet();
        w.newProcess(); // every probe is its own process: several are outstanding at once
        CompletableFuture<?> f = r.probe(client, r.nextKey(w.rnd), w.process());
        f.whenComplete((v, e) -> pending.decrementAndGet());
      }
    }
  }

  /** How many probe reads were sent, for the run's parameters. */
  int sent() {
    return sent.get();
  }

  @Override
  void nemesis(String f, String value) {}

  @Override
  List<String> write(Path dir, String stamp) throws IOException {
    return List.of();
  }

  @Override
  List<CheckResult> check() {
    return List.of();
  }

  @Override
  List<Report.Operation> operations(Context ctx) {
    return List.of();
  }
}
