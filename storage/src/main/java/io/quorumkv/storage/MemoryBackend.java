package io.quorumkv.storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The in-memory {@link Backend}: sorted maps, plus a journal of the writes not yet synced that a
 * synced write replays onto the {@link MemoryDisk}. One lock orders everything, like a WAL.
 */
final class MemoryBackend implements Backend {

  private final MemoryDisk disk;
  private final EnumMap<Cf, TreeMap<byte[], byte[]>> live = new EnumMap<>(Cf.class);
  private final List<MemBatch> unsynced = new ArrayList<>();
  private boolean crashed;
  private boolean closed;

  MemoryBackend(MemoryDisk disk) {
    this.disk = disk;
    for (Cf cf : Cf.values()) {
      live.put(cf, copy(disk.durable.get(cf)));
    }
  }

  private static TreeMap<byte[], byte[]> copy(TreeMap<byte[], byte[]> m) {
    TreeMap<byte[], byte[]> c = new TreeMap<>(Arrays::compareUnsigned);
    for (Map.Entry<byte[], byte[]> e : m.entrySet()) {
      c.put(e.getKey(), e.getValue().clone());
    }
    return c;
  }

  private record Op(Cf cf, byte[] key, byte[] value, byte[] rangeEnd) {
    void applyTo(EnumMap<Cf, TreeMap<byte[], byte[]>> maps) {
      TreeMap<byte[], byte[]> m = maps.get(cf);
      if (rangeEnd != null) {
        if (Arrays.compareUnsigned(key, rangeEnd) < 0) {
          m.subMap(key, true, rangeEnd, false).clear();
        }
      } else if (value == null) {
        m.remove(key);
      } else {
        m.put(key, value);
      }
    }
  }

  private static final class MemBatch implements Batch {
    final List<Op> ops = new ArrayList<>();

    @Override
    public void put(Cf cf, byte[] key, byte[] value) {
      ops.add(new Op(cf, key.clone(), value.clone(), null));
    }

    @Override
    public void put(Cf cf, byte[] key, ByteBuffer value) {
      ops.add(new Op(cf, key.clone(), Codec.toArray(value), null));
    }

    @Override
    public void delete(Cf cf, byte[] key) {
      ops.add(new Op(cf, key.clone(), null, null));
    }

    @Override
    public void deleteRange(Cf cf, byte[] from, byte[] to) {
      ops.add(new Op(cf, from.clone(), null, to.clone()));
    }

    @Override
    public boolean isEmpty() {
      return ops.isEmpty();
    }

    @Override
    public void close() {}
  }

  @Override
  public Batch newBatch() {
    return new MemBatch();
  }

  void crash() {
    synchronized (disk.lock) {
      crashed = true;
      unsynced.clear();
    }
  }

  private boolean isDead() {
    synchronized (disk.lock) {
      return crashed || closed;
    }
  }

  private void checkAlive() {
    if (crashed) {
      throw new IllegalStateException("the simulated process crashed");
    }
    if (closed) {
      throw new IllegalStateException("closed");
    }
  }

  @Override
  public void write(Batch batch, boolean sync) {
    MemBatch b = (MemBatch) batch;
    synchronized (disk.lock) {
      checkAlive();
      for (Op op : b.ops) {
        op.applyTo(live);
      }
      unsynced.add(b);
    }
    if (sync) {
      // As RocksDB's write then SyncWAL: the records are readable before their sync returns.
      sync();
    }
  }

  @Override
  public void sync() {
    // The wait is outside the lock: readers and writes go on while a sync stalls, as on a disk.
    // What is written meanwhile becomes durable with it (still in write order), as SyncWAL may.
    disk.awaitSyncsAllowed(this::isDead);
    synchronized (disk.lock) {
      checkAlive();
      for (MemBatch u : unsynced) {
        for (Op op : u.ops) {
          op.applyTo(disk.durable);
        }
      }
      unsynced.clear();
    }
  }

  @Override
  public byte[] get(Cf cf, byte[] key) {
    synchronized (disk.lock) {
      checkAlive();
      byte[] v = live.get(cf).get(key);
      return v == null ? null : v.clone();
    }
  }

  @Override
  public void scan(Cf cf, byte[] from, byte[] to, KvReader.Visitor visitor) {
    synchronized (disk.lock) {
      checkAlive();
      scan(live.get(cf), from, to, visitor);
    }
  }

  private static void scan(TreeMap<byte[], byte[]> m, byte[] from, byte[] to, KvReader.Visitor visitor) {
    if (Arrays.compareUnsigned(from, to) >= 0) {
      return;
    }
    NavigableMap<byte[], byte[]> range = m.subMap(from, true, to, false);
    for (Map.Entry<byte[], byte[]> e : range.entrySet()) {
      if (!visitor.visit(e.getKey().clone(), e.getValue().clone())) {
        return;
      }
    }
  }

  @Override
  public View view() {
    EnumMap<Cf, TreeMap<byte[], byte[]>> frozen = new EnumMap<>(Cf.class);
    synchronized (disk.lock) {
      checkAlive();
      for (Cf cf : Cf.values()) {
        frozen.put(cf, new TreeMap<>(live.get(cf))); // values are never mutated in place
      }
    }
    return new View() {
      @Override
      public byte[] get(Cf cf, byte[] key) {
        alive();
        byte[] v = frozen.get(cf).get(key);
        return v == null ? null : v.clone();
      }

      @Override
      public void scan(Cf cf, byte[] from, byte[] to, KvReader.Visitor visitor) {
        alive();
        MemoryBackend.scan(frozen.get(cf), from, to, visitor);
      }

      /** A view outliving its engine reads nothing, as a RocksDB one cannot. */
      private void alive() {
        synchronized (disk.lock) {
          checkAlive();
        }
      }

      @Override
      public void close() {}
    };
  }

  @Override
  public String location(Cf cf) {
    return "memory column family '" + cf.columnFamily + "'";
  }

  @Override
  public void reclaim(Cf cf, byte[] from, byte[] to) {
    // deleted keys are gone from the maps already
  }

  @Override
  public long diskBytes() {
    synchronized (disk.lock) {
      long sum = 0;
      for (TreeMap<byte[], byte[]> m : live.values()) {
        for (Map.Entry<byte[], byte[]> e : m.entrySet()) {
          sum += e.getKey().length + e.getValue().length;
        }
      }
      return sum;
    }
  }

  /** A clean shutdown: like RocksDB's WAL, everything written survives it. */
  @Override
  public void close() {
    synchronized (disk.lock) {
      if (!crashed && !closed) {
        for (MemBatch u : unsynced) {
          for (Op op : u.ops) {
            op.applyTo(disk.durable);
          }
        }
        unsynced.clear();
      }
      closed = true;
    }
  }
}
