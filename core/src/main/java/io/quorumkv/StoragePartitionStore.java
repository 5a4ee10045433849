package io.quorumkv;

import io.quorumkv.raft.ConfState;
import io.quorumkv.storage.MemoryRead;
import io.quorumkv.storage.KvMutation;
import io.quorumkv.storage.StateMachineStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

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
  public Optional<byte[]> get(byte[] key) {
    return store.get(key);
  }

  @Override
  public MemoryRead getInMemory(byte[] key) {
    return store.getInMemory(key);
  }

  @Override
  public List<KeyValue> scan(byte[] from, byte[] to, int limit) {
    // The storage API has no unbounded end: 0xFF... past every key of ours (all start with a tag).
    byte[] end = to.length == 0 ? new byte[] {(byte) 0xFF} : to;
    List<KeyValue> out = new ArrayList<>();
    for (io.quorumkv.storage.KeyValue kv : store.scan(from, end, limit)) {
      out.add(new KeyValue(kv.key(), kv.value()));
    }
    return out;
  }

  @Override
  public void commit(List<Mutation> mutations, long appliedIndex, long appliedTerm, ConfState confState) {
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
    if (confState == null) {
      store.apply(appliedIndex, appliedTerm, out);
    } else {
      store.apply(appliedIndex, appliedTerm, out, confState);
    }
  }
}
