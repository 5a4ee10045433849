package io.quorumkv.storage;

import io.quorumkv.raft.SnapshotMetadata;

/** Serves a snapshot payload blob in chunks. */
final class BlobSnapshotSource implements SnapshotSource {

  private final long groupId;
  private final SnapshotMetadata metadata;
  private final BlobStore.Reader in;
  private final int chunkBytes;

  BlobSnapshotSource(long groupId, SnapshotMetadata metadata, BlobStore.Reader in, int chunkBytes) {
    this.groupId = groupId;
    this.metadata = metadata;
    this.in = in;
    this.chunkBytes = chunkBytes;
  }

  @Override
  public SnapshotMetadata metadata() {
    return metadata;
  }

  @Override
  public long totalBytes() {
    return in.size();
  }

  @Override
  public SnapshotChunk chunk(long offset) {
    long total = in.size();
    if (offset < 0 || offset >= total) {
      throw new IllegalArgumentException("offset " + offset + " outside [0, " + total + ")");
    }
    byte[] data = new byte[(int) Math.min(chunkBytes, total - offset)];
    int off = 0;
    while (off < data.length) {
      int n = in.read(offset + off, data, off, data.length - off);
      if (n <= 0) {
        throw new StorageException("snapshot payload shorter than its size at " + (offset + off));
      }
      off += n;
    }
    return SnapshotChunk.of(groupId, metadata.index(), offset, data, total);
  }

  @Override
  public void close() {
    in.close();
  }
}
