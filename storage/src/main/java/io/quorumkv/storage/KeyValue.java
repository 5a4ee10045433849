package io.quorumkv.storage;

import java.util.Arrays;
import java.util.Objects;

/**
 * One record returned by {@link StateMachineStore#scan}.
 *
 * @param key   the group-local key
 * @param value its value
 */
public record KeyValue(byte[] key, byte[] value) {
  public KeyValue {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(value, "value");
  }

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
    return "KeyValue[" + key.length + "B=" + value.length + "B]";
  }
}
