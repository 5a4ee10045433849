package io.quorumkv.storage;

import java.nio.ByteBuffer;

/**
 * The ordered, atomic key-value store under the engine: RocksDB, or memory for simulation. The
 * engine's logic (layout, checksums, validation, recovery) is written once against this, so both
 * implementations keep the same contract by construction.
 *
 * <p>Semantics every backend provides: a {@link Batch} is applied atomically; writes become
 * durable in the order they were made, and a synced write makes durable everything written
 * before it (one write-ahead log); reads see only what was written.
 */
interface Backend extends KvReader, AutoCloseable {

  /** The three key spaces; see {@link Keys} for their layout. */
  enum Cf {
    LOG("log"),
    META("raft_meta"),
    STATE("state");

    final String columnFamily;

    Cf(String columnFamily) {
      this.columnFamily = columnFamily;
    }
  }

  /** An atomic group of writes. */
  interface Batch extends AutoCloseable {
    void put(Cf cf, byte[] key, byte[] value);

    /**
     * Puts {@code value}'s remaining bytes. The batch copies them before returning (the buffer's
     * position is then undefined): the caller may reuse the buffer, e.g. a {@link Scratch} one.
     */
    void put(Cf cf, byte[] key, ByteBuffer value);

    void delete(Cf cf, byte[] key);

    /** Deletes keys in {@code [from, to)}. */
    void deleteRange(Cf cf, byte[] from, byte[] to);

    /** True when nothing was added. */
    boolean isEmpty();

    @Override
    void close();
  }

  /** A consistent read-only view as of its creation, for reads that span several calls. */
  interface View extends KvReader, AutoCloseable {
    @Override
    void close();
  }

  Batch newBatch();

  /**
   * The value of {@code key} if it can be read without disk I/O: the value, or null when the key
   * is absent, or {@link #NOT_IN_MEMORY} (compared by identity) when answering needs the disk.
   * A backend held in memory answers as {@link #get} does.
   */
  default byte[] getInMemory(Cf cf, byte[] key) {
    return get(cf, key);
  }

  /** {@link #getInMemory}'s answer when the record is not in memory (a marker, never a value). */
  byte[] NOT_IN_MEMORY = new byte[0];

  /**
   * Records in strictly ascending key order, loaded in bulk without the write-ahead log: nothing is
   * visible until {@link #commit()}, which makes all of it visible at once and durable.
   */
  interface BulkLoad extends AutoCloseable {
    void add(byte[] key, byte[] value);

    void commit();

    /** Discards what was not committed. */
    @Override
    void close();
  }

  /** A bulk load into {@code cf}, or null when this store has none (callers write batches). */
  default BulkLoad bulkLoad(Cf cf) {
    return null;
  }

  /**
   * Applies a batch; with {@code sync} it is durable (with everything before it) on return.
   *
   * @throws StorageException on any I/O error (the caller fails the engine)
   */
  void write(Batch batch, boolean sync);

  /**
   * Makes everything written before this call durable (RocksDB: a WAL sync). Safe to call while
   * other threads write: writes made meanwhile may or may not be covered.
   *
   * @throws StorageException on any I/O error (the caller fails the engine)
   */
  void sync();

  View view();

  /** Where records of {@code cf} live, for error messages ("column family 'log' in /data/db"). */
  String location(Cf cf);

  /** Where the record under {@code key} lives, as precisely as known (its file, if any). */
  default String locate(Cf cf, byte[] key) {
    return location(cf);
  }

  /** Asks the store to reclaim the space of deleted keys in {@code [from, to)}, in the background. */
  void reclaim(Cf cf, byte[] from, byte[] to);

  /** Bytes the store occupies on disk (memory: live bytes). */
  long diskBytes();

  /** Table-file bytes written since the store opened (memory: none). */
  default SstWrites sstWrites() {
    return SstWrites.NONE;
  }

  @Override
  void close();
}
