package io.quorumkv.storage;

import java.util.Arrays;
import java.util.Objects;

/**
 * One change to a group's key space, applied by {@link StateMachineStore#apply}. Keys are opaque
 * byte strings ordered as unsigned bytes; they are local to the group (the engine adds the group's
 * prefix), so the same key in two groups is two different records.
 */
public sealed interface KvMutation {

  /** Sets {@code key} to {@code value}. */
  record Put(byte[] key, byte[] value) implements KvMutation {
    public Put {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Put p && Arrays.equals(p.key, key) && Arrays.equals(p.value, value);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(key) * 31 + Arrays.hashCode(value);
    }

    @Override
    public String toString() {
      return "Put[" + key.length + "B=" + value.length + "B]";
    }
  }

  /** Removes {@code key} (a no-op if absent). */
  record Delete(byte[] key) implements KvMutation {
    public Delete {
      Objects.requireNonNull(key, "key");
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Delete d && Arrays.equals(d.key, key);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(key);
    }

    @Override
    public String toString() {
      return "Delete[" + key.length + "B]";
    }
  }

  /** Removes every key in {@code [startKey, endKey)}. */
  record DeleteRange(byte[] startKey, byte[] endKey) implements KvMutation {
    public DeleteRange {
      Objects.requireNonNull(startKey, "startKey");
      Objects.requireNonNull(endKey, "endKey");
      if (Arrays.compareUnsigned(startKey, endKey) > 0) {
        throw new IllegalArgumentException("startKey after endKey");
      }
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof DeleteRange d
          && Arrays.equals(d.startKey, startKey)
          && Arrays.equals(d.endKey, endKey);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(startKey) * 31 + Arrays.hashCode(endKey);
    }

    @Override
    public String toString() {
      return "DeleteRange[" + startKey.length + "B.." + endKey.length + "B]";
    }
  }

  /** Shorthand for {@link Put}. */
  static KvMutation put(byte[] key, byte[] value) {
    return new Put(key, value);
  }

  /** Shorthand for {@link Delete}. */
  static KvMutation delete(byte[] key) {
    return new Delete(key);
  }

  /** Shorthand for {@link DeleteRange}. */
  static KvMutation deleteRange(byte[] startKey, byte[] endKey) {
    return new DeleteRange(startKey, endKey);
  }
}
