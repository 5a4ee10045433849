package io.quorumkv;

import io.quorumkv.storage.ApplyBatch;
import io.quorumkv.storage.MemoryRead;
import io.quorumkv.storage.KvMutation;
import io.quorumkv.storage.StateMachineStore;
import io.quorumkv.storage.StateView;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.StampedLock;

/** A {@link PartitionStore} over the storage module's per-group {@link StateMachineStore}. */
final class StoragePartitionStore implements PartitionStore {

  private final StateMachineStore store;

  StoragePartitionStore(StateMachineStore store) {
    this.store = store;
  }

  @Override
  public long appliedIndex() {
    return store.appliedIndex();
  }

  @Override
  public StampedLock stateLock() {
    return store.stateLock();
  }

  @Override
  public Optional<byte[]> get(byte[] key) {
    return store.get(key);
  }

  @Override
  public MemoryRead getInMemory(byte[] key) {
    return store.getInMemory(key);
  }

  @Override
  public List<KeyValue> scan(byte[] from, byte[] to, int limit) {
    return fromStorage(store.scan(from, end(to), limit));
  }

  @Override
  public View view() {
    StateView view = store.openView();
    return new View() {
      @Override
      public List<KeyValue> scan(byte[] from, byte[] to, int limit) {
        return fromStorage(view.scan(from, end(to), limit));
      }

      @Override
      public void close() {
        view.close();
      }
    };
  }

  /** The storage API has no unbounded end: 0xFF... is past every key of ours (all start with a tag). */
  private static byte[] end(byte[] to) {
    return to.length == 0 ? new byte[] {(byte) 0xFF} : to;
  }

  private static List<KeyValue> fromStorage(List<io.quorumkv.storage.KeyValue> records) {
    List<KeyValue> out = new ArrayList<>(records.size());
    for (io.quorumkv.storage.KeyValue kv : records) {
      out.add(new KeyValue(kv.key(), kv.value()));
    }
    return out;
  }

  @Override
  public void commit(Commit commit) {
    List<KvMutation> mutations = toStorage(commit.mutations());
    if (commit.confState() == null) {
      store.apply(commit.appliedIndex(), commit.appliedTerm(), mutations);
    } else {
      store.apply(commit.appliedIndex(), commit.appliedTerm(), mutations, commit.confState());
    }
  }

  /**
   * Stages {@code commit} of the partition whose state machine is {@code store} into
   * {@code batch}, a write shared with other partitions' commits: written, and visible, when the
   * batch commits (see {@link StateMachineStore#apply(ApplyBatch, long, long, List,
   * io.quorumkv.raft.ConfState)}).
   */
  static void stage(StateMachineStore store, ApplyBatch batch, Commit commit) {
    store.apply(batch, commit.appliedIndex(), commit.appliedTerm(), toStorage(commit.mutations()),
        commit.confState());
  }

  private static List<KvMutation> toStorage(List<Mutation> mutations) {
    List<KvMutation> out = new ArrayList<>(mutations.size());
    for (Mutation m : mutations) {
      if (m instanceof Mutation.Put p) {
        out.add(KvMutation.put(p.key(), p.value()));
      } else if (m instanceof Mutation.Delete d) {
        out.add(KvMutation.delete(d.key()));
      } else {
        Mutation.DeleteRange r = (Mutation.DeleteRange) m;
        out.add(KvMutation.deleteRange(r.from(), r.to().length == 0 ? new byte[] {(byte) 0xFF} : r.to()));
      }
    }
    return out;
  }
}
