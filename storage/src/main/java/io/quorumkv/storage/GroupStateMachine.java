package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import io.quorumkv.raft.SnapshotUnavailableException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.StampedLock;

/** {@link StateMachineStore} of one group, over the engine's {@code state} key space. */
final class GroupStateMachine implements StateMachineStore {

  private final StorageEngine engine;
  private final StorageEngine.Group group;

  GroupStateMachine(StorageEngine engine, StorageEngine.Group group) {
    this.engine = engine;
    this.group = group;
  }

  @Override
  public long groupId() {
    return group.id;
  }

  @Override
  public void apply(long index, long term, List<KvMutation> mutations) {
    apply(index, term, mutations, null);
  }

  @Override
  public void apply(long index, long term, List<KvMutation> mutations, ConfState confState) {
    try (ApplyBatch batch = engine.newApplyBatch()) {
      apply(batch, index, term, mutations, confState);
      batch.commit();
    }
  }

  @Override
  public void apply(ApplyBatch batch, long index, long term, List<KvMutation> mutations,
      ConfState confState) {
    if (batch.engine() != engine) {
      throw new IllegalArgumentException("apply batch of another storage engine");
    }
    long g = group.id;
    engine.checkUsable(() -> "apply index " + index + " of group " + g);
    SmView sm = batch.view(group);
    if (index <= sm.appliedIndex()) {
      throw new IllegalArgumentException(
          "group " + g + ": apply at " + index + " is not after applied index "
              + sm.appliedIndex());
    }
    long last = group.writtenView().lastIndex();
    if (index > last) {
      // The state machine must never run ahead of the written log: a log write the log writer
      // reported written is earlier in the WAL than this state write, so a crash that loses the
      // entries loses this write too (the WAL keeps a prefix).
      throw new IllegalArgumentException(
          "group " + g + ": apply at " + index + " is past the written log's last index "
              + last);
    }
    Backend.Batch b = batch.writes();
    for (KvMutation m : mutations) {
      if (m instanceof KvMutation.Put p) {
        byte[] k = Keys.state(g, p.key());
        b.put(Backend.Cf.STATE, k, Codec.stateRecord(k, p.value()));
      } else if (m instanceof KvMutation.Delete d) {
        b.delete(Backend.Cf.STATE, Keys.state(g, d.key()));
      } else {
        KvMutation.DeleteRange r = (KvMutation.DeleteRange) m;
        b.deleteRange(Backend.Cf.STATE, Keys.state(g, r.startKey()), Keys.state(g, r.endKey()));
      }
    }
    byte[] applied = Keys.meta(g, Keys.APPLIED);
    b.put(Backend.Cf.META, applied, Codec.position(applied, index, term));
    if (confState != null) {
      byte[] conf = Keys.meta(g, Keys.CONF_STATE);
      b.put(Backend.Cf.META, conf, Codec.confState(conf, index, confState));
    }
    batch.staged(group, confState == null
        ? new SmView(index, term, sm.confIndex(), sm.confState())
        : new SmView(index, term, index, confState));
  }

  @Override
  public Optional<byte[]> get(byte[] key) {
    byte[] k = Keys.state(group.id, key);
    return group.read(engine.backend(), view -> {
      byte[] stored = view.get(Backend.Cf.STATE, k);
      return stored == null
          ? Optional.<byte[]>empty()
          : Optional.of(Codec.stateValue(k, stored, whereKey(k)));
    });
  }

  @Override
  public MemoryRead getInMemory(byte[] key) {
    byte[] k = Keys.state(group.id, key);
    Backend backend = engine.backend();
    return group.read(backend, reader -> {
      if (reader != backend) {
        return MemoryRead.NEEDS_DISK; // a snapshot install pins an older view: read it the usual way
      }
      byte[] stored = backend.getInMemory(Backend.Cf.STATE, k);
      if (stored == Backend.NOT_IN_MEMORY) {
        return MemoryRead.NEEDS_DISK;
      }
      return stored == null ? MemoryRead.ABSENT
          : new MemoryRead.Found(Optional.of(Codec.stateValue(k, stored, whereKey(k))));
    });
  }

  @Override
  public List<KeyValue> scan(byte[] startKey, byte[] endKey, int limit) {
    if (limit <= 0) {
      return List.of();
    }
    byte[] from = Keys.state(group.id, startKey);
    byte[] to = Keys.state(group.id, endKey);
    return group.read(engine.backend(), view -> {
      List<KeyValue> out = new ArrayList<>();
      view.scan(Backend.Cf.STATE, from, to, (k, v) -> {
        out.add(new KeyValue(Keys.userKey(k), Codec.stateValue(k, v, whereKey(k))));
        return out.size() < limit;
      });
      return out;
    });
  }

  @Override
  public StateView openView() {
    long g = group.id;
    engine.checkUsable(() -> "open a view of group " + g);
    Backend.View view = engine.backend().view();
    long applied = group.smView.appliedIndex();
    return new StateView() {
      @Override
      public long appliedIndex() {
        return applied;
      }

      @Override
      public List<KeyValue> scan(byte[] startKey, byte[] endKey, int limit) {
        List<KeyValue> out = new ArrayList<>();
        if (limit <= 0) {
          return out;
        }
        view.scan(Backend.Cf.STATE, Keys.state(g, startKey), Keys.state(g, endKey), (k, v) -> {
          out.add(new KeyValue(Keys.userKey(k), Codec.stateValue(k, v, whereKey(k))));
          return out.size() < limit;
        });
        return out;
      }

      @Override
      public void close() {
        view.close();
      }
    };
  }

  private java.util.function.Supplier<String> whereKey(byte[] key) {
    return engine.where(Backend.Cf.STATE, group.id, key, "state record");
  }

  @Override
  public long appliedIndex() {
    return group.smView.appliedIndex();
  }

  @Override
  public StampedLock stateLock() {
    return group.stateLock;
  }

  @Override
  public long appliedTerm() {
    return group.smView.appliedTerm();
  }

  @Override
  public ConfState confState() {
    return group.smView.confState();
  }

  @Override
  public Snapshot createSnapshot() {
    long g = group.id;
    engine.checkUsable(() -> "snapshot group " + g);
    Backend backend = engine.backend();
    try (Backend.View view = backend.view()) {
      // applied index, membership and data all from the same view: they agree
      SnapshotMetadata m = readMetadata(view);
      if (m.index() == 0) {
        throw new IllegalStateException("group " + g + ": nothing applied, nothing to snapshot");
      }
      String name = SnapshotFormat.blobName(g, m.index(), m.term());
      try (BlobStore.Writer out = engine.blobs().create(name)) {
        SnapshotFormat.Writer w = new SnapshotFormat.Writer(out, g, m);
        view.scan(Backend.Cf.STATE, Keys.group(g), Keys.group(g + 1), (k, v) -> {
          w.record(Keys.userKey(k), Codec.stateValue(k, v, whereKey(k)));
          return true;
        });
        w.finish();
        out.commit();
      } catch (RuntimeException e) {
        if (e instanceof StorageCorruptionException || e instanceof IllegalStateException) {
          throw e;
        }
        throw engine.fail("write the snapshot payload " + engine.blobs().location(name), e);
      }
      return new Snapshot(m, SnapshotFormat.descriptor(g, m));
    }
  }

  private SnapshotMetadata readMetadata(Backend.View view) {
    long g = group.id;
    byte[] appliedKey = Keys.meta(g, Keys.APPLIED);
    byte[] applied = view.get(Backend.Cf.META, appliedKey);
    if (applied == null) {
      return SnapshotMetadata.EMPTY;
    }
    ByteBuffer a = Codec.unseal(appliedKey, applied,
        engine.where(Backend.Cf.META, g, appliedKey, "applied index"));
    long index = a.getLong();
    long term = a.getLong();
    byte[] confKey = Keys.meta(g, Keys.CONF_STATE);
    byte[] conf = view.get(Backend.Cf.META, confKey);
    ConfState cs = ConfState.EMPTY;
    if (conf != null) {
      ByteBuffer c = Codec.unseal(confKey, conf,
          engine.where(Backend.Cf.META, g, confKey, "membership"));
      c.getLong();
      cs = Codec.getConfState(c);
    }
    return new SnapshotMetadata(index, term, cs);
  }

  @Override
  public SnapshotSource openSnapshot(Snapshot snapshot) {
    if (snapshot.isEmpty() || SnapshotFormat.descriptorGroup(snapshot.data()) != group.id) {
      throw new IllegalArgumentException("not a snapshot of group " + group.id);
    }
    SnapshotMetadata m = snapshot.metadata();
    BlobStore.Reader in = engine.blobs().open(SnapshotFormat.blobName(group.id, m.index(),
        m.term()));
    if (in == null) {
      throw new SnapshotUnavailableException();
    }
    return new BlobSnapshotSource(group.id, m, in, engine.options().snapshotChunkBytes());
  }

  @Override
  public SnapshotSink newSnapshotSink(Snapshot snapshot) {
    if (snapshot.isEmpty()) {
      throw new IllegalArgumentException("cannot receive the empty snapshot");
    }
    return new BlobSnapshotSink(engine, group, snapshot);
  }

  @Override
  public String toString() {
    return "StateMachineStore[group " + group.id + ", applied " + appliedIndex() + "]";
  }
}
