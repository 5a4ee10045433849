package io.quorumkv.transport;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The receiving side of one snapshot transfer, opened by a {@link SnapshotReceiver}.
 *
 * <p>Methods are called from one transport thread at a time, off the I/O threads, so they may
 * block on disk; the sender is held back (by the credit window) while they run. Chunks arrive in
 * order, each verified against its CRC32C first. After a dropped connection the transfer resumes
 * at {@link #write}'s last completed end offset, so a sink never sees a gap or an overlap.
 */
public interface SnapshotChunkSink {

  /**
   * Writes a verified chunk. {@code data} is valid only during the call.
   *
   * @param offset the chunk's position in the stream; equal to the end of the previous chunk
   */
  void write(long offset, ByteBuffer data) throws IOException;

  /** All data written: make the snapshot durable. The transfer succeeds when this returns. */
  void complete() throws IOException;

  /** The transfer is abandoned (sender gave up, data corrupt, transport closed): discard it. */
  void abort(Throwable cause);
}
