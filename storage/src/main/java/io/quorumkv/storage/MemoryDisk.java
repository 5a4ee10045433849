package io.quorumkv.storage;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;

/**
 * A simulated disk for the in-memory engine: it keeps what was synced, and loses the rest when
 * the simulated process crashes. One engine at a time may be open on it (like a locked data
 * directory).
 *
 * <p>The durability model is RocksDB's with a write-ahead log: writes are durable in order, and a
 * synced write makes durable everything written before it. Snapshot payloads are durable once
 * committed.
 */
public final class MemoryDisk {

  final Object lock = new Object();
  final EnumMap<Backend.Cf, TreeMap<byte[], byte[]>> durable = new EnumMap<>(Backend.Cf.class);
  final Map<String, byte[]> blobs = new HashMap<>();
  NodeMeta meta;
  private MemoryBackend live;
  private final Object stallLock = new Object();
  private boolean syncsStalled;

  /** An empty disk. */
  public MemoryDisk() {
    for (Backend.Cf cf : Backend.Cf.values()) {
      durable.put(cf, new TreeMap<>(Arrays::compareUnsigned));
    }
  }

  /**
   * Simulates the node's process dying: the open engine stops working (every call on it throws)
   * and every write that was not synced is lost. Open a new engine to restart.
   */
  public void crash() {
    synchronized (lock) {
      if (live != null) {
        live.crash();
        live = null;
      }
    }
  }

  /**
   * Makes every write not yet synced durable now, in write order, as another writer's fsync of the
   * write-ahead log (or the operating system writing its pages back) may do at any time: with
   * {@link #crash()} right after, the power is cut with these writes kept. No-op while no engine
   * is open.
   */
  public void writeBack() {
    MemoryBackend backend;
    synchronized (lock) {
      backend = live;
    }
    if (backend != null) {
      backend.sync();
    }
  }

  /**
   * Simulates a disk whose fsync hangs: from now on every synced write and every sync waits (a
   * synced write's records written and readable, not yet durable, as with RocksDB's write then
   * SyncWAL) until
   * {@link #resumeSyncs()}, or until the engine crashes ({@link #crash()}; the write then fails and
   * its records are lost). Reads and unsynced writes go on. The engine's sync monitor sees the sync's age grow.
   * Resume before closing the engine: a clean close waits for the stalled write.
   */
  public void stallSyncs() {
    synchronized (stallLock) {
      syncsStalled = true;
    }
  }

  /** Lets stalled and later synced writes proceed. */
  public void resumeSyncs() {
    synchronized (stallLock) {
      syncsStalled = false;
      stallLock.notifyAll();
    }
  }

  /** Blocks a synced write while syncs are stalled and its engine is alive. */
  void awaitSyncsAllowed(BooleanSupplier dead) {
    synchronized (stallLock) {
      while (syncsStalled && !dead.getAsBoolean()) {
        try {
          stallLock.wait(50);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new StorageException("interrupted while a sync was stalled", e);
        }
      }
    }
  }

  /** Whether an engine is open on this disk. */
  public boolean isInUse() {
    synchronized (lock) {
      return live != null;
    }
  }

  StorageEngine openEngine(String clusterId, StorageOptions options) {
    MemoryBackend backend;
    synchronized (lock) {
      if (live != null) {
        throw new StorageStartupException(StorageStartupException.Reason.LOCKED,
            "memory disk is in use by another open engine");
      }
      if (meta == null) {
        meta = new NodeMeta(StorageEngine.FORMAT_VERSION, clusterId, options.nodeId());
      }
      meta.check(clusterId, options.nodeId(), "memory disk");
      backend = new MemoryBackend(this);
      live = backend;
    }
    return new StorageEngine(backend, new MemoryBlobStore(this), clusterId, options,
        () -> release(backend));
  }

  private void release(MemoryBackend backend) {
    synchronized (lock) {
      if (live == backend) {
        live = null;
      }
    }
  }

  /** Test hook: flips one byte of a durable record while no engine is open. */
  void corrupt(Backend.Cf cf, byte[] key, int offset) {
    synchronized (lock) {
      if (live != null) {
        throw new IllegalStateException("close or crash the engine first");
      }
      byte[] v = durable.get(cf).get(key);
      v[offset] ^= (byte) 0x5a;
    }
  }
}
