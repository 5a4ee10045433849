package io.quorumkv.testing;

import io.quorumkv.KvException;
import io.quorumkv.KvStore;
import io.quorumkv.KvTimeoutException;
import io.quorumkv.ReadConsistency;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.Op;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The register calls of a {@link KvStore} (String form), each recorded in a {@link Recording}'s
 * history as an invocation and its completion:
 *
 * <ul>
 *   <li>a normal return is {@code ok} (for {@code compareAndSet}/{@code putIfAbsent}: {@code true});
 *       a {@code false} compare-and-set is {@code fail} (the compare did not match);</li>
 *   <li>a {@link KvException} whose {@link KvException#outcomeUnknown()} is true (every
 *       {@link KvTimeoutException}, an unavailable cluster after an attempt reached a leader, a
 *       node closed after proposing) is {@code info}: it may or may not have happened. As in
 *       Jepsen, this store then continues as a new process;</li>
 *   <li>any other {@link KvException}, and {@link IllegalArgumentException} (rejected up front),
 *       is {@code fail}: it certainly did not happen;</li>
 *   <li>any other exception is {@code info}.</li>
 * </ul>
 *
 * <p>Every exception is rethrown after it is recorded, so the code under test sees exactly what
 * it would see from the store. Every read is recorded as a register read whatever its
 * {@link ReadConsistency}: a {@code STALE} read that returned an old value makes the history
 * non-linearizable, which is the point when the code under test relies on it. One instance is one
 * client process: use one per thread (a second concurrent call fails with
 * {@link IllegalStateException}).
 *
 * <p>It is not itself a {@link KvStore}: {@code KvStore} is sealed in this version. Code under
 * test reaches it through the few calls it makes (see docs/testing.md).
 */
public final class RecordingKvStore {

  private final Recording recording;
  private final Supplier<? extends KvStore> store;
  private final AtomicBoolean busy = new AtomicBoolean();
  private volatile long process;

  RecordingKvStore(Recording recording, Supplier<? extends KvStore> store) {
    this.recording = recording;
    this.store = store;
    this.process = recording.newProcess();
  }

  /** The process id the next call is recorded under (it changes after an {@code info}). */
  public long process() {
    return process;
  }

  /** The store calls go to (the supplier's current answer), for calls that should not be recorded. */
  public KvStore unrecorded() {
    return store.get();
  }

  /** {@link KvStore#put(String, String)}, recorded. */
  public void put(String key, String value) {
    record(p -> Op.put(p, key, value, 0), s -> {
      s.put(key, value);
      return null;
    }, (h, inv) -> h.ok(inv));
  }

  /** {@link KvStore#get(String)} (linearizable), recorded. */
  public Optional<String> get(String key) {
    return get(key, ReadConsistency.LINEARIZABLE);
  }

  /** {@link KvStore#get(String, ReadConsistency)}, recorded as a register read at any level. */
  public Optional<String> get(String key, ReadConsistency consistency) {
    return record(p -> Op.get(p, key, 0), s -> s.get(key, consistency), null);
  }

  /** {@link KvStore#compareAndSet(String, String, String)}, recorded; {@code false} is a {@code fail}. */
  public boolean compareAndSet(String key, String expected, String newValue) {
    return record(p -> Op.cas(p, key, expected, newValue, 0), s -> s.compareAndSet(key, expected, newValue), null);
  }

  /** {@link KvStore#putIfAbsent(String, String)}, recorded as a cas from absent; {@code false} is a {@code fail}. */
  public boolean putIfAbsent(String key, String value) {
    return record(p -> Op.cas(p, key, null, value, 0), s -> s.putIfAbsent(key, value), null);
  }

  /** {@link KvStore#delete(String)}, recorded ({@code ok} whether or not the key was present). */
  public boolean delete(String key) {
    return record(p -> Op.delete(p, key, 0), s -> s.delete(key), (h, inv) -> h.ok(inv));
  }

  /**
   * Records one call. {@code complete} records a normal return; when null, a get records the
   * value read and a cas records ok or fail by its boolean result.
   */
  private <T> T record(java.util.function.LongFunction<Op> invocation, Function<KvStore, T> call,
      BiConsumer<HistoryRecorder, Op> complete) {
    if (!busy.compareAndSet(false, true)) {
      throw new IllegalStateException("a RecordingKvStore is one client process: use one per thread");
    }
    try {
      KvStore target = store.get();
      HistoryRecorder h = recording.recorder();
      Op inv = h.invoke(invocation.apply(process));
      T result;
      try {
        result = call.apply(target);
      } catch (KvException e) {
        if (e.outcomeUnknown()) {
          unknown(h, inv);
        } else {
          h.fail(inv);
        }
        throw e;
      } catch (IllegalArgumentException e) {
        h.fail(inv);
        throw e;
      } catch (RuntimeException | Error e) {
        unknown(h, inv);
        throw e;
      }
      if (complete != null) {
        complete.accept(h, inv);
      } else if (result instanceof Optional<?> read) {
        h.read(inv, (String) read.orElse(null));
      } else if (Boolean.TRUE.equals(result)) {
        h.ok(inv);
      } else {
        h.fail(inv);
      }
      return result;
    } finally {
      busy.set(false);
    }
  }

  private void unknown(HistoryRecorder h, Op inv) {
    h.info(inv);
    process = recording.newProcess(); // a process with an unknown outcome never invokes again
  }

  @Override
  public String toString() {
    return "RecordingKvStore[" + recording.workload() + " p" + process + "]";
  }
}
