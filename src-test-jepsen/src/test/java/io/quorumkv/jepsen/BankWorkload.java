package io.quorumkv.jepsen;

import io.quorumkv.BatchOp;
import io.quorumkv.ClusterStatus;
import io.quorumkv.HashPartitioner;
import io.quorumkv.KeyValue;
import io.quorumkv.KvClient;
import io.quorumkv.ReadConsistency;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The bank: accounts in one partition, transfers as one atomic batch each (expect both current
 * balances, write both new ones), and reads of every account with a scan, at every consistency
 * level (a scan of one partition is one snapshot of it, so every level must see the constant
 * total). Checked by {@link BankChecker}.
 */
final class BankWorkload extends LoggedWorkload {

  static final int ACCOUNTS = 6;
  static final long INITIAL = 100;
  private static final String PREFIX = "bank/";
  private static final String END = "bank0"; // '0' follows '/': the end of the prefix's range

  private final int threads;
  private List<String> accounts = List.of();

  BankWorkload(int threads, Context ctx) {
    super(ctx);
    this.threads = threads;
  }

  @Override
  String name() {
    return "bank";
  }

  @Override
  int threads() {
    return threads;
  }

  /**
   * Picks account keys that all fall in one partition (a batch may not span partitions) and
   * opens them in one batch.
   */
  @Override
  void setup(Context ctx) {
    KvClient admin = ctx.cluster().admin(ctx.cluster().memberIds().get(0));
    ClusterStatus status = admin.status();
    boolean hash = status.partitions().stream().allMatch(p -> p.keys().startsWith("hash"));
    accounts = hash ? samePartition(HashPartitioner.of(status.partitions().size())) : numbered(ACCOUNTS);
    List<BatchOp> open = new ArrayList<>();
    for (String a : accounts) {
      open.add(BatchOp.expectAbsent(a));
      open.add(BatchOp.put(a, Long.toString(INITIAL)));
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    RuntimeException last = null;
    while (System.nanoTime() < deadline) {
      try {
        if (admin.withTimeout(Duration.ofSeconds(5)).batch(open)) {
          return;
        }
        throw new IllegalStateException("bank accounts already existed: " + accounts);
      } catch (IllegalStateException | IllegalArgumentException e) {
        throw e;
      } catch (RuntimeException e) {
        last = e;
        Cluster.sleep(500);
      }
    }
    throw new IllegalStateException("could not open the bank accounts in 30 s", last);
  }

  private static List<String> samePartition(HashPartitioner partitioner) {
    List<String> out = new ArrayList<>();
    long target = partitioner.partitionOf(utf8(PREFIX + "a0"));
    for (int i = 0; out.size() < ACCOUNTS && i < 100_000; i++) {
      String a = PREFIX + "a" + i;
      if (partitioner.partitionOf(utf8(a)) == target) {
        out.add(a);
      }
    }
    return out;
  }

  private static List<String> numbered(int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(PREFIX + "a" + i);
    }
    return out;
  }

  List<String> accounts() {
    return accounts;
  }

  @Override
  void operate(Worker w) {
    if (w.rnd.nextInt(100) < 80) {
      transfer(w);
    } else {
      ReadConsistency[] levels = ReadConsistency.values();
      read(w, "read", levels[w.rnd.nextInt(levels.length)], w.client);
    }
  }

  private void transfer(Worker w) {
    String from = accounts.get(w.rnd.nextInt(accounts.size()));
    String to = accounts.get(w.rnd.nextInt(accounts.size()));
    if (from.equals(to)) {
      return;
    }
    long amount = 1 + w.rnd.nextInt(5);
    Map<String, Object> value = new LinkedHashMap<>();
    value.put("from", from);
    value.put("to", to);
    value.put("amount", amount);
    OpLog.Line invocation = log.invoke(w.process(), "transfer", value);
    long fromBalance;
    long toBalance;
    try {
      fromBalance = balance(w.client.get(from));
      toBalance = balance(w.client.get(to));
    } catch (RuntimeException e) {
      log.complete(invocation, OpLog.Type.FAIL, value); // nothing was written yet
      return;
    }
    if (fromBalance < amount) {
      log.complete(invocation, OpLog.Type.FAIL, value);
      return;
    }
    boolean applied;
    try {
      applied = w.client.batch(List.of(
          BatchOp.expect(from, Long.toString(fromBalance)),
          BatchOp.expect(to, Long.toString(toBalance)),
          BatchOp.put(from, Long.toString(fromBalance - amount)),
          BatchOp.put(to, Long.toString(toBalance + amount))));
    } catch (RuntimeException e) {
      if (outcomeUnknown(e)) {
        log.complete(invocation, OpLog.Type.INFO, value);
        w.crashed();
      } else {
        log.complete(invocation, OpLog.Type.FAIL, value);
      }
      return;
    }
    log.complete(invocation, applied ? OpLog.Type.OK : OpLog.Type.FAIL, value);
  }

  private static long balance(Optional<String> v) {
    return v.map(Long::parseLong).orElseThrow(() -> new IllegalStateException("account missing"));
  }

  /** Reads every account in one scan; returns whether it succeeded. */
  private boolean read(Worker w, String f, ReadConsistency level, KvClient client) {
    Map<String, Object> value = new LinkedHashMap<>();
    value.put("consistency", level.name());
    OpLog.Line invocation = log.invoke(w.process(), f, value);
    List<KeyValue> kvs;
    try {
      kvs = client.scan(utf8(PREFIX), utf8(END), 1000, level);
    } catch (RuntimeException e) {
      w.failed(e);
      log.complete(invocation, OpLog.Type.FAIL, value);
      return false;
    }
    Map<String, Object> balances = new LinkedHashMap<>();
    for (KeyValue kv : kvs) {
      String v = kv.valueString();
      balances.put(kv.keyString(), v.matches("-?\\d{1,18}") ? (Object) Long.parseLong(v) : v);
    }
    Map<String, Object> result = new LinkedHashMap<>(value);
    result.put("balances", balances);
    log.complete(invocation, OpLog.Type.OK, result);
    return true;
  }

  /** A final linearizable read after the faults. */
  @Override
  void finish(Context ctx) {
    finalRead(ctx, w -> read(w, "read", ReadConsistency.LINEARIZABLE, w.client));
  }

  @Override
  CheckResult check(List<OpLog.Line> lines) {
    return new BankChecker(accounts, INITIAL * accounts.size()).check(lines);
  }
}
