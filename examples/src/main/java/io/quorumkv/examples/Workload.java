package io.quorumkv.examples;

import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * The peers harness's workload (../shared/peers/README.md): a fixed key space of 16-byte keys,
 * each the lower-case hex of a SplitMix64 mix of its id (the same keys peers.Bench uses, so the
 * systems see identical requests), and fresh random values of a fixed size.
 */
final class Workload {
  private final byte[][] keys;
  private final int valueSize;

  Workload(int keyspace, int valueSize) {
    if (keyspace < 1) {
      throw new IllegalArgumentException("keyspace must be positive, was " + keyspace);
    }
    if (valueSize < 0) {
      throw new IllegalArgumentException("value size must not be negative, was " + valueSize);
    }
    this.keys = new byte[keyspace][];
    for (int i = 0; i < keyspace; i++) {
      keys[i] = keyOf(i);
    }
    this.valueSize = valueSize;
  }

  /** Key {@code i}: 16 ASCII hex digits of the SplitMix64 finaliser applied to {@code (i + 1) * golden}. */
  static byte[] keyOf(int i) {
    long z = (i + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    z ^= z >>> 31;
    return String.format(java.util.Locale.ROOT, "%016x", z).getBytes(StandardCharsets.US_ASCII);
  }

  int keyspace() {
    return keys.length;
  }

  int valueSize() {
    return valueSize;
  }

  /** Key {@code i} (shared, do not modify). */
  byte[] key(int i) {
    return keys[i];
  }

  /** A new value of random bytes (a fresh one per request, as in peers.Bench). */
  byte[] freshValue(Random rnd) {
    byte[] v = new byte[valueSize];
    rnd.nextBytes(v);
    return v;
  }

  /** For the JSON record. */
  String describe() {
    return "closed loop; 16 B keys uniform over " + keys.length + "; " + valueSize + " B random values";
  }
}
