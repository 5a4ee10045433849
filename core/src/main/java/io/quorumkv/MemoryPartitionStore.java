package io.quorumkv;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.locks.StampedLock;

/** A {@link PartitionStore} on the heap; one lock makes each commit atomic to readers. */
final class MemoryPartitionStore implements PartitionStore {

  private final TreeMap<byte[], byte[]> data = new TreeMap<>(Arrays::compareUnsigned);
  private long applied;
  /** Write-locked around each commit, for readers that take the index and the state together. */
  private final StampedLock stateLock = new StampedLock();

  /** A store holding {@code entries}, as of {@code appliedIndex}. */
  MemoryPartitionStore(List<KeyValue> entries, long appliedIndex) {
    for (KeyValue kv : entries) {
      data.put(kv.key(), kv.value());
    }
    applied = appliedIndex;
  }

  MemoryPartitionStore() {
    this(List.of(), 0);
  }

  @Override
  public synchronized long appliedIndex() {
    return applied;
  }

  @Override
  public StampedLock stateLock() {
    return stateLock;
  }

  @Override
  public synchronized Optional<byte[]> get(byte[] key) {
    return Optional.ofNullable(data.get(key));
  }

  @Override
  public synchronized List<KeyValue> scan(byte[] from, byte[] to, int limit) {
    return scan(data, from, to, limit);
  }

  @Override
  public synchronized View view() {
    TreeMap<byte[], byte[]> frozen = new TreeMap<>(data); // values are replaced, never changed in place
    return new View() {
      @Override
      public List<KeyValue> scan(byte[] from, byte[] to, int limit) {
        return MemoryPartitionStore.scan(frozen, from, to, limit);
      }

      @Override
      public void close() {}
    };
  }

  private static List<KeyValue> scan(TreeMap<byte[], byte[]> map, byte[] from, byte[] to, int limit) {
    NavigableMap<byte[], byte[]> range = to.length == 0 ? map.tailMap(from, true) : map.subMap(from, true, to, false);
    List<KeyValue> out = new ArrayList<>();
    for (Map.Entry<byte[], byte[]> e : range.entrySet()) {
      if (out.size() >= limit) {
        break;
      }
      out.add(new KeyValue(e.getKey(), e.getValue()));
    }
    return out;
  }

  @Override
  public void commit(Commit commit) {
    // The state lock before the monitor, as a reader holding it for reading takes them.
    long stamp = stateLock.writeLock();
    try {
      apply(commit);
    } finally {
      stateLock.unlockWrite(stamp);
    }
  }

  private synchronized void apply(Commit commit) {
    if (commit.appliedIndex() <= applied) {
      throw new IllegalArgumentException("index " + commit.appliedIndex() + " is not after " + applied);
    }
    for (Mutation m : commit.mutations()) {
      if (m instanceof Mutation.Put p) {
        data.put(p.key(), p.value());
      } else if (m instanceof Mutation.Delete d) {
        data.remove(d.key());
      } else {
        Mutation.DeleteRange r = (Mutation.DeleteRange) m;
        (r.to().length == 0 ? data.tailMap(r.from(), true) : data.subMap(r.from(), true, r.to(), false)).clear();
      }
    }
    applied = commit.appliedIndex();
  }
}
