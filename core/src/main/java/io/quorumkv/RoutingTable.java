package io.quorumkv;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which partition holds which keys, as far as this node has applied: each hosted partition's
 * span as of its state machine. After a split the parent shrinks and the child appears, possibly
 * at slightly different moments; a request routed by a stale view is rejected by the state
 * machine ({@link KvResponse.Code#WRONG_PARTITION}) and retried, never misapplied.
 */
final class RoutingTable {

  private final Map<Long, KeySpan> spans = new ConcurrentHashMap<>();
  /**
   * Partitions this node does not host, as its peers last reported them (see
   * {@link PlacementDriver}): consulted only for keys no hosted partition owns.
   */
  private volatile Map<Long, KeySpan> remote = Map.of();
  /**
   * Hosted partitions frozen for a merge: their keys are the left one's, so neither their own span
   * nor a peer's report of it from before the freeze routes a key to them ({@link #remote} never
   * holds them). Without this, a node that had just driven a merge sent the next merge of the same
   * key to the retired partition, whose replicas then went away under the call (it retried it
   * until its deadline).
   */
  private final Set<Long> frozen = ConcurrentHashMap.newKeySet();

  /** The spans a new cluster starts with, by partition id (1-based). */
  static Map<Long, KeySpan> initialSpans(Partitioner partitioner) {
    Map<Long, KeySpan> out = new TreeMap<>();
    if (partitioner instanceof HashPartitioner h) {
      int n = h.initialPartitionCount();
      for (long id = 1; id <= n; id++) {
        out.put(id, new KeySpan.HashSlot(id, n));
      }
      return out;
    }
    List<byte[]> keys = ((RangePartitioner) partitioner).splitKeys();
    byte[] start = new byte[0];
    for (int i = 0; i < keys.size(); i++) {
      out.put((long) i + 1, new KeySpan.Range(start, keys.get(i)));
      start = keys.get(i);
    }
    out.put((long) keys.size() + 1, new KeySpan.Range(start, new byte[0]));
    return out;
  }

  void update(long partitionId, KeySpan span) {
    spans.put(partitionId, span);
    thaw(partitionId);
  }

  void remove(long partitionId) {
    spans.remove(partitionId);
    thaw(partitionId);
  }

  /** Runs with every applied batch (through {@link #update}): with nothing frozen, one read. */
  private void thaw(long partitionId) {
    if (!frozen.isEmpty()) {
      frozen.remove(partitionId);
    }
  }

  /**
   * A hosted partition frozen for a merge: routed nowhere until thawed (its span updated) or
   * removed; peers' reports of it count again from the next poll after that.
   */
  synchronized void freeze(long partitionId) {
    frozen.add(partitionId);
    spans.remove(partitionId);
    remote = withoutFrozen(remote);
  }

  /** Replaces the spans of the partitions hosted elsewhere. */
  synchronized void replaceRemote(Map<Long, KeySpan> others) {
    remote = withoutFrozen(others);
  }

  private Map<Long, KeySpan> withoutFrozen(Map<Long, KeySpan> reported) {
    if (frozen.isEmpty() || reported.keySet().stream().noneMatch(frozen::contains)) {
      return Map.copyOf(reported);
    }
    Map<Long, KeySpan> out = new java.util.HashMap<>(reported);
    out.keySet().removeAll(frozen);
    return Map.copyOf(out);
  }

  /** Whether {@code partitionId} is hosted here (has a local span). */
  boolean isLocal(long partitionId) {
    return spans.containsKey(partitionId);
  }

  /**
   * The partition owning {@code key}. When two spans claim it (a split half-applied here: the
   * parent not yet shrunk), the narrower one, i.e. the child, wins; when none does, empty.
   */
  OptionalLong route(byte[] key) {
    OptionalLong local = route(spans, key);
    return local.isPresent() ? local : route(remote, key);
  }

  private static OptionalLong route(Map<Long, KeySpan> spans, byte[] key) {
    long best = 0;
    KeySpan bestSpan = null;
    for (Map.Entry<Long, KeySpan> e : spans.entrySet()) {
      if (e.getValue().owns(key) && (bestSpan == null || narrower(e.getValue(), bestSpan))) {
        best = e.getKey();
        bestSpan = e.getValue();
      }
    }
    return bestSpan == null ? OptionalLong.empty() : OptionalLong.of(best);
  }

  private static boolean narrower(KeySpan a, KeySpan b) {
    return a instanceof KeySpan.Range ra && b instanceof KeySpan.Range rb
        && java.util.Arrays.compareUnsigned(ra.start(), rb.start()) > 0;
  }

  /**
   * The partitions a scan of {@code [from, to)} must visit, in key order for ranges, with the
   * part of the range each one holds.
   */
  List<ScanPart> plan(byte[] from, byte[] to) {
    List<ScanPart> parts = new ArrayList<>();
    TreeMap<Long, KeySpan> sorted = new TreeMap<>(spans);
    remote.forEach((id, span) -> {
      // A remote span overlapping a hosted one is stale (a split or merge reported late).
      if (!sorted.containsKey(id) && sorted.values().stream().noneMatch(s -> overlaps(s, span))) {
        sorted.put(id, span);
      }
    });
    for (Map.Entry<Long, KeySpan> e : sorted.entrySet()) {
      if (e.getValue() instanceof KeySpan.Range r) {
        byte[][] c = r.clamp(from, to);
        if (c != null) {
          parts.add(new ScanPart(e.getKey(), c[0], c[1], 0));
        }
      } else if (e.getValue() instanceof KeySpan.HashSlot h) {
        parts.add(new ScanPart(e.getKey(), from, to, h.partitions()));
      }
    }
    parts.sort((a, b) -> java.util.Arrays.compareUnsigned(a.from(), b.from()));
    return parts;
  }

  private static boolean overlaps(KeySpan a, KeySpan b) {
    if (a instanceof KeySpan.Range ra && b instanceof KeySpan.Range rb) {
      return ra.clamp(rb.start(), rb.end()) != null;
    }
    return a.equals(b);
  }

  /**
   * One partition's share of a scan.
   *
   * @param hashPartitions for a hash partition, how many there are (each holds keys anywhere in the
   *                       range); 0 for a range partition
   */
  record ScanPart(long partitionId, byte[] from, byte[] to, int hashPartitions) {}

  Map<Long, KeySpan> snapshot() {
    Map<Long, KeySpan> all = new java.util.HashMap<>(remote);
    all.putAll(spans);
    return Map.copyOf(all);
  }
}
