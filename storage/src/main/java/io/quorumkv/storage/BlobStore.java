package io.quorumkv.storage;

import java.util.List;

/**
 * Snapshot payloads: named, write-once byte files outside the key-value store (a payload can be
 * gigabytes; it must not go through the write-ahead log). Names are relative paths such as
 * {@code "7/120-3.snap"} (group 7, index 120, term 3).
 */
interface BlobStore {

  /** Writes a blob; nothing is visible under {@code name} until {@link Writer#commit()}. */
  interface Writer extends AutoCloseable {
    void write(byte[] data, int off, int len);

    long size();

    /** Makes the blob durable and visible under its name, replacing any older one. */
    void commit();

    /** Discards the blob if not committed. */
    @Override
    void close();
  }

  /** Reads a blob by offset. */
  interface Reader extends AutoCloseable {
    long size();

    /** Reads up to {@code len} bytes at {@code offset}; returns how many were read. */
    int read(long offset, byte[] buf, int off, int len);

    @Override
    void close();
  }

  Writer create(String name);

  /** Opens a committed blob, or returns null when there is none under that name. */
  Reader open(String name);

  boolean exists(String name);

  void delete(String name);

  /** Every committed blob name. */
  List<String> list();

  /** Where blobs live, for error messages. */
  String location(String name);
}
