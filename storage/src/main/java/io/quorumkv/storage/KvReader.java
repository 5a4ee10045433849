package io.quorumkv.storage;

/** Reads from a {@link Backend} or one of its views; each call sees one consistent state. */
interface KvReader {

  /** Receives records of a range scan; returns false to stop. */
  @FunctionalInterface
  interface Visitor {
    boolean visit(byte[] key, byte[] value);
  }

  /** The value of {@code key}, or null. */
  byte[] get(Backend.Cf cf, byte[] key);

  /** Visits keys in {@code [from, to)} in order, all from one consistent state. */
  void scan(Backend.Cf cf, byte[] from, byte[] to, Visitor visitor);
}
