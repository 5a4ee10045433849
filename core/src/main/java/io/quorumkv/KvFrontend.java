package io.quorumkv;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongFunction;

/**
 * Turns {@link KvStore} and {@link KvAdmin} calls into requests: validates arguments up front,
 * gives every write a session sequence number, and retries attempts with exponential backoff and
 * full jitter until the call's deadline. Shared by {@link KvNode} and {@link KvClient}.
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
  private final AtomicLong nextSeq = new AtomicLong(1);
  private final ConcurrentSkipListSet<Long> outstanding = new ConcurrentSkipListSet<>();
  private final java.util.Set<Call<?>> active = java.util.concurrent.ConcurrentHashMap.newKeySet();

  KvFrontend(int maxKeySize, int maxValueSize, RequestExecutor executor) {
    this.maxKeySize = maxKeySize;
    this.maxValueSize = maxValueSize;
    this.executor = executor;
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
      return write(new WriteOp.Put(key.clone(), value.clone()), timeout).thenApply(b -> null);
    });
  }

  CompletableFuture<Boolean> delete(byte[] key, Duration timeout) {
    return validated(() -> {
      checkKey(key);
      return write(new WriteOp.Delete(key.clone()), timeout);
    });
  }

  CompletableFuture<Boolean> compareAndSet(byte[] key, Optional<byte[]> expected, byte[] value, Duration timeout) {
    return validated(() -> {
      checkKey(key);
      expected.ifPresent(this::checkValue);
      checkValue(value);
      return write(new WriteOp.Cas(key.clone(), expected.map(byte[]::clone), value.clone()), timeout);
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
      return write(new WriteOp.Batch(ops), timeout);
    });
  }

  CompletableFuture<Optional<byte[]>> get(byte[] key, ReadConsistency consistency, Duration timeout) {
    return read(key, consistency, timeout).thenApply(ReadResult::value);
  }

  CompletableFuture<ReadResult> read(byte[] key, ReadConsistency consistency, Duration timeout) {
    return validated(() -> {
      checkKey(key);
      KvRequest req = new KvRequest.Get(key.clone(), consistencyOrDefault(consistency));
      return call(attempt -> req, timeout, Kind.READ, r -> ((KvResponse.Read) r).result());
    });
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
      return call(attempt -> req, timeout, Kind.READ, r -> ((KvResponse.Scanned) r).entries());
    });
  }

  ClusterStatus status(Duration timeout) {
    KvRequest req = new KvRequest.Status();
    return Await.result(call(attempt -> req, timeout, Kind.READ, r -> ((KvResponse.StatusReport) r).status()));
  }

  long admin(AdminOp op, Duration timeout) {
    KvRequest req = new KvRequest.Admin(op);
    // One attempt may use the whole deadline: a membership change waits for a learner to catch up.
    return Await.result(call(attempt -> req, timeout, Kind.ADMIN, timeout, r -> ((KvResponse.AdminDone) r).value()));
  }

  private CompletableFuture<Boolean> write(WriteOp op, Duration timeout) {
    long seq = nextSeq.getAndIncrement();
    outstanding.add(seq);
    LongFunction<KvRequest> request = attempt -> {
      Long lowest = outstanding.isEmpty() ? null : outstanding.first();
      long ackedBelow = lowest == null ? seq : Math.min(lowest, seq);
      return new KvRequest.Write(clientId, seq, ackedBelow, op);
    };
    CompletableFuture<Boolean> f = call(request, timeout, Kind.WRITE, r -> ((KvResponse.Written) r).result());
    f.whenComplete((r, e) -> outstanding.remove(seq));
    return f;
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

  private <T> CompletableFuture<T> call(LongFunction<KvRequest> request, Duration timeout, Kind kind,
      Function<KvResponse, T> onSuccess) {
    return call(request, timeout, kind, MAX_ATTEMPT, onSuccess);
  }

  private <T> CompletableFuture<T> call(LongFunction<KvRequest> request, Duration timeout, Kind kind,
      Duration maxAttempt, Function<KvResponse, T> onSuccess) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      return CompletableFuture.failedFuture(new IllegalArgumentException("timeout must be positive"));
    }
    Call<T> call = new Call<>(request, System.nanoTime() + timeout.toNanos(), kind, maxAttempt, onSuccess);
    active.add(call);
    call.result.whenComplete((r, e) -> active.remove(call));
    // The deadline is enforced here, whatever the executor does.
    call.schedule(call::expire, timeout.toNanos());
    call.next();
    return call.result;
  }

  /** Fails every pending call: the node or client is closing. */
  void closeAll(String why) {
    for (Call<?> c : active) {
      c.fail(new NodeClosedException(why, c.isWrite && c.attempts > 0));
    }
  }

  /** One call's attempts. */
  private final class Call<T> {
    final LongFunction<KvRequest> request;
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

    Call(LongFunction<KvRequest> request, long deadline, Kind kind, Duration maxAttempt,
        Function<KvResponse, T> onSuccess) {
      this.request = request;
      this.deadline = deadline;
      this.kind = kind;
      this.isWrite = kind != Kind.READ;
      this.maxAttemptNanos = maxAttempt.toNanos();
      this.onSuccess = onSuccess;
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
      long attemptDeadline = Math.min(deadline, now + maxAttemptNanos);
      KvRequest req = request.apply(attempts);
      CompletableFuture<KvResponse> f;
      try {
        f = executor.attempt(req, attemptDeadline, last);
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      CompletableFuture<KvResponse> attempt = f;
      int n = attempts;
      schedule(() -> attempt.complete(KvResponse.Failure.of(KvResponse.Code.TIMEOUT,
              "no answer within " + Duration.ofNanos(attemptDeadline - now).toMillis() + " ms")),
          attemptDeadline - now);
      attempt.whenComplete((r, e) -> onAttempt(n, r, e));
    }

    /** Runs {@code r} after a delay, or fails the call if the timer is gone (closed). */
    void schedule(Runnable r, long delayNanos) {
      try {
        executor.scheduler().schedule(r, delayNanos, TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        fail(new NodeClosedException("closed while the call was pending", isWrite && attempts > 0));
      }
    }

    void onAttempt(int n, KvResponse r, Throwable e) {
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
      try {
        result.complete(onSuccess.apply(r));
      } catch (ClassCastException cce) {
        fail(new IllegalStateException("unexpected answer " + r, cce));
      }
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
      result.completeExceptionally(t);
    }

    void expire() {
      if (result.isDone()) {
        return;
      }
      KvResponse.Failure f = last;
      String what = kind.label + " not answered within its deadline after " + attempts + " attempt(s) to "
          + executor.targets() + (f == null ? "" : "; last error: " + f.code() + " " + f.message());
      if (kind == Kind.READ) {
        // Nothing is unknown about a read, which has no effect: the cluster did not serve it in time.
        fail(new ClusterUnavailableException(what, false, null));
      } else if (f != null && !mayHaveApplied && (f.code() == KvResponse.Code.NO_LEADER
          || f.code() == KvResponse.Code.NOT_LEADER || f.code() == KvResponse.Code.CLOSED)) {
        fail(new ClusterUnavailableException(what, false, null));
      } else if (isWrite && !mayHaveApplied && attempts == 0) {
        fail(new ClusterUnavailableException(what, false, null));
      } else {
        fail(new KvTimeoutException(what, null));
      }
    }

    RuntimeException toException(KvResponse.Failure f) {
      KvRequest req = request.apply(Math.max(attempts, 1));
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
