package io.quorumkv.storage;

import java.nio.ByteBuffer;

/**
 * Key layout. Every key starts with the 8-byte big-endian group id, so one group's records are
 * contiguous in every column family and a range delete removes exactly one group:
 *
 * <pre>
 * log        [group][index]        -> entry        (index big-endian: keys sort in log order)
 * raft_meta  [group][type]         -> hard state, log base, snapshot, applied, membership, restore
 * state      [group][user key]     -> value
 * </pre>
 */
final class Keys {

  static final byte HARD_STATE = 1;
  static final byte LOG_BASE = 2;
  static final byte SNAPSHOT = 3;
  static final byte APPLIED = 4;
  static final byte CONF_STATE = 5;
  static final byte RESTORE = 6;

  private Keys() {}

  /** Group ids are non-negative and below Long.MAX_VALUE, so group + 1 bounds a group's range. */
  static void checkGroup(long groupId) {
    if (groupId < 0 || groupId == Long.MAX_VALUE) {
      throw new IllegalArgumentException("group id out of range: " + groupId);
    }
  }

  static byte[] log(long groupId, long index) {
    return ByteBuffer.allocate(16).putLong(groupId).putLong(index).array();
  }

  static byte[] meta(long groupId, byte type) {
    return ByteBuffer.allocate(9).putLong(groupId).put(type).array();
  }

  static byte[] group(long groupId) {
    return ByteBuffer.allocate(8).putLong(groupId).array();
  }

  static byte[] state(long groupId, byte[] userKey) {
    return ByteBuffer.allocate(8 + userKey.length).putLong(groupId).put(userKey).array();
  }

  static long groupOf(byte[] key) {
    return ByteBuffer.wrap(key, 0, 8).getLong();
  }

  static long indexOf(byte[] logKey) {
    return ByteBuffer.wrap(logKey, 8, 8).getLong();
  }

  /** A key in words, for error messages. */
  static String describe(Backend.Cf cf, byte[] key) {
    if (key.length < 8) {
      return "key of " + key.length + " bytes";
    }
    long g = groupOf(key);
    return switch (cf) {
      case LOG -> key.length == 16 ? "group " + g + " log index " + indexOf(key) : "group " + g;
      case META -> key.length == 9 ? "group " + g + " metadata record " + key[8] : "group " + g;
      case STATE -> "group " + g + " state key of " + (key.length - 8) + " bytes";
    };
  }

  static byte[] userKey(byte[] stateKey) {
    byte[] k = new byte[stateKey.length - 8];
    System.arraycopy(stateKey, 8, k, 0, k.length);
    return k;
  }
}
