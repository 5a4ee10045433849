package io.quorumkv.storage;

import java.util.List;

/**
 * A consistent, read-only view of one group's state machine as of the moment it was opened
 * ({@link StateMachineStore#openView()}), readable from any thread while the group goes on
 * applying: a replica hash computed away from the applier, over exactly the state of one index.
 *
 * <p>It pins the engine's data as of its opening (RocksDB: a snapshot, which keeps overwritten
 * versions from being compacted away), so hold it for seconds, not hours, and close it. After the
 * engine closed, {@link #scan} throws {@link IllegalStateException}; {@link #close()} is then a
 * no-op.
 */
public interface StateView extends AutoCloseable {

  /** The applied index of the state this view shows. */
  long appliedIndex();

  /**
   * Up to {@code limit} records with keys in {@code [startKey, endKey)}, in key order, as of the
   * view's opening. Each call holds the engine only for its own duration, so a long scan made of
   * many calls does not hold back the engine's close.
   *
   * @throws StorageCorruptionException if a record fails its checksum
   * @throws IllegalStateException      if the engine was closed
   */
  List<KeyValue> scan(byte[] startKey, byte[] endKey, int limit);

  /** Releases what the view pins; idempotent. */
  @Override
  void close();
}
