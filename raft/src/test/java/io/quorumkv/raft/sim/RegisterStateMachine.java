package io.quorumkv.raft.sim;

import io.quorumkv.raft.ConfState;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One node's key-value registers. It is "durable" as a whole: applying an entry updates the map
 * and the applied index in one atomic step, as a RocksDB write batch would, so a restart resumes
 * from {@link #applied()} and never applies an entry twice.
 */
final class RegisterStateMachine {

  private final TreeMap<String, String> registers = new TreeMap<>();
  private long applied;
  private ConfState confState;

  RegisterStateMachine(ConfState initial) {
    this.confState = initial;
  }

  long applied() {
    return applied;
  }

  ConfState confState() {
    return confState;
  }

  String get(String key) {
    return registers.get(key);
  }

  /** Marks {@code index} applied without a command (a leader's no-op entry). */
  void skip(long index) {
    advance(index);
  }

  /** Records the membership after a conf change entry at {@code index}. */
  void applyConfState(long index, ConfState cs) {
    advance(index);
    confState = cs;
  }

  /** Applies a command at {@code index}; returns false only for a cas whose comparison failed. */
  boolean apply(long index, Command c) {
    advance(index);
    return switch (c.f()) {
      case PUT -> {
        registers.put(c.key(), c.value());
        yield true;
      }
      case DELETE -> {
        registers.remove(c.key());
        yield true;
      }
      case CAS -> {
        if (!Objects.equals(registers.get(c.key()), c.expected())) {
          yield false;
        }
        registers.put(c.key(), c.value());
        yield true;
      }
      case GET -> throw new IllegalStateException("a read in the log: " + c);
    };
  }

  private void advance(long index) {
    if (index != applied + 1) {
      throw new IllegalStateException("applying " + index + " after " + applied);
    }
    applied = index;
  }

  /** The registers as snapshot data. */
  byte[] snapshotData() {
    int size = 4;
    for (Map.Entry<String, String> e : registers.entrySet()) {
      size += 8 + utf8(e.getKey()).length + utf8(e.getValue()).length;
    }
    ByteBuffer b = ByteBuffer.allocate(size).putInt(registers.size());
    for (Map.Entry<String, String> e : registers.entrySet()) {
      byte[] k = utf8(e.getKey());
      byte[] v = utf8(e.getValue());
      b.putInt(k.length).put(k).putInt(v.length).put(v);
    }
    return b.array();
  }

  /** Replaces everything by a snapshot taken at {@code index}. */
  void restore(long index, ConfState cs, byte[] data) {
    registers.clear();
    ByteBuffer b = ByteBuffer.wrap(data);
    for (int n = b.getInt(); n > 0; n--) {
      byte[] k = new byte[b.getInt()];
      b.get(k);
      byte[] v = new byte[b.getInt()];
      b.get(v);
      registers.put(new String(k, StandardCharsets.UTF_8), new String(v, StandardCharsets.UTF_8));
    }
    applied = index;
    confState = cs;
  }

  /** A digest of the registers, compared across nodes at equal applied indexes. */
  long digest() {
    long h = 1125899906842597L;
    for (Map.Entry<String, String> e : registers.entrySet()) {
      h = 31 * h + e.getKey().hashCode();
      h = 31 * h + e.getValue().hashCode();
    }
    return h;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
