package io.quorumkv.storage;

/**
 * Bytes of table (SST) files the engine's database has written since it opened, by column family
 * and by why: a memtable flush or a compaction. This is the background write-back that shares the
 * disk with the log's fsyncs, so it is what a put's tail latency follows (docs/benchmarks.md,
 * findings 51 and 64). An in-memory engine writes none.
 *
 * @param logFlushBytes          the Raft log's entries flushed from memtables: entries compacted
 *                               away while still in the memtable never get here
 * @param logCompactionBytes     the Raft log's files rewritten by compactions
 * @param stateFlushBytes        the state machines' data flushed from memtables
 * @param stateCompactionBytes   the state machines' files rewritten by compactions
 * @param metaBytes              the Raft metadata's (hard states, membership), flushed and compacted
 */
public record SstWrites(long logFlushBytes, long logCompactionBytes, long stateFlushBytes,
    long stateCompactionBytes, long metaBytes) {

  /** Nothing written. */
  public static final SstWrites NONE = new SstWrites(0, 0, 0, 0, 0);

  /** Every byte written, all column families and reasons. */
  public long total() {
    return logFlushBytes + logCompactionBytes + stateFlushBytes + stateCompactionBytes + metaBytes;
  }
}
