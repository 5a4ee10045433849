package io.quorumkv.raft;

import java.util.Objects;

/**
 * A snapshot as the Raft core sees it: metadata plus opaque data.
 *
 * <p>The core never interprets {@code data}. For small state machines it can be the state itself;
 * for large ones it is a descriptor (for example a checkpoint id) and the bytes are streamed in
 * chunks by the transport, outside the core, so a multi-gigabyte snapshot never sits in a
 * message or on the heap.
 *
 * @param metadata the log position and membership the snapshot stands for
 * @param data     the application's snapshot payload or descriptor; never null
 */
public record Snapshot(SnapshotMetadata metadata, byte[] data) {

  /** No snapshot. */
  public static final Snapshot EMPTY = new Snapshot(SnapshotMetadata.EMPTY, Entry.EMPTY);

  public Snapshot {
    Objects.requireNonNull(metadata, "metadata");
    Objects.requireNonNull(data, "data");
  }

  /** True for {@link #EMPTY} (index 0). */
  public boolean isEmpty() {
    return metadata.index() == 0;
  }
}
