package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.SnapshotMetadata;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The snapshot payload: one group's key space at one applied index, engine-neutral (a RocksDB node
 * can install a payload made by the in-memory engine and back). Keys are group-local, so a
 * payload is independent of where it is installed.
 *
 * <pre>
 * header   "QKVSNAP1" | group | index | term | confLen:int | confState
 * record*  0x01 | keyLen:int | key | valueLen:int | value       (keys strictly ascending)
 * trailer  0x00 | recordCount:long | CRC32C of every byte before it:int
 * </pre>
 */
final class SnapshotFormat {

  static final long MAGIC = 0x514b56534e415031L; // "QKVSNAP1"
  private static final byte RECORD = 1;
  private static final byte END = 0;
  private static final int BUFFER = 64 * 1024;
  static final int MAX_KEY_OR_VALUE = 256 << 20;

  private SnapshotFormat() {}

  /** The descriptor carried in {@link io.quorumkv.raft.Snapshot#data()}: which payload to stream. */
  static byte[] descriptor(long groupId, SnapshotMetadata m) {
    return ByteBuffer.allocate(25).put((byte) 1).putLong(groupId).putLong(m.index())
        .putLong(m.term()).array();
  }

  /** The blob name of a group's snapshot payload. */
  static String blobName(long groupId, long index, long term) {
    return groupId + "/" + index + "-" + term + ".snap";
  }

  /** Group id encoded in a descriptor, checking its shape. */
  static long descriptorGroup(byte[] descriptor) {
    if (descriptor.length != 25 || descriptor[0] != 1) {
      throw new IllegalArgumentException("not a QuorumKV snapshot descriptor");
    }
    return ByteBuffer.wrap(descriptor, 1, 8).getLong();
  }

  /** Writes a payload through a buffered, checksumming stream. */
  static final class Writer {
    private final BlobStore.Writer out;
    private final ByteBuffer buf = ByteBuffer.allocate(BUFFER);
    private final CRC32C crc = new CRC32C();
    private long count;

    Writer(BlobStore.Writer out, long groupId, SnapshotMetadata m) {
      this.out = out;
      ByteBuffer h = ByteBuffer.allocate(8 * 4 + 4 + Codec.confStateSize(m.confState()));
      h.putLong(MAGIC).putLong(groupId).putLong(m.index()).putLong(m.term());
      h.putInt(Codec.confStateSize(m.confState()));
      Codec.putConfState(h, m.confState());
      put(h.array());
    }

    void record(byte[] key, byte[] value) {
      put(new byte[] {RECORD});
      putInt(key.length);
      put(key);
      putInt(value.length);
      put(value);
      count++;
    }

    /** Writes the trailer and flushes; the caller commits the blob. */
    void finish() {
      put(new byte[] {END});
      ByteBuffer c = ByteBuffer.allocate(8).putLong(count);
      put(c.array());
      flush();
      int sum = (int) crc.getValue();
      byte[] t = ByteBuffer.allocate(4).putInt(sum).array();
      out.write(t, 0, 4);
    }

    private void putInt(int v) {
      put(ByteBuffer.allocate(4).putInt(v).array());
    }

    private void put(byte[] b) {
      crc.update(b);
      int off = 0;
      while (off < b.length) {
        int n = Math.min(buf.remaining(), b.length - off);
        buf.put(b, off, n);
        off += n;
        if (!buf.hasRemaining()) {
          flush();
        }
      }
    }

    private void flush() {
      out.write(buf.array(), 0, buf.position());
      buf.clear();
    }
  }

  /** Receives the records of a payload. */
  @FunctionalInterface
  interface RecordVisitor {
    void record(byte[] key, byte[] value);
  }

  /**
   * Reads a whole payload, checking its structure and checksum, and checks its header against the
   * expected snapshot. Passes records to {@code visitor} as they are read: run it once with a
   * no-op visitor to verify before changing anything.
   */
  static void read(
      BlobStore.Reader in, String where, long groupId, SnapshotMetadata expected,
      RecordVisitor visitor) {
    Sequential s = new Sequential(in, where);
    try {
      if (s.getLong() != MAGIC) {
        throw new StorageCorruptionException(where + ": not a snapshot payload (bad magic)");
      }
      long g = s.getLong();
      long index = s.getLong();
      long term = s.getLong();
      int confLen = s.getInt();
      if (confLen < 0 || confLen > 1 << 20) {
        throw new StorageCorruptionException(where + ": bad membership length " + confLen);
      }
      ConfState cs = Codec.getConfState(ByteBuffer.wrap(s.get(confLen)));
      if (g != groupId || index != expected.index() || term != expected.term()
          || !cs.equals(expected.confState())) {
        throw new StorageCorruptionException(
            where + ": payload is for group " + g + " at " + index + "@" + term + " " + cs
                + ", expected group " + groupId + " at " + expected.index() + "@"
                + expected.term() + " " + expected.confState());
      }
      long count = 0;
      byte[] previous = null;
      while (true) {
        byte tag = s.get(1)[0];
        if (tag == END) {
          break;
        }
        if (tag != RECORD) {
          throw new StorageCorruptionException(where + ": bad record tag " + tag);
        }
        byte[] key = s.get(s.length());
        byte[] value = s.get(s.length());
        if (previous != null && Arrays.compareUnsigned(previous, key) >= 0) {
          throw new StorageCorruptionException(where + ": keys out of order at record " + count);
        }
        previous = key;
        visitor.record(key, value);
        count++;
      }
      long declared = s.getLong();
      int computed = (int) s.crc.getValue();
      int stored = s.getIntUnchecked();
      if (declared != count || stored != computed) {
        throw new StorageCorruptionException(
            where + ": payload checksum or record count mismatch (" + count + " records read, "
                + declared + " declared)");
      }
      if (s.pos != in.size()) {
        throw new StorageCorruptionException(where + ": trailing bytes after the payload");
      }
    } catch (BufferUnderflowException | IllegalArgumentException e) {
      throw new StorageCorruptionException(where + ": malformed payload: " + e);
    }
  }

  /** A buffered sequential reader over a blob that checksums what it hands out. */
  private static final class Sequential {
    private final BlobStore.Reader in;
    private final String where;
    private final CRC32C crc = new CRC32C();
    private final byte[] buf = new byte[BUFFER];
    private int bufPos;
    private int bufLen;
    private long pos;

    Sequential(BlobStore.Reader in, String where) {
      this.in = in;
      this.where = where;
    }

    byte[] get(int n) {
      byte[] out = rawGet(n);
      crc.update(out);
      return out;
    }

    long getLong() {
      return ByteBuffer.wrap(get(8)).getLong();
    }

    int getInt() {
      return ByteBuffer.wrap(get(4)).getInt();
    }

    int getIntUnchecked() {
      return ByteBuffer.wrap(rawGet(4)).getInt();
    }

    int length() {
      int n = getInt();
      if (n < 0 || n > MAX_KEY_OR_VALUE) {
        throw new StorageCorruptionException(where + ": bad length " + n + " at offset " + pos);
      }
      return n;
    }

    private byte[] rawGet(int n) {
      byte[] out = new byte[n];
      int off = 0;
      while (off < n) {
        if (bufPos == bufLen) {
          long filePos = pos + off;
          int r = in.read(filePos, buf, 0, buf.length);
          if (r <= 0) {
            throw new StorageCorruptionException(where + ": payload ends early at " + filePos);
          }
          bufPos = 0;
          bufLen = r;
        }
        int c = Math.min(n - off, bufLen - bufPos);
        System.arraycopy(buf, bufPos, out, off, c);
        bufPos += c;
        off += c;
      }
      pos += n;
      return out;
    }
  }
}
