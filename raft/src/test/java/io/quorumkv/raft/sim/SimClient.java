package io.quorumkv.raft.sim;

import io.quorumkv.raft.RaftConfig;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.Op;
import java.util.SplittableRandom;

/**
 * A client that issues register operations one at a time and records them.
 *
 * <p>It sends each operation to the node it believes leads. A rejection means the operation
 * certainly did not happen there, so it tries the hinted leader or another node, a bounded number
 * of times, then records {@code fail}. If no answer arrives before the timeout it records
 * {@code info} and, as in Jepsen, retires its process id: a process with an operation of unknown
 * fate never invokes again, so the client continues as a new process.
 */
final class SimClient {

  private final SimCluster cluster;
  private final SplittableRandom random;
  private final HistoryRecorder history;
  private long process;
  private long target;
  private Op invocation;
  private ClientRequest request;
  private int attempts;
  private boolean running;
  private long completed;
  /** A final operation that must succeed, for the liveness check; null otherwise. */
  private Op mustSucceed;
  /** The virtual time by which the final write must have succeeded. */
  private long finalDeadline;
  private boolean finalOk;

  SimClient(SimCluster cluster, long process, SplittableRandom random, HistoryRecorder history) {
    this.cluster = cluster;
    this.process = process;
    this.random = random;
    this.history = history;
  }

  /** Starts issuing random operations. */
  void start() {
    running = true;
    scheduleNext();
  }

  /** Stops after the operation in flight, if any. */
  void stop() {
    running = false;
  }

  boolean idle() {
    return invocation == null;
  }

  long completed() {
    return completed;
  }

  boolean finalOpSucceeded() {
    return finalOk;
  }

  /**
   * Issues one put of a unique value (then nothing else); it should end {@code ok} within {@code
   * micros}, the liveness bound, which is also its deadline (not the usual operation timeout: the
   * elections after healing may take a good part of that, as a seed of the fault property showed).
   */
  void finalWrite(long micros) {
    running = false;
    finalOk = false;
    finalDeadline = cluster.now() + micros;
    issueFinalWrite();
  }

  private void issueFinalWrite() {
    mustSucceed = Op.put(process, key(), "final-" + process, 0);
    issue(mustSucceed, finalDeadline - cluster.now());
  }

  private String key() {
    return "k" + random.nextInt(cluster.config().keys());
  }

  private void scheduleNext() {
    if (!running) {
      return;
    }
    cluster.events().after(random.nextLong(cluster.config().thinkMicros() + 1), () -> {
      if (running && invocation == null) {
        issue(randomOp(), cluster.config().opTimeoutMicros());
      }
    });
  }

  private Op randomOp() {
    String key = key();
    String value = "v" + cluster.nextValue();
    int dice = random.nextInt(100);
    if (dice < 35) {
      return Op.get(process, key, 0);
    } else if (dice < 70) {
      return Op.put(process, key, value, 0);
    } else if (dice < 90) {
      // Expect a value this register may hold: a recent one, or absent.
      String expected = random.nextInt(4) == 0 ? null : cluster.recentValues().any(key, random);
      return Op.cas(process, key, expected, value, 0);
    } else {
      return Op.delete(process, key, 0);
    }
  }

  private void issue(Op template, long timeoutMicros) {
    Op op = new Op(process, template.type(), template.f(), template.key(), template.value(),
        template.expected(), 0);
    invocation = history.invoke(op);
    request = new ClientRequest(cluster.nextRequestId(), this, op.f(), op.key(), op.value(), op.expected());
    attempts = 0;
    if (target == RaftConfig.NONE || !cluster.isMember(target)) {
      target = cluster.randomMember(random);
    }
    ClientRequest mine = request;
    cluster.events().after(timeoutMicros, () -> timeout(mine));
    cluster.send(target, request);
  }

  /** A node answered; stale answers (an earlier operation's) are ignored. */
  void onReply(ClientReply reply) {
    if (request == null || reply.requestId() != request.requestId()) {
      return;
    }
    if (reply instanceof ClientReply.Done done) {
      if (invocation.f() == Op.F.GET) {
        history.read(invocation, done.read());
        cluster.recentValues().remember(invocation.key(), done.read());
      } else if (done.applied()) {
        history.ok(invocation);
        cluster.recentValues().remember(invocation.key(), invocation.value());
      } else {
        history.fail(invocation); // cas comparison failed
      }
      finish(true);
      return;
    }
    if (reply instanceof ClientReply.Unknown) {
      retireProcess();
      if (mustSucceed != null && cluster.now() < finalDeadline) {
        // Its fate is unknown, not failed: the cluster may still take a new write in time.
        completed++;
        issueFinalWrite();
      } else {
        finish(false);
      }
      return;
    }
    long hint = ((ClientReply.Rejected) reply).leaderHint();
    attempts++;
    if (attempts >= cluster.config().maxAttempts() * (mustSucceed != null ? 4 : 1)) {
      history.fail(invocation);
      finish(false);
      return;
    }
    target = hint != RaftConfig.NONE && cluster.isMember(hint) && random.nextInt(4) != 0
        ? hint : cluster.randomMember(random);
    ClientRequest mine = request;
    long backoff = cluster.config().tickMicros() * (1 + Math.min(attempts, 5));
    cluster.events().after(backoff, () -> {
      if (request == mine) {
        cluster.send(target, mine);
      }
    });
  }

  private void timeout(ClientRequest which) {
    if (request != which) {
      return;
    }
    retireProcess();
    finish(false);
  }

  /** Records the operation in flight {@code info}; its process never invokes again (Jepsen's rule). */
  private void retireProcess() {
    history.info(invocation);
    process = cluster.nextProcess();
    target = RaftConfig.NONE;
  }

  private void finish(boolean ok) {
    if (mustSucceed != null) {
      finalOk = ok;
      mustSucceed = null;
    }
    invocation = null;
    request = null;
    completed++;
    scheduleNext();
  }
}
