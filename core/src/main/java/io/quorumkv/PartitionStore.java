package io.quorumkv;

import io.quorumkv.raft.ConfState;
import io.quorumkv.storage.MemoryRead;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.StampedLock;

/**
 * The durable key space of one partition's state machine, with the index it has applied. The
 * applier is its only writer; readers may read concurrently and see whole commits only.
 */
interface PartitionStore {

  /** The last index whose effects are durable in this store (0 for a new partition). */
  long appliedIndex();

  /**
   * Held for writing while a commit's state and its {@link #appliedIndex()} become visible
   * together: a reader that reads the index, then the state, under one optimistic read of it that
   * still validates afterwards read exactly the state at that index (see
   * {@link io.quorumkv.storage.StateMachineStore#stateLock()}). Only the store writes under it.
   */
  StampedLock stateLock();

  /** The value at {@code key}, if any. */
  Optional<byte[]> get(byte[] key);

  /**
   * {@link #get}, or {@link MemoryRead#NEEDS_DISK} when answering would wait for the disk (see
   * {@link io.quorumkv.storage.StateMachineStore#getInMemory}). A store held in memory always answers.
   */
  default MemoryRead getInMemory(byte[] key) {
    return new MemoryRead.Found(get(key));
  }

  /**
   * Up to {@code limit} entries of {@code [from, to)} in unsigned order; an empty {@code to} means
   * unbounded.
   */
  List<KeyValue> scan(byte[] from, byte[] to, int limit);

  /**
   * A consistent view of this store as of now, readable from another thread while commits go on:
   * a replica hash is computed from it away from the applier. Opened by the applier between
   * commits, it shows exactly the state at {@link #appliedIndex()}. It pins what it shows (a
   * RocksDB snapshot): close it once read.
   */
  View view();

  /** A store's state as of one moment ({@link #view()}). */
  interface View extends AutoCloseable {
    /**
     * Up to {@code limit} entries of {@code [from, to)} in unsigned order, as of the view's opening;
     * an empty {@code to} means unbounded.
     */
    List<KeyValue> scan(byte[] from, byte[] to, int limit);

    /** Releases what the view pins; idempotent. */
    @Override
    void close();
  }

  /**
   * Applies every mutation of {@code commit} and records its applied index and membership,
   * atomically: after a crash either all of it is there or none. Its index is after the current
   * {@link #appliedIndex()}.
   */
  void commit(Commit commit);

  /**
   * What one commit brings: the mutations, and the index (of term {@code appliedTerm}) the store
   * is at after them, with the membership as of that index if an entry changed it.
   *
   * @param mutations    the changes, in order
   * @param appliedIndex the last index they apply
   * @param appliedTerm  its term
   * @param confState    the membership after a change among the applied entries, or null
   */
  record Commit(List<Mutation> mutations, long appliedIndex, long appliedTerm, ConfState confState) {
    public Commit {
      mutations = List.copyOf(mutations);
    }
  }

  /** One change of a commit. */
  sealed interface Mutation {
    /** Set a key. */
    record Put(byte[] key, byte[] value) implements Mutation {
      public Put {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
      }
    }

    /** Remove a key. */
    record Delete(byte[] key) implements Mutation {
      public Delete {
        Objects.requireNonNull(key, "key");
      }
    }

    /** Remove every key of {@code [from, to)}; an empty {@code to} means unbounded. */
    record DeleteRange(byte[] from, byte[] to) implements Mutation {
      public DeleteRange {
        Objects.requireNonNull(from, "from");
        Objects.requireNonNull(to, "to");
      }
    }
  }
}
