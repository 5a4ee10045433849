package io.quorumkv.transport;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Snapshot data generated on the fly: the byte at offset {@code i} is a function of {@code i},
 * so a source can re-read any offset and a sink can check every byte without either storing the
 * stream.
 */
final class PatternSnapshot {

  private PatternSnapshot() {}

  static byte at(long i) {
    long x = i * 0x9E3779B97F4A7C15L;
    return (byte) (x >>> 56 ^ x >>> 23);
  }

  /** A source of {@code size} pattern bytes. */
  static SnapshotChunkSource source(long size) {
    return new SnapshotChunkSource() {
      @Override
      public SnapshotChunk read(long offset, int maxBytes) {
        int n = (int) Math.min(maxBytes, size - offset);
        byte[] b = new byte[n];
        for (int k = 0; k < n; k++) {
          b[k] = at(offset + k);
        }
        return new SnapshotChunk(offset, b, offset + n == size);
      }

      @Override
      public void close() {}
    };
  }

  /** Whether {@code data} holds the pattern's bytes starting at {@code offset}. */
  static boolean matches(long offset, ByteBuffer data) {
    byte[] expected = new byte[data.remaining()];
    for (int k = 0; k < expected.length; k++) {
      expected[k] = at(offset + k);
    }
    byte[] actual = new byte[data.remaining()];
    data.duplicate().get(actual);
    return Arrays.equals(expected, actual);
  }
}
