package io.quorumkv;

import io.quorumkv.raft.Entry;
import io.quorumkv.storage.KeyValue;
import io.quorumkv.storage.KvMutation;
import io.quorumkv.storage.StateMachineStore;
import io.quorumkv.storage.StorageEngine;
import io.quorumkv.storage.StorageStartupException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What this node remembers of the replicas it destroyed (moved away, or removed while cut off),
 * durably, in a node-local group {@link #GROUP} that is not a partition.
 *
 * <p>Why: a replica removed from a partition may be added back later (placement moves replicas
 * around). A new replica starts with an empty log, but the old one may have acknowledged entries
 * and granted votes, and Raft counts on those never being forgotten: a forgotten vote, or a vote
 * cast with a log missing an acknowledged entry, can elect a leader without a committed entry. So
 * the replica created again starts one term past the old one (a leader whose record of this member
 * still holds the old replica's acknowledgements is deposed by its first answer), and is
 * <em>quarantined</em>: it casts
 * no vote and no campaign (it is not even ticked) until it has applied everything the old
 * one's log held (see
 * {@link Replica#quarantinedBelow}). Until then it only receives the log (acknowledgements of
 * entries it really stores are safe), and it is a learner until the placement driver promotes it.
 *
 * <p>The same group records the split children whose creation began here and is not known to
 * have finished ({@link #beginChild}): a split child is created by several writes (see
 * {@code NodeRuntime#createChild}), and a power cut between two of them leaves a replica with a
 * membership but without its moved keys, which must never be opened. The record is durable before
 * the child's first write and forgotten after its last one, before the parent's state machine
 * records the split as applied; all of them go through one write-ahead log, so after any crash a
 * child that is still recorded is incomplete, and its parent will apply the split again.
 *
 * <p>And it records which of this node's replicas are fenced ({@link Replica#divergedAt}, see
 * {@link ReplicaHashChecks}): a hash check found their state diverged from a quorum's. The fence
 * is this node's own finding, not replicated state (a partition's state is hashed, sent in
 * snapshots and copied into split children), so it is kept here, with the replica's index, and
 * read back when the replica opens: a restart must not let a rotted replica serve reads or lead
 * until the next check. It goes when the replica is unfenced, installs a snapshot, or is
 * destroyed ({@link #record}, in the same write as its tombstone).
 *
 * <p>Threads: written on the applier (which creates and deletes replicas), read by anyone.
 */
final class Tombstones {

  /** The node-local group holding tombstones; partition ids are positive. */
  static final long GROUP = 0;

  /**
   * A destroyed replica.
   *
   * @param term      its term when destroyed (at least its durable term)
   * @param vote      its vote in that term
   * @param lastIndex the last index its log held
   */
  record Tombstone(long term, long vote, long lastIndex) {
    Tombstone merge(Tombstone older) {
      return older == null ? this : new Tombstone(Math.max(term, older.term), term >= older.term ? vote : older.vote,
          Math.max(lastIndex, older.lastIndex));
    }
  }

  /** The first byte of a split child's record key (a tombstone's key is a positive group id). */
  private static final byte CHILD = (byte) 0xFE;
  /** The first byte of a fenced replica's record key: the group id follows, its fence index is the value. */
  private static final byte FENCE = (byte) 0xFD;

  private final StorageEngine engine;
  private final Map<Long, Tombstone> byGroup = new ConcurrentHashMap<>();
  private final Set<Long> childrenBegun = ConcurrentHashMap.newKeySet();
  /** The fenced replicas, by group: the index their fence was set at. */
  private final Map<Long, Long> fences = new ConcurrentHashMap<>();
  private long nextIndex;

  /**
   * Loads the tombstones of {@code engine}'s node.
   *
   * @throws StorageStartupException ({@code UNKNOWN_FORMAT_VERSION}) for a record of a kind this
   *     version does not know
   */
  Tombstones(StorageEngine engine) {
    this.engine = engine;
    StateMachineStore store = engine.stateMachine(GROUP);
    for (KeyValue kv : store.scan(new byte[0], new byte[] {(byte) 0xFF}, Integer.MAX_VALUE)) {
      byte[] key = kv.key();
      if (key.length == Long.BYTES) {
        Codec.Reader v = new Codec.Reader(kv.value(), "tombstone");
        byGroup.put(new Codec.Reader(key, "tombstone key").i64(), new Tombstone(v.i64(), v.i64(), v.i64()));
      } else if (key.length == Long.BYTES + 1 && (key[0] == CHILD || key[0] == FENCE)) {
        Codec.Reader k = new Codec.Reader(key, "node-local record key");
        k.u8();
        long groupId = k.i64();
        if (key[0] == CHILD) {
          childrenBegun.add(groupId);
        } else {
          fences.put(groupId, new Codec.Reader(kv.value(), "fence").i64());
        }
      } else {
        // A kind a later version added (as this one added fences): what it records may matter to
        // safety (a fence does), so it is not skipped.
        throw new StorageStartupException(StorageStartupException.Reason.UNKNOWN_FORMAT_VERSION,
            "this node's data holds a node-local record of a kind this version does not know (key "
                + HexFormat.of().formatHex(key) + "): it was written by a newer version of QuorumKV; run that"
                + " version, or replace the node (remove it from the cluster, delete its data directory, add it"
                + " back)");
      }
    }
    nextIndex = engine.log(GROUP).lastIndex() + 1;
  }

  /** The tombstone of {@code groupId}'s last destroyed replica here, if any. */
  Tombstone get(long groupId) {
    return byGroup.get(groupId);
  }

  /** applier: records (durably, with the next synced write) that the replica of {@code groupId} is gone. */
  void record(long groupId, Tombstone t) {
    Tombstone merged = t.merge(byGroup.get(groupId));
    List<KvMutation> m = new ArrayList<>(2);
    m.add(KvMutation.put(new Codec.Writer().i64(groupId).toArray(),
        new Codec.Writer().i64(merged.term()).i64(merged.vote()).i64(merged.lastIndex()).toArray()));
    if (fences.containsKey(groupId)) {
      m.add(KvMutation.delete(fenceKey(groupId))); // the fenced state goes with the replica
    }
    write(m);
    byGroup.put(groupId, merged);
    fences.remove(groupId);
  }

  /** The index the replica of {@code groupId} was fenced at, as recorded here; 0 when it is not fenced. */
  long fencedAt(long groupId) {
    return fences.getOrDefault(groupId, 0L);
  }

  /**
   * applier: records that the replica of {@code groupId} is fenced at {@code divergedAt}, or, for 0,
   * that it is not; durably before it returns. Nothing is written when that is recorded already.
   */
  void fence(long groupId, long divergedAt) {
    if (fencedAt(groupId) == divergedAt) {
      return;
    }
    write(List.of(divergedAt == 0 ? KvMutation.delete(fenceKey(groupId))
        : KvMutation.put(fenceKey(groupId), new Codec.Writer().i64(divergedAt).toArray())));
    // The record's write is not synced (see write): a synced write after it makes it durable now,
    // not with whatever this node syncs next (a fence is set while the replica may serve reads).
    appendEmpty();
    if (divergedAt == 0) {
      fences.remove(groupId);
    } else {
      fences.put(groupId, divergedAt);
    }
  }

  /**
   * applier: records that the creation of split child {@code groupId} begins, durably with the
   * next synced write (the child's first write is one).
   */
  void beginChild(long groupId) {
    write(List.of(KvMutation.put(childKey(groupId), new byte[0])));
    childrenBegun.add(groupId);
  }

  /**
   * applier: the split child {@code groupId} is complete (or its partial writes are deleted):
   * forgets its record, durably with the next synced write. Call it before the parent's state
   * machine writes the split as applied, which makes this durable too. A child made from a fenced
   * replica is fenced at {@code fencedAt} (0: not fenced) in the same write: complete, it is never
   * without its fence.
   */
  void childDone(long groupId, long fencedAt) {
    List<KvMutation> m = new ArrayList<>(2);
    m.add(KvMutation.delete(childKey(groupId)));
    if (fencedAt != 0) {
      m.add(KvMutation.put(fenceKey(groupId), new Codec.Writer().i64(fencedAt).toArray()));
    }
    write(m);
    childrenBegun.remove(groupId);
    if (fencedAt != 0) {
      fences.put(groupId, fencedAt);
    }
  }

  /** The split children whose creation began here and did not finish (a crash in between). */
  Set<Long> childrenBegun() {
    return Set.copyOf(childrenBegun);
  }

  private static byte[] childKey(long groupId) {
    return new Codec.Writer().u8(CHILD & 0xFF).i64(groupId).toArray();
  }

  private static byte[] fenceKey(long groupId) {
    return new Codec.Writer().u8(FENCE & 0xFF).i64(groupId).toArray();
  }

  private void write(List<KvMutation> m) {
    long index = appendEmpty();
    // The store may not run ahead of its log: one empty entry per record (rare: one per removal,
    // split, fence or unfence).
    engine.stateMachine(GROUP).apply(index, 1, m);
  }

  /** Appends an empty entry to this group's log, with one synced write; returns its index. */
  private long appendEmpty() {
    long index = nextIndex++;
    engine.write(engine.newLogBatch().append(GROUP, List.of(Entry.normal(index, 1, Entry.EMPTY))));
    return index;
  }
}
