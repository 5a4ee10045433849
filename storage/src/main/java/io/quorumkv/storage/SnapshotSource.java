package io.quorumkv.storage;

import io.quorumkv.raft.SnapshotMetadata;

/**
 * A durable snapshot payload, read in bounded chunks for sending to a follower. Random access by
 * offset, so a transfer that broke off resumes at the receiver's {@link SnapshotSink#nextOffset()}
 * instead of starting over. Close it when done (it holds an open file).
 */
public interface SnapshotSource extends AutoCloseable {

  /** Where the snapshot sits in the log. */
  SnapshotMetadata metadata();

  /** The payload's length in bytes. */
  long totalBytes();

  /**
   * The chunk starting at {@code offset}, at most {@link StorageOptions#snapshotChunkBytes()} long.
   *
   * @throws IllegalArgumentException if {@code offset} is outside {@code [0, totalBytes)}
   */
  SnapshotChunk chunk(long offset);

  /** Releases the payload. */
  @Override
  void close();
}
