package io.quorumkv;

/** Where a node keeps its log and state. */
public enum StorageEngineType {
  /** RocksDB in the node's data directory: durable across restarts (default). */
  ROCKSDB,
  /** On the heap: lost when the process exits. For tests and demos only. */
  MEMORY
}
