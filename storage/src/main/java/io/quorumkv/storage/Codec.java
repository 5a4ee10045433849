package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.HardState;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.zip.CRC32C;

/**
 * Record encodings. Every stored value is {@code [CRC32C][payload]} where the checksum covers the
 * record's key and payload: a value moved to another key is caught as well as a flipped bit.
 */
final class Codec {

  private static final EntryType[] ENTRY_TYPES = EntryType.values();

  private Codec() {}

  static int crc(byte[] key, byte[] buf, int off, int len) {
    CRC32C c = new CRC32C();
    c.update(key);
    c.update(buf, off, len);
    return (int) c.getValue();
  }

  /** Prepends the checksum of key + payload. */
  static byte[] seal(byte[] key, ByteBuffer payload) {
    int len = payload.position();
    byte[] out = new byte[4 + len];
    System.arraycopy(payload.array(), 0, out, 4, len);
    ByteBuffer.wrap(out).putInt(crc(key, out, 4, len));
    return out;
  }

  /**
   * A record of {@code payloadLength} bytes written in place after its checksum's four bytes (no
   * copy of the payload, unlike {@link #seal}: these are the per-entry and per-value encodings),
   * in this thread's {@link Scratch} buffer: fill it, then {@link #sealInPlace}, then hand it to a
   * write batch before the next record.
   */
  private static ByteBuffer unsealed(int payloadLength) {
    return Scratch.record(4 + payloadLength).position(4);
  }

  /** Checksums the filled record of {@link #unsealed}; returns it ready to read, checksum first. */
  private static ByteBuffer sealInPlace(byte[] key, ByteBuffer record) {
    record.flip().position(4);
    CRC32C c = new CRC32C();
    c.update(key);
    c.update(record);
    record.putInt(0, (int) c.getValue());
    return record.position(0);
  }

  /** A buffer's remaining bytes in an array of their own. */
  static byte[] toArray(ByteBuffer record) {
    byte[] out = new byte[record.remaining()];
    record.get(out);
    return out;
  }

  /** Checks a sealed value and returns its payload. */
  static ByteBuffer unseal(byte[] key, byte[] value, Supplier<String> where) {
    if (value.length < 4) {
      throw new StorageCorruptionException(where.get() + ": record of " + value.length + " bytes");
    }
    int stored = ByteBuffer.wrap(value).getInt();
    int actual = crc(key, value, 4, value.length - 4);
    if (stored != actual) {
      throw new StorageCorruptionException(
          where.get()
              + ": CRC32C mismatch (stored "
              + Integer.toHexString(stored)
              + ", computed "
              + Integer.toHexString(actual)
              + ")");
    }
    return ByteBuffer.wrap(value, 4, value.length - 4).slice();
  }

  /** The log record of {@code e} under {@code key}, in this thread's scratch buffer (see {@link #unsealed}). */
  static ByteBuffer entryRecord(byte[] key, Entry e) {
    ByteBuffer b = unsealed(1 + 8 + e.data().length);
    b.put((byte) e.type().ordinal()).putLong(e.term()).put(e.data());
    return sealInPlace(key, b);
  }

  static byte[] entry(byte[] key, Entry e) {
    return toArray(entryRecord(key, e));
  }

  static Entry entry(byte[] key, byte[] value, Supplier<String> where) {
    ByteBuffer b = unseal(key, value, where);
    try {
      int type = b.get();
      if (type < 0 || type >= ENTRY_TYPES.length) {
        throw new StorageCorruptionException(where.get() + ": unknown entry type " + type);
      }
      long term = b.getLong();
      byte[] data = b.remaining() == 0 ? Entry.EMPTY : new byte[b.remaining()];
      b.get(data);
      return new Entry(Keys.indexOf(key), term, ENTRY_TYPES[type], data);
    } catch (BufferUnderflowException e) {
      throw new StorageCorruptionException(where.get() + ": truncated entry");
    }
  }

  static byte[] hardState(byte[] key, HardState hs) {
    ByteBuffer b = ByteBuffer.allocate(24);
    b.putLong(hs.term()).putLong(hs.vote()).putLong(hs.commit());
    return seal(key, b);
  }

  static HardState hardState(ByteBuffer b) {
    return new HardState(b.getLong(), b.getLong(), b.getLong());
  }

  /** Two longs: (index, term) for the log base and the applied position. */
  static byte[] position(byte[] key, long index, long term) {
    return seal(key, ByteBuffer.allocate(16).putLong(index).putLong(term));
  }

  static int confStateSize(ConfState cs) {
    return 4 * 4
        + 8
            * (cs.voters().size()
                + cs.learners().size()
                + cs.votersOutgoing().size()
                + cs.learnersNext().size())
        + 1;
  }

  static void putConfState(ByteBuffer b, ConfState cs) {
    for (Set<Long> s :
        List.of(cs.voters(), cs.learners(), cs.votersOutgoing(), cs.learnersNext())) {
      List<Long> sorted = new ArrayList<>(s);
      sorted.sort(null);
      b.putInt(sorted.size());
      for (long id : sorted) {
        b.putLong(id);
      }
    }
    b.put((byte) (cs.autoLeave() ? 1 : 0));
  }

  static ConfState getConfState(ByteBuffer b) {
    List<Set<Long>> sets = new ArrayList<>(4);
    for (int i = 0; i < 4; i++) {
      int n = b.getInt();
      if (n < 0 || n > b.remaining() / 8) {
        throw new IllegalArgumentException("bad member count " + n);
      }
      Set<Long> s = new HashSet<>();
      for (int j = 0; j < n; j++) {
        s.add(b.getLong());
      }
      sets.add(s);
    }
    return new ConfState(sets.get(0), sets.get(1), sets.get(2), sets.get(3), b.get() == 1);
  }

  /** (index, membership) of the last applied configuration. */
  static byte[] confState(byte[] key, long index, ConfState cs) {
    ByteBuffer b = ByteBuffer.allocate(8 + confStateSize(cs));
    b.putLong(index);
    putConfState(b, cs);
    return seal(key, b);
  }

  /** The state record of {@code value} under {@code key}, in this thread's scratch buffer (see {@link #unsealed}). */
  static ByteBuffer stateRecord(byte[] key, byte[] value) {
    return sealInPlace(key, unsealed(value.length).put(value));
  }

  static byte[] stateValue(byte[] key, byte[] value) {
    return toArray(stateRecord(key, value));
  }

  static byte[] stateValue(byte[] key, byte[] stored, Supplier<String> where) {
    ByteBuffer b = unseal(key, stored, where);
    byte[] v = new byte[b.remaining()];
    b.get(v);
    return v;
  }
}
