package io.quorumkv;

import java.util.zip.CRC32C;

/**
 * A fixed number of partitions; a key belongs to partition {@code 1 + mix(crc32c(key)) mod n}.
 * The hash is stable across JVMs, versions and restarts. Hash partitions cannot be split.
 */
public final class HashPartitioner implements Partitioner {

  private final int partitions;

  private HashPartitioner(int partitions) {
    this.partitions = partitions;
  }

  /**
   * @param partitions the number of partitions, 1 to 1024
   * @throws IllegalArgumentException outside that range
   */
  public static HashPartitioner of(int partitions) {
    if (partitions < 1 || partitions > 1024) {
      throw new IllegalArgumentException("partitions must be in [1, 1024], was " + partitions);
    }
    return new HashPartitioner(partitions);
  }

  @Override
  public int initialPartitionCount() {
    return partitions;
  }

  /** The partition id (1-based) of {@code key}. */
  public long partitionOf(byte[] key) {
    CRC32C crc = new CRC32C();
    crc.update(key);
    // CRC is linear; a multiplicative finaliser spreads nearby keys over all partitions.
    long h = crc.getValue() * 0x9E3779B97F4A7C15L;
    h ^= h >>> 29;
    return 1 + Long.remainderUnsigned(h, partitions);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof HashPartitioner h && h.partitions == partitions;
  }

  @Override
  public int hashCode() {
    return partitions;
  }

  @Override
  public String toString() {
    return "HashPartitioner[" + partitions + "]";
  }
}
