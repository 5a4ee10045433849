package io.quorumkv.raft.sim;

import io.quorumkv.testkit.Op;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A register write as it travels in a log entry: which client request it is, and what it does.
 *
 * @param requestId unique per client operation, so the node that proposed it recognises it when
 *                  it is applied (or sees that another entry took its index)
 * @param f         {@code PUT}, {@code CAS} or {@code DELETE} (reads do not go through the log)
 * @param key       the register
 * @param value     the value to write; null for a delete
 * @param expected  for a cas, the value the register must hold (null = absent)
 */
record Command(long requestId, Op.F f, String key, String value, String expected) {

  Command {
    if (f == Op.F.GET) {
      throw new IllegalArgumentException("reads are served by ReadIndex, not logged");
    }
  }

  byte[] encode() {
    byte[] k = key.getBytes(StandardCharsets.UTF_8);
    byte[] v = value == null ? null : value.getBytes(StandardCharsets.UTF_8);
    byte[] e = expected == null ? null : expected.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(1 + 8 + 4 + k.length + 4 + len(v) + 4 + len(e));
    b.put((byte) f.ordinal()).putLong(requestId).putInt(k.length).put(k);
    put(b, v);
    put(b, e);
    return b.array();
  }

  static Command decode(byte[] data) {
    ByteBuffer b = ByteBuffer.wrap(data);
    Op.F f = Op.F.values()[b.get()];
    long id = b.getLong();
    byte[] k = new byte[b.getInt()];
    b.get(k);
    return new Command(id, f, new String(k, StandardCharsets.UTF_8), get(b), get(b));
  }

  private static int len(byte[] a) {
    return a == null ? 0 : a.length;
  }

  private static void put(ByteBuffer b, byte[] a) {
    b.putInt(a == null ? -1 : a.length);
    if (a != null) {
      b.put(a);
    }
  }

  private static String get(ByteBuffer b) {
    int n = b.getInt();
    if (n < 0) {
      return null;
    }
    byte[] a = new byte[n];
    b.get(a);
    return new String(a, StandardCharsets.UTF_8);
  }
}
