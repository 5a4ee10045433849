package io.quorumkv;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;

/**
 * One operation of an atomic batch ({@link KvStore#batch(java.util.List)}). Every key of a batch
 * must fall in the same partition. The batch applies all its {@link Put}s and {@link Delete}s, in
 * order, if and only if every {@link Expect} holds at the moment it is applied; otherwise it
 * applies nothing.
 */
public sealed interface BatchOp {

  /** The key this operation touches. */
  byte[] key();

  /** Sets {@code key} to {@code value}. */
  record Put(byte[] key, byte[] value) implements BatchOp {
    /** Checks the fields; the arrays are kept as given, not copied: do not change them while the call runs. */
    public Put {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
    }
  }

  /** Removes {@code key} (no effect if absent). */
  record Delete(byte[] key) implements BatchOp {
    /** Checks the fields; the arrays are kept as given, not copied: do not change them while the call runs. */
    public Delete {
      Objects.requireNonNull(key, "key");
    }
  }

  /**
   * A condition: {@code key} currently holds {@code value}, or is absent when {@code value} is
   * empty. Checked against the state before any write of the same batch.
   */
  record Expect(byte[] key, Optional<byte[]> value) implements BatchOp {
    /** Checks the fields; the arrays are kept as given, not copied: do not change them while the call runs. */
    public Expect {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
    }
  }

  /** A put of UTF-8 strings. */
  static BatchOp put(String key, String value) {
    return new Put(utf8(key), utf8(value));
  }

  /** A delete of a UTF-8 key. */
  static BatchOp delete(String key) {
    return new Delete(utf8(key));
  }

  /** A condition that {@code key} holds {@code value} (UTF-8). */
  static BatchOp expect(String key, String value) {
    return new Expect(utf8(key), Optional.of(utf8(value)));
  }

  /** A condition that {@code key} is absent. */
  static BatchOp expectAbsent(String key) {
    return new Expect(utf8(key), Optional.empty());
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
