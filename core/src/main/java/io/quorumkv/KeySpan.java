package io.quorumkv;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/** Which keys a partition owns: a hash slot or a key range. Part of the replicated state. */
sealed interface KeySpan {

  /** Whether {@code key} belongs to the partition. */
  boolean owns(byte[] key);

  /** For a person: {@code "hash 2/4"} or {@code "[g, p)"}. */
  String describe();

  /** Keys whose hash puts them in partition {@code partitionId} of {@code partitions}. */
  record HashSlot(long partitionId, int partitions) implements KeySpan {
    @Override
    public boolean owns(byte[] key) {
      return HashPartitioner.of(partitions).partitionOf(key) == partitionId;
    }

    @Override
    public String describe() {
      return "hash " + partitionId + "/" + partitions;
    }
  }

  /** Keys in {@code [start, end)}; an empty {@code end} means unbounded. */
  record Range(byte[] start, byte[] end) implements KeySpan {
    public Range {
      Objects.requireNonNull(start, "start");
      Objects.requireNonNull(end, "end");
    }

    @Override
    public boolean owns(byte[] key) {
      return Arrays.compareUnsigned(key, start) >= 0 && (end.length == 0 || Arrays.compareUnsigned(key, end) < 0);
    }

    /** Whether {@code key} could split this range into two non-empty ranges. */
    boolean splittableAt(byte[] key) {
      return key.length > 0 && Arrays.compareUnsigned(key, start) > 0 && owns(key);
    }

    /** The part of {@code [from, to)} inside this range, as {from, to}; null if none. */
    byte[][] clamp(byte[] from, byte[] to) {
      byte[] lo = Arrays.compareUnsigned(from, start) >= 0 ? from : start;
      byte[] hi;
      if (end.length == 0) {
        hi = to;
      } else if (to.length == 0) {
        hi = end;
      } else {
        hi = Arrays.compareUnsigned(to, end) <= 0 ? to : end;
      }
      if (hi.length != 0 && Arrays.compareUnsigned(lo, hi) >= 0) {
        return null;
      }
      return new byte[][] {lo, hi};
    }

    @Override
    public String describe() {
      return "[" + new String(start, StandardCharsets.UTF_8) + ", "
          + (end.length == 0 ? "+inf" : new String(end, StandardCharsets.UTF_8)) + ")";
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Range r && Arrays.equals(r.start, start) && Arrays.equals(r.end, end);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(start) * 31 + Arrays.hashCode(end);
    }

    @Override
    public String toString() {
      return describe();
    }
  }
}
