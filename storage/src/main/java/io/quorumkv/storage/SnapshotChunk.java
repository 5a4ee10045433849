package io.quorumkv.storage;

import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * A piece of a snapshot payload in transit. Chunks carry their offset so a transfer can resume
 * where it stopped ({@link SnapshotSink#nextOffset()}), and their own CRC32C so a damaged chunk is
 * refused before it is staged.
 *
 * @param groupId       the Raft group
 * @param snapshotIndex the snapshot's last included index
 * @param offset        where {@code data} starts in the payload
 * @param data          the bytes
 * @param crc32c        CRC32C of {@code data}
 * @param totalBytes    the payload's full length
 */
public record SnapshotChunk(
    long groupId, long snapshotIndex, long offset, byte[] data, int crc32c, long totalBytes) {

  public SnapshotChunk {
    Objects.requireNonNull(data, "data");
    if (offset < 0 || offset + data.length > totalBytes) {
      throw new IllegalArgumentException(
          "chunk [" + offset + ", " + (offset + data.length) + ") outside payload of " + totalBytes);
    }
  }

  /** Builds a chunk, computing its checksum. */
  public static SnapshotChunk of(
      long groupId, long snapshotIndex, long offset, byte[] data, long totalBytes) {
    return new SnapshotChunk(groupId, snapshotIndex, offset, data, crc(data), totalBytes);
  }

  /** True when {@link #crc32c()} matches {@link #data()}. */
  public boolean checksumValid() {
    return crc(data) == crc32c;
  }

  /** True for the chunk that ends the payload. */
  public boolean isLast() {
    return offset + data.length == totalBytes;
  }

  private static int crc(byte[] data) {
    CRC32C c = new CRC32C();
    c.update(data);
    return (int) c.getValue();
  }
}
