package io.quorumkv;

import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.Op;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * A client process of {@link KvSim}: one operation at a time, recorded in the register history.
 *
 * <p>Each write carries this client's session: its client id and a sequence number that every
 * attempt of the operation reuses, so that a retry after a timeout is a <em>blind</em> retry
 * that the state machine must deduplicate (an attempt that timed out may still apply). An attempt
 * goes to the node the client believes leads the key's partition; a rejection (certainly not
 * applied) or a timeout of {@link KvSim#ATTEMPT_TIMEOUT_MICROS} sends another attempt elsewhere;
 * only the answer to the attempt in flight completes the operation. After {@link KvSim#OP_DEADLINE_MICROS} it
 * records {@code info} and, as in Jepsen, goes on as a new process; after
 * {@link KvSim#MAX_ATTEMPTS} rejections and no timeout it records {@code fail}.
 *
 * <p>Operations: get ({@code LINEARIZABLE} or {@code LEASE}), put, delete, compare-and-set, and a
 * batch in one partition: "if {@code a} holds x, set {@code a} to y and {@code b} to z", recorded
 * as a cas on {@code a} and a put on {@code b} (by a process of its own) with the same fate. A
 * cas (or batch) applied twice answers "mismatch" the second time: recorded {@code fail} while it
 * did happen, which the checker catches once its value is read.
 */
final class KvSimClient implements KvSimRequest.Caller {

  private enum Kind { GET, LEASE_GET, PUT, CAS, DELETE, BATCH }

  private final KvSim sim;
  private final long clientId;
  private final SplittableRandom random;
  private final HistoryRecorder history;
  private final Map<Long, Long> leaderHints = new HashMap<>();
  private final Map<String, Long> partitionOfKey = new HashMap<>();
  private long process;
  private long seq;
  private boolean running;
  private long completed;
  // the operation in flight
  private long opId;
  private Kind kind;
  private String key;
  private KvSimRequest.Body body;
  private List<Op> invocations;
  private long attemptId;
  private int attempts;
  private long target;
  /** Whether an attempt of the write in flight timed out: it may have applied. */
  private boolean uncertain;
  private boolean mustSucceed;
  private boolean finalOk;

  KvSimClient(KvSim sim, long process, long clientId, SplittableRandom random, HistoryRecorder history) {
    this.sim = sim;
    this.process = process;
    this.clientId = clientId;
    this.random = random;
    this.history = history;
  }

  void start() {
    running = true;
    scheduleNext();
  }

  void stop() {
    running = false;
  }

  boolean idle() {
    return invocations == null;
  }

  long completed() {
    return completed;
  }

  boolean finalOpSucceeded() {
    return finalOk;
  }

  /** Puts {@code key} once more (then nothing else); it must end {@code ok} within {@code micros}. */
  void finalWrite(String key, long micros) {
    finalOp(Kind.PUT, key, micros);
  }

  /** Reads {@code key} (linearizably) once more; it must end {@code ok} within {@code micros}. */
  void finalRead(String key, long micros) {
    finalOp(Kind.GET, key, micros);
  }

  private void finalOp(Kind k, String key, long micros) {
    running = false;
    mustSucceed = true;
    finalOk = false;
    issue(k, key, micros);
  }

  private void scheduleNext() {
    if (!running) {
      return;
    }
    sim.events().after(random.nextLong(KvSim.THINK_MICROS + 1), () -> {
      if (running && invocations == null) {
        int dice = random.nextInt(100);
        Kind k = dice < 25 ? Kind.GET : dice < 35 ? Kind.LEASE_GET : dice < 58 ? Kind.PUT
            : dice < 78 ? Kind.CAS : dice < 86 ? Kind.DELETE : Kind.BATCH;
        issue(k, KvSim.key(random.nextInt(KvSim.KEYS)), KvSim.OP_DEADLINE_MICROS);
      }
    });
  }

  private void issue(Kind k, String key, long deadlineMicros) {
    this.kind = k;
    this.key = key;
    opId = sim.nextId();
    attempts = 0;
    uncertain = false;
    invocations = new ArrayList<>();
    byte[] keyBytes = KvSim.utf8(key);
    switch (k) {
      case GET, LEASE_GET -> {
        invocations.add(history.invoke(Op.get(process, key, 0)));
        body = new KvSimRequest.Body.Read(k == Kind.GET ? ReadConsistency.LINEARIZABLE : ReadConsistency.LEASE);
      }
      case PUT -> {
        String value = sim.nextValue();
        invocations.add(history.invoke(Op.put(process, key, value, 0)));
        body = write(new WriteOp.Put(keyBytes, KvSim.utf8(value)));
      }
      case CAS -> {
        String expected = expectation(key);
        String value = sim.nextValue();
        invocations.add(history.invoke(Op.cas(process, key, expected, value, 0)));
        body = write(new WriteOp.Cas(keyBytes, optional(expected), KvSim.utf8(value)));
      }
      case DELETE -> {
        invocations.add(history.invoke(Op.delete(process, key, 0)));
        body = write(new WriteOp.Delete(keyBytes));
      }
      case BATCH -> {
        String other = partner(key);
        String expected = expectation(key);
        String value = sim.nextValue();
        String otherValue = sim.nextValue();
        invocations.add(history.invoke(Op.cas(process, key, expected, value, 0)));
        invocations.add(history.invoke(Op.put(sim.nextProcess(), other, otherValue, 0)));
        body = write(new WriteOp.Batch(List.of(
            new BatchOp.Expect(keyBytes, optional(expected)),
            new BatchOp.Put(keyBytes, KvSim.utf8(value)),
            new BatchOp.Put(KvSim.utf8(other), KvSim.utf8(otherValue)))));
      }
    }
    long op = opId;
    sim.events().after(deadlineMicros, () -> deadline(op));
    attempt();
  }

  /**
   * What a cas expects: absent, a recent value, or most often the last value seen (so that it
   * often succeeds, and a second execution of it would fail and show).
   */
  private String expectation(String key) {
    int dice = random.nextInt(4);
    return dice == 0 ? null : dice == 1 ? sim.recentValues().any(key, random) : sim.recentValues().last(key);
  }

  private KvSimRequest.Body write(WriteOp op) {
    seq++;
    // Every earlier operation of this client is finished: the state machine may forget them.
    return new KvSimRequest.Body.Write(new Command.Write(clientId, seq, seq, op));
  }

  private static Optional<byte[]> optional(String value) {
    return value == null ? Optional.empty() : Optional.of(KvSim.utf8(value));
  }

  /** Another key the client believes is in {@code key}'s partition (it may be wrong after a split). */
  private String partner(String key) {
    long p = partitionGuess(key);
    List<String> same = new ArrayList<>();
    for (int i = 0; i < KvSim.KEYS; i++) {
      String k = KvSim.key(i);
      if (!k.equals(key) && partitionGuess(k) == p) {
        same.add(k);
      }
    }
    return same.isEmpty() ? key : same.get(random.nextInt(same.size()));
  }

  /** The partition the client routes {@code key} to: the partitioner's, corrected by the nodes' answers. */
  private long partitionGuess(String key) {
    Long learned = partitionOfKey.get(key);
    return learned != null ? learned : sim.initialPartitionOf(KvSim.utf8(key));
  }

  private void attempt() {
    attempts++;
    attemptId = sim.nextId();
    Long hint = leaderHints.get(partitionGuess(key));
    target = hint != null && random.nextInt(4) != 0 ? hint : 1 + random.nextInt(sim.nodeIds().size());
    long a = attemptId;
    sim.send(target, new KvSimRequest(opId, attemptId, this, KvSim.utf8(key), body));
    sim.events().after(KvSim.ATTEMPT_TIMEOUT_MICROS, () -> attemptTimedOut(a));
  }

  private void attemptTimedOut(long attempt) {
    if (invocations == null || attempt != attemptId) {
      return;
    }
    if (body instanceof KvSimRequest.Body.Write) {
      uncertain = true;
      sim.blindRetry();
    }
    leaderHints.remove(partitionGuess(key));
    attempt(); // a blind retry: same session sequence number
  }

  /**
   * A node answered. Only the attempt in flight counts: like an RPC client, the client stopped
   * listening to an attempt when it timed out, so a retry's answer is what it sees, and that
   * answer must be the first execution's result (exactly-once), not a second execution's.
   */
  @Override
  public void onReply(KvSimRequest.Reply reply) {
    if (invocations == null || reply.opId() != opId || reply.attemptId() != attemptId) {
      return; // an earlier operation's, or an attempt already given up on
    }
    if (reply instanceof KvSimRequest.Reply.Read read) {
      leaderHints.put(partitionGuess(key), target);
      String value = KvSim.string(read.value());
      history.read(invocations.get(0), value);
      sim.recentValues().remember(key, value);
      finish(true);
    } else if (reply instanceof KvSimRequest.Reply.Written w) {
      leaderHints.put(partitionGuess(key), target);
      boolean conditional = kind == Kind.CAS || kind == Kind.BATCH;
      for (Op invocation : invocations) {
        if (!w.result() && conditional) {
          history.fail(invocation);
        } else {
          history.ok(invocation);
          sim.recentValues().remember(invocation.key(), invocation.value());
        }
      }
      finish(true);
    } else if (reply instanceof KvSimRequest.Reply.Unknown) {
      uncertain = true; // applied, outcome unknown there: retried with the same sequence number
      leaderHints.remove(partitionGuess(key));
      retryAfterBackoff();
    } else {
      KvSimRequest.Reply.Rejected r = (KvSimRequest.Reply.Rejected) reply;
      if (r.group() != 0) {
        partitionOfKey.put(key, r.group());
        if (r.leaderHint() != 0) {
          leaderHints.put(r.group(), r.leaderHint());
        } else {
          leaderHints.remove(r.group());
        }
      }
      retryAfterBackoff();
    }
  }

  /** Another attempt after a backoff, unless this one was the last ({@link KvSim#MAX_ATTEMPTS}). */
  private void retryAfterBackoff() {
    if (!mustSucceed && attempts >= KvSim.MAX_ATTEMPTS) {
      giveUp();
      return;
    }
    long a = attemptId;
    long backoff = KvSim.TICK_MICROS * (1 + Math.min(attempts, 5));
    sim.events().after(backoff, () -> {
      if (invocations != null && attemptId == a) {
        attempt();
      }
    });
  }

  /** Only rejections so far: certainly not applied, unless an attempt timed out. */
  private void giveUp() {
    if (uncertain) {
      unknown();
    } else {
      invocations.forEach(history::fail);
      finish(false);
    }
  }

  private void deadline(long op) {
    if (invocations != null && op == opId) {
      unknown();
    }
  }

  private void unknown() {
    invocations.forEach(history::info);
    process = sim.nextProcess();
    finish(false);
  }

  private void finish(boolean ok) {
    if (mustSucceed) {
      finalOk = ok;
      mustSucceed = false;
    }
    invocations = null;
    body = null;
    completed++;
    scheduleNext();
  }
}
