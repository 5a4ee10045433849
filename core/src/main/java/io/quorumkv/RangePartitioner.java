package io.quorumkv;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Contiguous key ranges in unsigned-byte order. A cluster starts with the ranges cut by the given
 * split keys: keys {@code [k1, k2, ...]} give partitions 1 = {@code [-inf, k1)}, 2 =
 * {@code [k1, k2)}, ..., n+1 = {@code [kn, +inf)}. Ranges can be split further while serving with
 * {@link KvAdmin#split(byte[])}; the current ranges are part of the replicated state, not of this
 * object.
 */
public final class RangePartitioner implements Partitioner {

  private final List<byte[]> splitKeys;

  private RangePartitioner(List<byte[]> splitKeys) {
    this.splitKeys = splitKeys;
  }

  /** One partition holding every key. */
  public static RangePartitioner single() {
    return new RangePartitioner(List.of());
  }

  /** Partitions cut at the given UTF-8 keys, which must be non-empty and strictly increasing. */
  public static RangePartitioner of(String... splitKeys) {
    List<byte[]> keys = new ArrayList<>();
    for (String k : splitKeys) {
      keys.add(k.getBytes(StandardCharsets.UTF_8));
    }
    return ofBytes(keys);
  }

  /**
   * Partitions cut at the given keys, which must be non-empty and strictly increasing.
   *
   * @throws IllegalArgumentException otherwise
   */
  public static RangePartitioner ofBytes(List<byte[]> splitKeys) {
    List<byte[]> copy = new ArrayList<>();
    for (byte[] k : splitKeys) {
      if (k.length == 0) {
        throw new IllegalArgumentException("split keys must not be empty");
      }
      if (!copy.isEmpty() && Arrays.compareUnsigned(copy.get(copy.size() - 1), k) >= 0) {
        throw new IllegalArgumentException("split keys must be strictly increasing");
      }
      copy.add(k.clone());
    }
    return new RangePartitioner(List.copyOf(copy));
  }

  @Override
  public int initialPartitionCount() {
    return splitKeys.size() + 1;
  }

  /** The initial split keys, in order (copies). */
  public List<byte[]> splitKeys() {
    return splitKeys.stream().map(byte[]::clone).toList();
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof RangePartitioner r) || r.splitKeys.size() != splitKeys.size()) {
      return false;
    }
    for (int i = 0; i < splitKeys.size(); i++) {
      if (!Arrays.equals(splitKeys.get(i), r.splitKeys.get(i))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public int hashCode() {
    int h = 1;
    for (byte[] k : splitKeys) {
      h = 31 * h + Arrays.hashCode(k);
    }
    return h;
  }

  @Override
  public String toString() {
    List<String> keys = splitKeys.stream().map(k -> new String(k, StandardCharsets.UTF_8)).toList();
    return "RangePartitioner" + keys;
  }
}
