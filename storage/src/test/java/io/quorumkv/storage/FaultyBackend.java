package io.quorumkv.storage;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A backend that fails or stalls synced writes and syncs on demand, standing for a disk whose fsync
 * returns EIO, that is full, or that hangs.
 */
final class FaultyBackend implements Backend {

  private final Backend delegate;
  /** Synced writes that still succeed before every later one fails; negative: never fail. */
  final AtomicInteger syncsBeforeFailure = new AtomicInteger(-1);
  /** When set, synced writes wait for it (a stalled disk)... */
  volatile CountDownLatch stall;
  /** ...once this many synced writes went through undisturbed. */
  final AtomicInteger syncsBeforeStall = new AtomicInteger(0);
  /** Counted down when a synced write starts stalling. */
  final CountDownLatch stalling = new CountDownLatch(1);
  /** Runs before every unsynced write reaches the database (to look at what is published then). */
  volatile Runnable beforeUnsyncedWrite = () -> { };
  /** When set, unsynced writes fail (a state machine write hitting a full disk). */
  volatile boolean failUnsyncedWrites;

  FaultyBackend(Backend delegate) {
    this.delegate = delegate;
  }

  @Override
  public void write(Batch batch, boolean sync) {
    if (!sync) {
      beforeUnsyncedWrite.run();
      if (failUnsyncedWrites) {
        throw new StorageException("injected: write failed (no space left on device)");
      }
    }
    if (sync) {
      fault();
    }
    delegate.write(batch, sync);
  }

  @Override
  public void sync() {
    fault();
    delegate.sync();
  }

  /** A synced write's or a sync's turn: stalls or fails it as set up. */
  private void fault() {
    CountDownLatch s = stall;
    if (s != null && syncsBeforeStall.getAndDecrement() <= 0) {
      stalling.countDown();
      try {
        if (!s.await(30, TimeUnit.SECONDS)) {
          throw new StorageException("stall never released");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (syncsBeforeFailure.get() >= 0 && syncsBeforeFailure.getAndDecrement() == 0) {
      syncsBeforeFailure.set(0);
      throw new StorageException("injected: fsync failed (EIO) / no space left on device");
    }
  }

  @Override
  public byte[] get(Cf cf, byte[] key) {
    return delegate.get(cf, key);
  }

  @Override
  public void scan(Cf cf, byte[] from, byte[] to, KvReader.Visitor visitor) {
    delegate.scan(cf, from, to, visitor);
  }

  @Override
  public Batch newBatch() {
    return delegate.newBatch();
  }

  @Override
  public BulkLoad bulkLoad(Cf cf) {
    return delegate.bulkLoad(cf);
  }

  @Override
  public View view() {
    return delegate.view();
  }

  @Override
  public String location(Cf cf) {
    return delegate.location(cf);
  }

  @Override
  public void reclaim(Cf cf, byte[] from, byte[] to) {
    delegate.reclaim(cf, from, to);
  }

  @Override
  public long diskBytes() {
    return delegate.diskBytes();
  }

  @Override
  public void close() {
    delegate.close();
  }
}
