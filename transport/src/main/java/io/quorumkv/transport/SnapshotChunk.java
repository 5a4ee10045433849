package io.quorumkv.transport;

import java.util.Objects;

/**
 * A piece of a snapshot's data.
 *
 * @param offset where {@code data} starts in the snapshot's byte stream
 * @param data   the bytes, owned by the transport once returned by a source
 * @param last   whether this chunk ends the stream
 */
public record SnapshotChunk(long offset, byte[] data, boolean last) {
  /** Checks that {@code data} is present and {@code offset} not negative. */
  public SnapshotChunk {
    Objects.requireNonNull(data, "data");
    if (offset < 0) {
      throw new IllegalArgumentException("negative offset " + offset);
    }
  }
}
