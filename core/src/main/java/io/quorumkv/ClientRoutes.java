package io.quorumkv;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * A {@link KvClient}'s route table: which partition holds a key and the address of its leader (and
 * the members' addresses, where the client goes when its configured nodes are gone), so
 * that a request goes straight to the leader instead of through a node that forwards it.
 *
 * <p>The table is a hint, never needed for correctness: a node that receives a request for a
 * partition it does not lead still forwards it (or answers with a leader hint, which the client
 * follows on its next attempt), so a stale table costs a hop, not an error. It is refreshed from a
 * node's {@link KvRequest.Routes} answer every {@link #REFRESH_INTERVAL_NANOS} (leadership moves
 * that forwarding hides from the client), and sooner after an attempt failed, with a backoff that
 * doubles while refreshes fail. At most one refresh is in flight, and it has a deadline. An address
 * whose last attempt failed at the transport level is avoided for {@link #SUSPECT_NANOS}.
 *
 * <p>Thread-safe: the table is an immutable record behind a volatile field.
 */
final class ClientRoutes {

  static final long REFRESH_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
  static final long MIN_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
  static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(2);
  static final long SUSPECT_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** The last route table answer: its routes and the members' addresses the answering node knew. */
  private volatile KvResponse.RouteTable table = new KvResponse.RouteTable(List.of(), Map.of());
  private final AtomicBoolean refreshing = new AtomicBoolean();
  private final Map<String, Long> suspects = new ConcurrentHashMap<>();
  /** When the next periodic refresh is due, and the earliest one after a failure. */
  private volatile long dueNanos = System.nanoTime();
  private volatile long earliestNanos = System.nanoTime();
  private volatile boolean stale;
  private long backoffNanos = MIN_BACKOFF_NANOS;

  /**
   * The address of the leader of the partition {@code request} goes to, or null when the table
   * does not know it (not a single-partition request, no route, no leader, or a suspect address).
   */
  String leaderFor(KvRequest request) {
    byte[] key;
    if (request instanceof KvRequest.Get g) {
      if (g.consistency() == ReadConsistency.FOLLOWER || g.consistency() == ReadConsistency.STALE) {
        return null; // served where the client sent it: the point of these levels is not to load the leader
      }
      key = g.key();
    } else if (request instanceof KvRequest.Write w) {
      key = w.op().keys().get(0); // a batch stays within one partition
    } else {
      return null;
    }
    KvResponse.Route best = null;
    int hashedFor = 0; // the key's hash slot is computed once, not once per hash-partitioned route
    long slot = 0;
    for (KvResponse.Route r : table.routes()) {
      boolean owns;
      if (r.span() instanceof KeySpan.HashSlot h) {
        if (h.partitions() != hashedFor) {
          hashedFor = h.partitions();
          slot = HashPartitioner.of(hashedFor).partitionOf(key);
        }
        owns = slot == h.partitionId();
      } else {
        owns = r.span().owns(key);
      }
      if (owns && (best == null || narrower(r.span(), best.span()))) {
        best = r;
      }
    }
    if (best == null || best.leaderAddress().isEmpty()) {
      return null;
    }
    Long until = suspects.get(best.leaderAddress());
    if (until != null) {
      if (System.nanoTime() - until < 0) {
        return null;
      }
      suspects.remove(best.leaderAddress(), until);
    }
    return best.leaderAddress();
  }

  /** During a split the parent and the child both claim the child's keys: the child is narrower. */
  private static boolean narrower(KeySpan a, KeySpan b) {
    return a instanceof KeySpan.Range ra && b instanceof KeySpan.Range rb
        && java.util.Arrays.compareUnsigned(ra.start(), rb.start()) > 0;
  }

  /** An attempt was redirected or failed: refresh as soon as the backoff allows. */
  void markStale() {
    stale = true;
  }

  /** An attempt to {@code address} failed in the transport: avoid it for a while. */
  void suspect(String address) {
    suspects.put(address, System.nanoTime() + SUSPECT_NANOS);
    stale = true;
  }

  /** Whether an attempt to {@code address} failed in the transport less than {@link #SUSPECT_NANOS} ago. */
  boolean suspected(String address) {
    Long until = suspects.get(address);
    return until != null && System.nanoTime() - until < 0;
  }

  /**
   * Starts a refresh with {@code fetch} if one is due and none is in flight. {@code fetch} must
   * complete (it carries a deadline); its answer replaces the table if it is a route table.
   */
  void maybeRefresh(Supplier<CompletableFuture<KvResponse>> fetch) {
    long now = System.nanoTime();
    boolean due = now - dueNanos >= 0 || (stale && now - earliestNanos >= 0);
    if (!due || !refreshing.compareAndSet(false, true)) {
      return;
    }
    stale = false;
    CompletableFuture<KvResponse> f;
    try {
      f = fetch.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete((r, e) -> {
      long done = System.nanoTime();
      if (e == null && r instanceof KvResponse.RouteTable t) {
        table = t;
        backoffNanos = MIN_BACKOFF_NANOS;
        dueNanos = done + REFRESH_INTERVAL_NANOS;
      } else {
        backoffNanos = Math.min(MAX_BACKOFF_NANOS, backoffNanos * 2);
        dueNanos = done + backoffNanos;
      }
      earliestNanos = done + backoffNanos;
      refreshing.set(false);
    });
  }

  /** The current table's routes. */
  List<KvResponse.Route> table() {
    return table.routes();
  }

  /**
   * The last route table answer, members included: where the client learns the members beyond its
   * configured addresses ({@link RemoteExecutor}). The same object until a refresh replaces it.
   */
  KvResponse.RouteTable answer() {
    return table;
  }
}
