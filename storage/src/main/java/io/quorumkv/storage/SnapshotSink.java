package io.quorumkv.storage;

/**
 * Receives a snapshot payload chunk by chunk into a staging area, then installs it. Nothing a sink
 * does touches the group's live state before {@link #install()}.
 *
 * <p>Installation is atomic as seen by readers and across crashes: the group's key space, applied
 * index and membership are replaced by the snapshot's, and its log is reset to end at the snapshot
 * (first index = snapshot index + 1, hard state commit raised to at least the snapshot index). If
 * the process dies during the install, the engine finishes it from the staged payload when it
 * next opens. Use one sink from one thread.
 */
public interface SnapshotSink extends AutoCloseable {

  /** The offset of the next chunk expected (0 for a new transfer). */
  long nextOffset();

  /** True once every byte of the payload has been received. */
  boolean isComplete();

  /**
   * Stages one chunk. A chunk that ends at or before {@link #nextOffset()} (a resend) is ignored.
   *
   * @throws IllegalArgumentException   if the chunk is for another snapshot, starts after
   *                                    {@link #nextOffset()} (a hole) or its size disagrees
   * @throws StorageCorruptionException if the chunk's checksum does not match its data
   */
  void write(SnapshotChunk chunk);

  /**
   * Verifies the complete payload (structure, metadata, whole-payload checksum) and installs it.
   * The staged payload becomes this node's latest snapshot, which it can send on to others.
   *
   * @throws IllegalStateException      if the payload is incomplete, or the state machine has
   *                                    already applied the snapshot's index (it would roll back)
   * @throws StorageCorruptionException if the payload fails verification (nothing is changed)
   */
  void install();

  /** Discards the staged payload unless it was installed. */
  @Override
  void close();
}
