package io.quorumkv;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** A state-changing operation on one partition's keys, as replicated in the log. */
sealed interface WriteOp {

  /** Every key the operation touches (to route it and to check the partition's range). */
  List<byte[]> keys();

  /** Set a key. */
  record Put(byte[] key, byte[] value) implements WriteOp {
    public Put {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
    }

    @Override
    public List<byte[]> keys() {
      return List.of(key);
    }
  }

  /** Remove a key; the result says whether it was present. */
  record Delete(byte[] key) implements WriteOp {
    public Delete {
      Objects.requireNonNull(key, "key");
    }

    @Override
    public List<byte[]> keys() {
      return List.of(key);
    }
  }

  /** Set a key if it holds {@code expected} (empty: if it is absent). */
  record Cas(byte[] key, Optional<byte[]> expected, byte[] value) implements WriteOp {
    public Cas {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(expected, "expected");
      Objects.requireNonNull(value, "value");
    }

    @Override
    public List<byte[]> keys() {
      return List.of(key);
    }
  }

  /** Apply every put and delete if every expectation holds. */
  record Batch(List<BatchOp> ops) implements WriteOp {
    public Batch {
      ops = List.copyOf(ops);
      if (ops.isEmpty()) {
        throw new IllegalArgumentException("a batch needs at least one operation");
      }
    }

    @Override
    public List<byte[]> keys() {
      return ops.stream().map(BatchOp::key).toList();
    }
  }
}
