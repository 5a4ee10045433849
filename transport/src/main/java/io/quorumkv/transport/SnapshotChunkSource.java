package io.quorumkv.transport;

import java.io.IOException;

/**
 * The sending side of a snapshot: a byte stream read in chunks.
 *
 * <p>Reads are called from one transport thread at a time, off the I/O threads, so they may
 * block on disk. Offsets normally increase chunk by chunk; after a dropped connection the
 * transport resumes at the last offset the receiver acknowledged, which may be earlier than the
 * last one read, so a source must be able to read an offset it has already read.
 */
public interface SnapshotChunkSource extends AutoCloseable {

  /**
   * Reads up to {@code maxBytes} starting at {@code offset}. Returns a chunk with
   * {@code last == true} at the end of the stream (possibly empty).
   */
  SnapshotChunk read(long offset, int maxBytes) throws IOException;

  /** Releases the source; called once, when the transfer ends (successfully or not). */
  @Override
  void close() throws IOException;
}
