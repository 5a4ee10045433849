package io.quorumkv.raft;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One entry of the replicated log.
 *
 * <p>An entry's data is owned by the log once it is appended: neither the caller nor the core
 * mutates the array afterwards, so it is shared, never copied, between the core, storage and
 * transport.
 *
 * @param index position in the log, starting at 1
 * @param term  the leader's term when the entry was created
 * @param type  whether {@code data} is an application command or an encoded {@link ConfChange}
 * @param data  the payload; empty (never null) for the no-op entry a new leader appends
 */
public record Entry(long index, long term, EntryType type, byte[] data) {

  /** Shared empty payload, used by the no-op entry of each new leader. */
  public static final byte[] EMPTY = new byte[0];

  /** Fixed per-entry overhead counted by {@link #sizeBytes()}: index, term and type. */
  public static final int HEADER_BYTES = 17;

  public Entry {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(data, "data");
  }

  /** A normal (application) entry. */
  public static Entry normal(long index, long term, byte[] data) {
    return new Entry(index, term, EntryType.NORMAL, data);
  }

  /** The size this entry counts for against message and batch byte limits. */
  public long sizeBytes() {
    return HEADER_BYTES + data.length;
  }

  /** The sum of {@link #sizeBytes()} over {@code entries}. */
  public static long sizeBytes(List<Entry> entries) {
    long bytes = 0;
    for (Entry e : entries) {
      bytes += e.sizeBytes();
    }
    return bytes;
  }

  /** Content equality: records compare arrays by identity, entries compare them by value. */
  @Override
  public boolean equals(Object o) {
    return o instanceof Entry e
        && e.index == index
        && e.term == term
        && e.type == type
        && Arrays.equals(e.data, data);
  }

  @Override
  public int hashCode() {
    return Objects.hash(index, term, type) * 31 + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "Entry[" + index + "@" + term + " " + type + " " + data.length + "B]";
  }
}
