package io.quorumkv;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Turns {@link KvStore} and {@link KvAdmin} calls into requests: validates arguments up front,
 * gives every write a session sequence number, and retries attempts with exponential backoff and
 * full jitter until the call's deadline. Shared by {@link KvNode} and {@link KvClient}.
 *
 * <p>Deadlines (the call's and each attempt's) are enforced by a {@link DeadlineSweep}, not by a
 * timer task per call: a call fails at most about {@link DeadlineSweep#TICK_NANOS} after its
 * deadline, and an answered call leaves nothing behind in a timer.
 */
final class KvFrontend {

  /** An attempt that has not answered by then is abandoned and retried (a lost message). */
  static final Duration MAX_ATTEMPT = Duration.ofSeconds(1);
  private static final long BACKOFF_BASE_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
  private static final long BACKOFF_CAP_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

  private final int maxKeySize;
  private final int maxValueSize;
  private final RequestExecutor executor;
  private final long clientId;
  private final SessionWindow session = new SessionWindow();
  private final DeadlineSweep<Call<?>> deadlines;

  KvFrontend(int maxKeySize, int maxValueSize, RequestExecutor executor) {
    this.maxKeySize = maxKeySize;
    this.maxValueSize = maxValueSize;
    this.executor = executor;
    this.deadlines = new DeadlineSweep<>(executor::scheduler);
    long id;
    do {
      id = new SecureRandom().nextLong();
    } while (id == 0);
    this.clientId = id;
  }

  /** This frontend's session id. */
  long clientId() {
    return clientId;
  }

  // ---- calls ----

  CompletableFuture<Void> put(byte[] key, byte[] value, Duration timeout) {
    return validated(() -> {
      checkKey(key);
      checkValue(value);
      return write(new WriteOp.Put(key.clone(), value.clone()), timeout, r -> null);
    });
  }

  CompletableFuture<Boolean> delete(byte[] key, Duration timeout) {
    return validated(() -> {
      checkKey(key);
      return write(new WriteOp.Delete(key.clone()), timeout, KvFrontend::written);
    });
  }

  CompletableFuture<Boolean> compareAndSet(byte[] key, Optional<byte[]> expected, byte[] value, Duration timeout) {
    return validated(() -> {
      checkKey(key);
      expected.ifPresent(this::checkValue);
      checkValue(value);
      return write(new WriteOp.Cas(key.clone(), expected.map(byte[]::clone), value.clone()), timeout,
          KvFrontend::written);
    });
  }

  CompletableFuture<Boolean> batch(List<BatchOp> ops, Duration timeout) {
    return validated(() -> {
      if (ops == null || ops.isEmpty()) {
        throw new IllegalArgumentException("a batch needs at least one operation");
      }
      for (BatchOp op : ops) {
        checkKey(op.key());
        if (op instanceof BatchOp.Put p) {
          checkValue(p.value());
        } else if (op instanceof BatchOp.Expect e) {
          e.value().ifPresent(this::checkValue);
        }
      }
      return write(new WriteOp.Batch(ops), timeout, KvFrontend::written);
    });
  }

  CompletableFuture<Optional<byte[]>> get(byte[] key, ReadConsistency consistency, Duration timeout) {
    return read(key, consistency, timeout, r -> ((KvResponse.Read) r).result().value());
  }

  CompletableFuture<ReadResult> read(byte[] key, ReadConsistency consistency, Duration timeout) {
    return read(key, consistency, timeout, r -> ((KvResponse.Read) r).result());
  }

  private <T> CompletableFuture<T> read(byte[] key, ReadConsistency consistency, Duration timeout,
      Function<KvResponse, T> onSuccess) {
    try {
      checkKey(key);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    return call(new KvRequest.Get(key.clone(), consistencyOrDefault(consistency)), null, timeout, Kind.READ,
        MAX_ATTEMPT, onSuccess);
  }

  CompletableFuture<List<KeyValue>> scan(byte[] from, byte[] to, int limit, ReadConsistency consistency,
      Duration timeout) {
    return validated(() -> {
      if (from == null || to == null) {
        throw new IllegalArgumentException("scan bounds must not be null (use an empty array)");
      }
      if (from.length > maxKeySize) {
        throw new KeyTooLargeException(from.length, maxKeySize);
      }
      if (to.length > maxKeySize) {
        throw new KeyTooLargeException(to.length, maxKeySize);
      }
      if (limit <= 0) {
        throw new IllegalArgumentException("scan limit must be positive, was " + limit);
      }
      KvRequest req = new KvRequest.Scan(from.clone(), to.clone(), limit, consistencyOrDefault(consistency));
      return call(req, null, timeout, Kind.READ, MAX_ATTEMPT, r -> ((KvResponse.Scanned) r).entries());
    });
  }

  ClusterStatus status(Duration timeout) {
    KvRequest req = new KvRequest.Status();
    return Await.result(call(req, null, timeout, Kind.READ, MAX_ATTEMPT, r -> ((KvResponse.StatusReport) r).status()));
  }

  long admin(AdminOp op, Duration timeout) {
    KvRequest req = new KvRequest.Admin(op);
    // One attempt may use the whole deadline: a membership change waits for a learner to catch up.
    return Await.result(call(req, null, timeout, Kind.ADMIN, timeout, r -> ((KvResponse.AdminDone) r).value()));
  }

  /**
   * The answering node's replica hash checks. The node collects reports for three quarters of the
   * deadline and then answers with what it has, so that the answer, not a timeout, reaches the
   * caller when a replica never reports. One attempt may use the whole deadline.
   */
  ReplicaHashes replicaHashes(Duration timeout) {
    KvRequest req = new KvRequest.CheckReplicas(Math.max(1, timeout.toMillis() * 3 / 4));
    return Await.result(call(req, null, timeout, Kind.READ, timeout, r -> ((KvResponse.ReplicaCheck) r).hashes()));
  }

  /** A write of this frontend's session: its sequence number is taken when the call starts. */
  private <T> CompletableFuture<T> write(WriteOp op, Duration timeout, Function<KvResponse, T> onSuccess) {
    return call(null, op, timeout, Kind.WRITE, MAX_ATTEMPT, onSuccess);
  }

  private static Boolean written(KvResponse r) {
    return ((KvResponse.Written) r).result();
  }

  // ---- validation ----

  private static <T> CompletableFuture<T> validated(java.util.function.Supplier<CompletableFuture<T>> s) {
    try {
      return s.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private static ReadConsistency consistencyOrDefault(ReadConsistency c) {
    return c == null ? ReadConsistency.LINEARIZABLE : c;
  }

  private void checkKey(byte[] key) {
    if (key == null || key.length == 0) {
      throw new IllegalArgumentException("a key must be a non-empty byte array");
    }
    if (key.length > maxKeySize) {
      throw new KeyTooLargeException(key.length, maxKeySize);
    }
  }

  private void checkValue(byte[] value) {
    if (value == null) {
      throw new IllegalArgumentException("a value must not be null");
    }
    if (value.length > maxValueSize) {
      throw new ValueTooLargeException(value.length, maxValueSize);
    }
  }

  // ---- the retry loop ----

  /** What a call does, which decides what its failure can say about its effect. */
  private enum Kind {
    /** No effect: a read, a scan, a status. */
    READ("read"),
    /** A write: may take effect even if no answer arrives. */
    WRITE("write"),
    /** An administrative change: may take effect even if no answer arrives. */
    ADMIN("administrative call");

    final String label;

    Kind(String label) {
      this.label = label;
    }
  }

  /**
   * Starts a call: {@code request} for every attempt, or, for a write of the session, {@code op}
   * under a new sequence number (the request is rebuilt per attempt with the current
   * {@code ackedBelow}).
   */
  private <T> CompletableFuture<T> call(KvRequest request, WriteOp op, Duration timeout, Kind kind,
      Duration maxAttempt, Function<KvResponse, T> onSuccess) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      return CompletableFuture.failedFuture(new IllegalArgumentException("timeout must be positive"));
    }
    Call<T> call = new Call<>(request, op, System.nanoTime() + timeout.toNanos(), kind, maxAttempt, onSuccess);
    try {
      // The deadline is enforced by the sweep, whatever the executor does.
      deadlines.add(call);
    } catch (RejectedExecutionException e) {
      call.fail(new NodeClosedException("closed while the call was pending", false));
      return call.result;
    }
    call.next();
    return call.result;
  }

  /** Fails every pending call: the node or client is closing. */
  void closeAll(String why) {
    for (Call<?> c : deadlines.pending()) {
      c.fail(new NodeClosedException(why, c.isWrite && c.attempts > 0));
    }
  }

  /** Calls not completed yet (tests). */
  int pendingCalls() {
    return deadlines.pending().size();
  }

  /** One call's attempts. */
  private final class Call<T> implements DeadlineSweep.Swept {
    /** The request of every attempt, or null for a write of the session. */
    final KvRequest request;
    /** A session write's operation and sequence number (0 for other calls). */
    final WriteOp op;
    final long seq;
    final long deadline;
    final Kind kind;
    /** Whether the call has effects: a write or an administrative change. */
    final boolean isWrite;
    final Function<KvResponse, T> onSuccess;
    final long maxAttemptNanos;
    final CompletableFuture<T> result = new CompletableFuture<>();
    int attempts;
    volatile KvResponse.Failure last;
    volatile boolean mayHaveApplied;
    /**
     * The current attempt, when it started and when it is abandoned, for the sweep. Written by
     * {@link #next} in this order (the future last), read by the sweep in the reverse: a sweep that
     * sees an attempt sees its deadline or a later attempt's (never earlier: attempts' deadlines
     * only grow), so an attempt is never abandoned early.
     */
    private volatile long attemptStarted;
    private volatile long attemptDeadline;
    private volatile CompletableFuture<KvResponse> attempt;

    Call(KvRequest request, WriteOp op, long deadline, Kind kind, Duration maxAttempt,
        Function<KvResponse, T> onSuccess) {
      this.request = request;
      this.op = op;
      this.seq = op == null ? 0 : session.begin();
      this.deadline = deadline;
      this.kind = kind;
      this.isWrite = kind != Kind.READ;
      this.maxAttemptNanos = maxAttempt.toNanos();
      this.onSuccess = onSuccess;
    }

    /** The request of the next attempt: a session write carries the lowest sequence number in flight. */
    KvRequest requestFor() {
      return op == null ? request : new KvRequest.Write(clientId, seq, session.lowest(), op);
    }

    synchronized void next() {
      if (result.isDone()) {
        return;
      }
      long now = System.nanoTime();
      if (now - deadline >= 0) {
        expire();
        return;
      }
      attempts++;
      long attemptDeadlineNanos = Math.min(deadline, now + maxAttemptNanos);
      KvRequest req = requestFor();
      CompletableFuture<KvResponse> f;
      try {
        f = executor.attempt(req, attemptDeadlineNanos, last);
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      attemptStarted = now;
      attemptDeadline = attemptDeadlineNanos;
      attempt = f;
      f.whenComplete(this::onAttempt);
    }

    @Override
    public boolean isDone() {
      if (!result.isDone()) {
        return false;
      }
      finished(); // idempotent: a call its caller completed (cancelled) releases its number here
      return true;
    }

    @Override
    public long dueNanos() {
      CompletableFuture<KvResponse> a = attempt;
      if (a != null && !a.isDone()) {
        long abandonAt = attemptDeadline;
        return abandonAt - deadline < 0 ? abandonAt : deadline;
      }
      return deadline;
    }

    @Override
    public void onDue(long now) {
      if (result.isDone()) {
        return;
      }
      if (now - deadline >= 0) {
        expire();
        return;
      }
      CompletableFuture<KvResponse> a = attempt;
      if (a != null && !a.isDone()) {
        long abandonAt = attemptDeadline;
        if (now - abandonAt >= 0) {
          // Completing the attempt runs onAttempt, which retries it (a lost message).
          a.complete(KvResponse.Failure.of(KvResponse.Code.TIMEOUT,
              "no answer within " + Duration.ofNanos(abandonAt - attemptStarted).toMillis() + " ms"));
        }
      }
    }

    /** Runs {@code r} after a delay, or fails the call if the timer is gone (closed). */
    void schedule(Runnable r, long delayNanos) {
      try {
        executor.scheduler().schedule(r, delayNanos, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        fail(new NodeClosedException("closed while the call was pending", isWrite && attempts > 0));
      }
    }

    void onAttempt(KvResponse r, Throwable e) {
      if (result.isDone()) {
        return;
      }
      if (e != null) {
        RuntimeException ex = Await.unwrap(e);
        if (ex instanceof KvException kv && !(kv instanceof KvTimeoutException)) {
          fail(ex);
          return;
        }
        // A transport failure: the request may have been delivered.
        retry(new KvResponse.Failure(KvResponse.Code.TIMEOUT, String.valueOf(ex.getMessage()), 0, 0, "", true));
        return;
      }
      if (r instanceof KvResponse.Failure failure) {
        boolean notLeaderSurfaced = failure.code() == KvResponse.Code.NOT_LEADER && !executor.followsLeaderHints();
        if (failure.retryable() && !notLeaderSurfaced) {
          retry(failure);
        } else {
          if (failure.outcomeUnknown()) {
            mayHaveApplied = true;
          }
          fail(toException(failure));
        }
        return;
      }
      T value;
      try {
        value = onSuccess.apply(r);
      } catch (ClassCastException cce) {
        fail(new IllegalStateException("unexpected answer " + r, cce));
        return;
      }
      finished();
      result.complete(value);
    }

    void retry(KvResponse.Failure failure) {
      last = failure;
      if (isWrite && (failure.outcomeUnknown() || failure.code() == KvResponse.Code.TIMEOUT)) {
        mayHaveApplied = true;
      }
      long ceiling = Math.min(BACKOFF_CAP_NANOS, BACKOFF_BASE_NANOS << Math.min(attempts, 10));
      long delay = ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1);
      long remaining = deadline - System.nanoTime();
      if (remaining <= 0) {
        expire();
        return;
      }
      schedule(this::next, Math.min(delay, remaining));
    }

    void fail(Throwable t) {
      finished();
      result.completeExceptionally(outcomeOfAllAttempts(t));
    }

    /**
     * The call's failure as its caller must see it: a write (or administrative call) that an
     * earlier attempt may have applied (its leader proposed it, then lost leadership or closed; its
     * answer was lost) stays unknown even when the last attempt certainly did nothing (its node is
     * closed now, or is not the leader), or was refused as invalid (a removal of a node that an
     * earlier attempt removed, a split at a key an earlier attempt split at): such a refusal
     * becomes a {@link ClusterUnavailableException} with {@code outcomeUnknown()} true, with the
     * refusal as its cause.
     */
    private Throwable outcomeOfAllAttempts(Throwable t) {
      if (!isWrite || !mayHaveApplied || t instanceof KvException k && k.outcomeUnknown()) {
        return t;
      }
      String why = t.getMessage() + "; an earlier attempt may have applied the " + kind.label;
      return t instanceof NodeClosedException ? new NodeClosedException(why, true)
          : new ClusterUnavailableException(why, true, t);
    }

    /**
     * The call is completing (or was given up): its sequence number is released before its caller
     * hears of it, so that a write the caller issues next already acknowledges it. (The sweep
     * forgets the call when it next finds it done.)
     */
    private void finished() {
      if (seq != 0) {
        session.end(seq);
      }
    }

    void expire() {
      if (result.isDone()) {
        finished();
        return;
      }
      KvResponse.Failure f = last;
      String what = kind.label + " not answered within its deadline after " + attempts + " attempt(s) to "
          + executor.targets() + (f == null ? "" : "; last error: " + f.code() + " " + f.message());
      // An attempt still in flight may have reached a leader that proposed it, whatever earlier
      // attempts were told: a write's outcome is then unknown.
      CompletableFuture<KvResponse> current = attempt;
      boolean inFlight = current != null && !current.isDone();
      if (kind == Kind.READ) {
        // Nothing is unknown about a read, which has no effect: the cluster did not serve it in time.
        fail(new ClusterUnavailableException(what, false, null));
      } else if (f != null && !mayHaveApplied && !inFlight && (f.code() == KvResponse.Code.NO_LEADER
          || f.code() == KvResponse.Code.NOT_LEADER || f.code() == KvResponse.Code.CLOSED)) {
        fail(new ClusterUnavailableException(what, false, null));
      } else if (isWrite && !mayHaveApplied && attempts == 0) {
        fail(new ClusterUnavailableException(what, false, null));
      } else {
        fail(new KvTimeoutException(what, null));
      }
    }

    RuntimeException toException(KvResponse.Failure f) {
      KvRequest req = requestFor();
      return switch (f.code()) {
        case NOT_LEADER -> new NotLeaderException(f.partitionId(), f.hint(),
            f.hintAddress().isEmpty() ? null : f.hintAddress());
        case SESSION_EXPIRED -> new KvTimeoutException("the session expired before the retried write; " + f.message(), null);
        case INVALID_ARGUMENT -> new IllegalArgumentException(f.message());
        case KEY_TOO_LARGE -> new KeyTooLargeException(largestKey(req), (int) f.hint());
        case VALUE_TOO_LARGE -> new ValueTooLargeException(largestValue(req), (int) f.hint());
        case NO_LEADER, WRONG_PARTITION, TIMEOUT, CLOSED ->
            new ClusterUnavailableException(f.message(), mayHaveApplied, null);
        case INTERNAL -> new IllegalStateException("node failure: " + f.message());
      };
    }
  }

  private static int largestKey(KvRequest req) {
    if (req instanceof KvRequest.Write w) {
      return w.op().keys().stream().mapToInt(k -> k.length).max().orElse(0);
    }
    if (req instanceof KvRequest.Get g) {
      return g.key().length;
    }
    return 0;
  }

  private static int largestValue(KvRequest req) {
    if (req instanceof KvRequest.Write w) {
      WriteOp op = w.op();
      if (op instanceof WriteOp.Put p) {
        return p.value().length;
      }
      if (op instanceof WriteOp.Cas c) {
        return c.value().length;
      }
      if (op instanceof WriteOp.Batch b) {
        return b.ops().stream().mapToInt(o -> o instanceof BatchOp.Put p ? p.value().length : 0).max().orElse(0);
      }
    }
    return 0;
  }
}
