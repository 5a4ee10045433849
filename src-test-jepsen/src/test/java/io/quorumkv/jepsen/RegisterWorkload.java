package io.quorumkv.jepsen;

import io.quorumkv.KvClient;
import io.quorumkv.ReadConsistency;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryLine;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.Op;
import io.quorumkv.testkit.Verdict;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Linearizable registers, one per key: put, get at one {@link ReadConsistency} level, cas and
 * delete, checked with the testkit's linearizability checker. Keys are used in small windows (a
 * few keys at a time, a bounded number of operations each, then the next keys), so many threads
 * contend on each key while every key's history stays small enough to check exhaustively.
 * Values are unique, so a read names the write it saw.
 */
final class RegisterWorkload extends RegisterHistoryWorkload {

  /** Keys written at the same time. */
  static final int ACTIVE_KEYS = 3;
  /** Operations per key before the window moves on. */
  static final int OPS_PER_KEY = 40;

  private final int threads;
  private final String prefix;
  private final AtomicLong counter = new AtomicLong();
  private final AtomicLong values = new AtomicLong();
  private final Map<String, String> lastSeen = new ConcurrentHashMap<>();

  RegisterWorkload(ReadConsistency level, int threads, Context ctx) {
    super(level, ctx);
    this.threads = threads;
    this.prefix = "reg-" + level.name().toLowerCase(Locale.ROOT) + "/";
  }

  @Override
  String name() {
    return "register-" + level.name().toLowerCase(Locale.ROOT);
  }

  @Override
  int threads() {
    return threads;
  }

  ReadConsistency level() {
    return level;
  }

  /** A key of the current window, for readers that watch this workload's keys. */
  String currentKey(Random rnd) {
    long window = counter.get() / ((long) ACTIVE_KEYS * OPS_PER_KEY);
    return prefix + (window * ACTIVE_KEYS + rnd.nextInt(ACTIVE_KEYS));
  }

  History history() {
    return recorder.history();
  }

  /** The key of the next operation: it counts against the current window's budget. */
  String nextKey(Random rnd) {
    long window = counter.getAndIncrement() / ((long) ACTIVE_KEYS * OPS_PER_KEY);
    return prefix + (window * ACTIVE_KEYS + rnd.nextInt(ACTIVE_KEYS));
  }

  @Override
  void operate(Worker w) {
    String key = nextKey(w.rnd);
    int roll = w.rnd.nextInt(100);
    if (roll < 45) {
      get(w, key);
    } else if (roll < 65) {
      write(w, Op.put(w.process(), key, value(w), 0), key);
    } else if (roll < 92) {
      write(w, Op.cas(w.process(), key, lastSeen.get(key), value(w), 0), key);
    } else {
      write(w, Op.delete(w.process(), key, 0), key);
    }
  }

  private String value(Worker w) {
    return "v" + values.incrementAndGet();
  }

  private void get(Worker w, String key) {
    Op invocation = recorder.invoke(Op.get(w.process(), key, 0));
    Optional<String> read;
    try {
      read = w.client.get(key, level);
    } catch (RuntimeException e) {
      recorder.fail(invocation); // a read has no effect: failing it constrains nothing
      return;
    }
    recorder.read(invocation, read.orElse(null));
    read.ifPresentOrElse(v -> lastSeen.put(key, v), () -> lastSeen.remove(key));
  }

  private void write(Worker w, Op template, String key) {
    Op invocation = recorder.invoke(template);
    boolean applied;
    try {
      applied = switch (template.f()) {
        case PUT -> {
          w.client.put(key, template.value());
          yield true;
        }
        case CAS -> template.expected() == null
            ? w.client.putIfAbsent(key, template.value())
            : w.client.compareAndSet(key, template.expected(), template.value());
        case DELETE -> {
          w.client.delete(key);
          yield true;
        }
        case GET -> throw new IllegalArgumentException("not a write");
      };
    } catch (RuntimeException e) {
      if (outcomeUnknown(e)) {
        recorder.info(invocation);
        w.crashed();
      } else {
        recorder.fail(invocation);
      }
      return;
    }
    if (!applied) {
      recorder.fail(invocation);
      return;
    }
    recorder.ok(invocation);
    if (template.f() == Op.F.DELETE) {
      lastSeen.remove(key);
    } else {
      lastSeen.put(key, template.value());
    }
  }

  /**
   * Sends a get of {@code key} at this workload's level through {@code client} without waiting,
   * as the fresh process {@code process}, recording it in this history.
   */
  CompletableFuture<?> probe(KvClient client, String key, long process) {
    Op invocation = recorder.invoke(Op.get(process, key, 0));
    return client.getAsync(key.getBytes(StandardCharsets.UTF_8), level).whenComplete((read, e) -> {
      if (e != null) {
        recorder.fail(invocation);
      } else {
        recorder.read(invocation, read.map(v -> new String(v, StandardCharsets.UTF_8)).orElse(null));
      }
    });
  }
}
