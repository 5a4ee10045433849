package io.quorumkv.storage;

/**
 * Tuning of a {@link StorageEngine}. Every value has a reasoned default ({@link #defaults(long)});
 * see {@code docs/storage.md} for why.
 *
 * @param nodeId                  this node's id, recorded in the data directory's META file and
 *                                checked at every start
 * @param blockCacheBytes         bound of RocksDB's shared block cache (all column families)
 * @param writeBufferBytes        size of one RocksDB memtable per column family, the log's excepted
 * @param logWriteBufferBytes     size of one memtable of the Raft log's column family: several
 *                                times the log's compaction budget, so that entries are compacted
 *                                away while still in it and never written to an SST file
 * @param maxTotalWalBytes        WAL size that forces memtable flushes so old WAL files go away
 * @param snapshotChunkBytes      the largest {@link SnapshotChunk} a {@link SnapshotSource} hands
 *                                out
 * @param logCompactionTriggerEntries how many discarded log entries make the engine ask RocksDB to
 *                                compact the discarded range, so disk use follows the log's size
 * @param entryCacheBytes         per group, how many bytes of the newest log entries stay in memory
 *                                so that applying them and sending them to followers slightly behind
 *                                does not read them back from the disk; 0 turns the cache off
 * @param nodeEntryCacheBytes     the same for all groups together: each group's cache is bounded by
 *                                an equal share of it (and by {@code entryCacheBytes}), so that many
 *                                groups do not hold many times the memory of a few
 */
public record StorageOptions(
    long nodeId,
    long blockCacheBytes,
    long writeBufferBytes,
    long logWriteBufferBytes,
    long maxTotalWalBytes,
    int snapshotChunkBytes,
    long logCompactionTriggerEntries,
    long entryCacheBytes,
    long nodeEntryCacheBytes) {

  public StorageOptions {
    if (nodeId <= 0) {
      throw new IllegalArgumentException("node id must be positive: " + nodeId);
    }
    if (blockCacheBytes <= 0 || writeBufferBytes <= 0 || logWriteBufferBytes <= 0 || maxTotalWalBytes <= 0) {
      throw new IllegalArgumentException("sizes must be positive");
    }
    if (snapshotChunkBytes < 1024) {
      throw new IllegalArgumentException("snapshot chunks must be at least 1 KiB");
    }
    if (logCompactionTriggerEntries <= 0) {
      throw new IllegalArgumentException("logCompactionTriggerEntries must be positive");
    }
    if (entryCacheBytes < 0 || nodeEntryCacheBytes < 0) {
      throw new IllegalArgumentException("entry cache bounds must not be negative");
    }
  }

  /**
   * The defaults: 64 MiB block cache, 16 MiB memtables (64 MiB for the log: four times the log
   * compaction budget of a {@code KvNode}, 16 MiB; finding 64), 256 MiB of WAL, 1 MiB chunks, 2 MiB of
   * entry cache per group and 32 MiB for all groups together (64 groups of 2 MiB each, 128 MiB of
   * entries turning over in a 1 GiB heap, made young collections pause 30-120 ms; see
   * docs/benchmarks.md, finding 45).
   */
  public static StorageOptions defaults(long nodeId) {
    return new StorageOptions(
        nodeId, 64L << 20, 16L << 20, 64L << 20, 256L << 20, 1 << 20, 100_000, 2L << 20, 32L << 20);
  }

  /** A copy with another snapshot chunk size. */
  public StorageOptions withSnapshotChunkBytes(int bytes) {
    return new StorageOptions(
        nodeId, blockCacheBytes, writeBufferBytes, logWriteBufferBytes, maxTotalWalBytes, bytes,
        logCompactionTriggerEntries, entryCacheBytes, nodeEntryCacheBytes);
  }

  /** A copy with another compaction trigger. */
  public StorageOptions withLogCompactionTriggerEntries(long entries) {
    return new StorageOptions(
        nodeId, blockCacheBytes, writeBufferBytes, logWriteBufferBytes, maxTotalWalBytes, snapshotChunkBytes,
        entries, entryCacheBytes, nodeEntryCacheBytes);
  }

  /** A copy with other RocksDB memory bounds; {@code writeBuffer} for every column family, the log's too. */
  public StorageOptions withMemory(long blockCache, long writeBuffer, long maxTotalWal) {
    return new StorageOptions(
        nodeId, blockCache, writeBuffer, writeBuffer, maxTotalWal, snapshotChunkBytes,
        logCompactionTriggerEntries, entryCacheBytes, nodeEntryCacheBytes);
  }

  /** A copy with another memtable size for the Raft log's column family. */
  public StorageOptions withLogWriteBufferBytes(long bytes) {
    return new StorageOptions(
        nodeId, blockCacheBytes, writeBufferBytes, bytes, maxTotalWalBytes, snapshotChunkBytes,
        logCompactionTriggerEntries, entryCacheBytes, nodeEntryCacheBytes);
  }

  /** A copy with another per-group entry cache bound (0: no cache). */
  public StorageOptions withEntryCacheBytes(long bytes) {
    return new StorageOptions(
        nodeId, blockCacheBytes, writeBufferBytes, logWriteBufferBytes, maxTotalWalBytes, snapshotChunkBytes,
        logCompactionTriggerEntries, bytes, nodeEntryCacheBytes);
  }

  /** A copy with another bound for all groups' entry caches together. */
  public StorageOptions withNodeEntryCacheBytes(long bytes) {
    return new StorageOptions(
        nodeId, blockCacheBytes, writeBufferBytes, logWriteBufferBytes, maxTotalWalBytes, snapshotChunkBytes,
        logCompactionTriggerEntries, entryCacheBytes, bytes);
  }
}
