package io.quorumkv.transport;

import java.util.Arrays;

/** A snapshot source over an array, for tests. */
final class ByteArraySnapshotSource implements SnapshotChunkSource {
  private final byte[] data;
  int closed;

  ByteArraySnapshotSource(byte[] data) {
    this.data = data;
  }

  @Override
  public SnapshotChunk read(long offset, int maxBytes) {
    int from = (int) offset;
    int to = (int) Math.min(data.length, offset + maxBytes);
    return new SnapshotChunk(offset, Arrays.copyOfRange(data, from, to), to == data.length);
  }

  @Override
  public void close() {
    closed++;
  }
}
