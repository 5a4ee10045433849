package io.quorumkv.jepsen;

import io.quorumkv.ReadConsistency;
import io.quorumkv.ReadResult;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link ReadConsistency#STALE} reads of the keys a register workload is writing, each sent to
 * one chosen node so every replica is exercised; checked by {@link StaleReadChecker} against the
 * register's writes.
 */
final class StaleReadWorkload extends LoggedWorkload {

  private final RegisterWorkload register;
  private final Cluster cluster;

  StaleReadWorkload(RegisterWorkload register, Context ctx) {
    super(ctx);
    this.register = register;
    this.cluster = ctx.cluster();
  }

  @Override
  String name() {
    return "stale";
  }

  @Override
  int threads() {
    return 1;
  }

  /** Stale reads need no round trip; unpaced, one thread would flood the history and the CPUs. */
  private static final long PACE_MILLIS = 5;

  @Override
  void operate(Worker w) {
    Cluster.sleep(PACE_MILLIS);
    List<Long> members = cluster.memberIds();
    long node = members.get(w.rnd.nextInt(members.size()));
    String key = register.currentKey(w.rnd);
    Map<String, Object> request = new LinkedHashMap<>();
    request.put("key", key);
    request.put("node", node);
    OpLog.Line invocation = log.invoke(w.process(), "stale-get", request);
    int before = cluster.node(node).incarnation();
    ReadResult r;
    try {
      r = cluster.admin(node).read(key.getBytes(StandardCharsets.UTF_8), ReadConsistency.STALE);
    } catch (RuntimeException e) {
      log.complete(invocation, OpLog.Type.FAIL, request);
      return;
    }
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("key", key);
    result.put("value", r.value().map(v -> new String(v, StandardCharsets.UTF_8)).orElse(null));
    result.put("node", r.servedBy());
    result.put("partition", r.partitionId());
    result.put("applied", r.appliedIndex());
    result.put("sinceLeaderMs", r.sinceLeaderContact().toMillis());
    // The node's run that served it: a restart in between leaves it unknown (null). A replica may
    // come back from a crash at a lower applied index (its state writes are not synced).
    result.put("incarnation", cluster.node(node).incarnation() == before && r.servedBy() == node ? before : null);
    log.complete(invocation, OpLog.Type.OK, result);
  }

  @Override
  CheckResult check(List<OpLog.Line> lines) {
    return new StaleReadChecker().check(lines, register.history());
  }
}
