package io.quorumkv.storage;

import java.util.Optional;

/**
 * One finished (or failed) synced write, as reported to a {@link SyncListener}.
 *
 * @param startNanos    {@link System#nanoTime()} when the write began
 * @param durationNanos how long the write and its fsync took
 * @param batches       how many {@link LogBatch}es it made durable
 * @param entries       how many log entries it made durable
 * @param bytes         the entries' size ({@link io.quorumkv.raft.Entry#sizeBytes()} sum)
 * @param failure       the error, if the write failed (the engine is then failed)
 */
public record SyncEvent(
    long startNanos,
    long durationNanos,
    int batches,
    int entries,
    long bytes,
    Optional<Throwable> failure) {}
