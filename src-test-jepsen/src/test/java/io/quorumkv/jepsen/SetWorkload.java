package io.quorumkv.jepsen;

import io.quorumkv.KeyValue;
import io.quorumkv.KvClient;
import io.quorumkv.ReadConsistency;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A grow-only set: each {@code add} puts one new key {@code set/<element>}; the first thread also
 * reads the whole set with a linearizable scan about twice a second; after the faults are healed a
 * {@code final-read} must contain every acknowledged add. Checked by {@link SetChecker}.
 */
final class SetWorkload extends LoggedWorkload {

  private static final String PREFIX = "set/";
  private static final String END = "set0";
  private static final long READ_EVERY_NANOS = 500_000_000L;

  private final int threads;
  private final AtomicLong elements = new AtomicLong();
  private volatile long lastRead;

  SetWorkload(int threads, Context ctx) {
    super(ctx);
    this.threads = threads;
  }

  @Override
  String name() {
    return "set";
  }

  @Override
  int threads() {
    return threads;
  }

  @Override
  void operate(Worker w) {
    long now = System.nanoTime();
    if (w.lane % threads == 0 && now - lastRead > READ_EVERY_NANOS) {
      lastRead = now;
      read(w, "read", w.client);
      return;
    }
    String element = "e" + elements.incrementAndGet();
    OpLog.Line invocation = log.invoke(w.process(), "add", element);
    try {
      w.client.put(PREFIX + element, "1");
    } catch (RuntimeException e) {
      if (outcomeUnknown(e)) {
        log.complete(invocation, OpLog.Type.INFO, element);
        w.crashed();
      } else {
        log.complete(invocation, OpLog.Type.FAIL, element);
      }
      return;
    }
    log.complete(invocation, OpLog.Type.OK, element);
  }

  private boolean read(Worker w, String f, KvClient client) {
    OpLog.Line invocation = log.invoke(w.process(), f, null);
    List<KeyValue> kvs;
    try {
      kvs = client.scan(utf8(PREFIX), utf8(END), 10_000_000, ReadConsistency.LINEARIZABLE);
    } catch (RuntimeException e) {
      w.failed(e);
      log.complete(invocation, OpLog.Type.FAIL, null);
      return false;
    }
    List<String> seen = new ArrayList<>(kvs.size());
    for (KeyValue kv : kvs) {
      seen.add(kv.keyString().substring(PREFIX.length()));
    }
    log.complete(invocation, OpLog.Type.OK, seen);
    return true;
  }

  /** The final read, after the faults. */
  @Override
  void finish(Context ctx) {
    finalRead(ctx, w -> read(w, "final-read", w.client));
  }

  @Override
  CheckResult check(List<OpLog.Line> lines) {
    return new SetChecker().check(lines);
  }
}
