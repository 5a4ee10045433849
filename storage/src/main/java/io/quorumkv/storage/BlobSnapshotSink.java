package io.quorumkv.storage;

import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;

/** Stages a received payload as a blob, verifies it, then has the engine install it. */
final class BlobSnapshotSink implements SnapshotSink {

  private final StorageEngine engine;
  private final StorageEngine.Group group;
  private final Snapshot snapshot;
  private final String name;
  private final BlobStore.Writer out;
  private long totalBytes = -1;
  private boolean committed;

  BlobSnapshotSink(StorageEngine engine, StorageEngine.Group group, Snapshot snapshot) {
    this.engine = engine;
    this.group = group;
    this.snapshot = snapshot;
    SnapshotMetadata m = snapshot.metadata();
    this.name = SnapshotFormat.blobName(group.id, m.index(), m.term());
    this.out = engine.blobs().create(name);
  }

  @Override
  public long nextOffset() {
    return out.size();
  }

  @Override
  public boolean isComplete() {
    return totalBytes >= 0 && out.size() == totalBytes;
  }

  @Override
  public void write(SnapshotChunk chunk) {
    if (committed) {
      throw new IllegalStateException("snapshot already installed");
    }
    if (chunk.groupId() != group.id || chunk.snapshotIndex() != snapshot.metadata().index()) {
      throw new IllegalArgumentException(
          "chunk of group " + chunk.groupId() + " snapshot " + chunk.snapshotIndex()
              + ", expected group " + group.id + " snapshot " + snapshot.metadata().index());
    }
    if (totalBytes >= 0 && chunk.totalBytes() != totalBytes) {
      throw new IllegalArgumentException(
          "chunk says the payload is " + chunk.totalBytes() + " bytes, earlier ones " + totalBytes);
    }
    if (!chunk.checksumValid()) {
      throw new StorageCorruptionException(
          "snapshot chunk at offset " + chunk.offset() + " for group " + group.id
              + " failed its CRC32C");
    }
    long next = out.size();
    if (chunk.offset() + chunk.data().length <= next) {
      return; // already have it: a resend
    }
    if (chunk.offset() > next) {
      throw new IllegalArgumentException(
          "chunk at " + chunk.offset() + " leaves a hole; next expected offset is " + next);
    }
    totalBytes = chunk.totalBytes();
    int skip = (int) (next - chunk.offset());
    out.write(chunk.data(), skip, chunk.data().length - skip);
  }

  @Override
  public void install() {
    if (!isComplete()) {
      throw new IllegalStateException(
          "snapshot payload incomplete: " + out.size() + " of " + totalBytes + " bytes");
    }
    if (!committed) {
      out.commit();
      committed = true;
    }
    try (BlobStore.Reader in = engine.blobs().open(name)) {
      SnapshotFormat.read(in, engine.blobs().location(name), group.id, snapshot.metadata(),
          (k, v) -> { });
    } catch (StorageCorruptionException e) {
      engine.blobs().delete(name);
      throw e;
    }
    engine.installSnapshot(group, snapshot, name);
  }

  @Override
  public void close() {
    if (!committed) {
      out.close();
    }
  }
}
