package io.quorumkv;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * One key and its value, as returned by a scan. The arrays are owned by the caller.
 *
 * @param key   the key; never null
 * @param value the value; never null
 */
public record KeyValue(byte[] key, byte[] value) {

  /** Checks and copies the fields. */

  public KeyValue {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(value, "value");
  }

  /** The key decoded as UTF-8. */
  public String keyString() {
    return new String(key, StandardCharsets.UTF_8);
  }

  /** The value decoded as UTF-8. */
  public String valueString() {
    return new String(value, StandardCharsets.UTF_8);
  }

  /** Content equality (records compare arrays by identity). */
  @Override
  public boolean equals(Object o) {
    return o instanceof KeyValue kv && Arrays.equals(kv.key, key) && Arrays.equals(kv.value, value);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(key) * 31 + Arrays.hashCode(value);
  }

  @Override
  public String toString() {
    return keyString() + "=" + valueString();
  }
}
