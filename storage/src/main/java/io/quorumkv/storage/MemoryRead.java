package io.quorumkv.storage;

import java.util.Optional;

/**
 * The answer of {@link StateMachineStore#getInMemory}: the key's value (or its absence) read from
 * memory, or that answering needs a disk read.
 */
public sealed interface MemoryRead {

  /** Answering needs a read from disk: ask {@link StateMachineStore#get} on a thread that may wait for it. */
  MemoryRead NEEDS_DISK = new NeedsDisk();

  /** The key is absent. */
  MemoryRead ABSENT = new Found(Optional.empty());

  /**
   * Read from memory: what {@link StateMachineStore#get} would have returned.
   *
   * @param value the value, or empty when the key is absent
   */
  record Found(Optional<byte[]> value) implements MemoryRead {}

  /** See {@link #NEEDS_DISK}. */
  record NeedsDisk() implements MemoryRead {}
}
