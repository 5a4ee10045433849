package io.quorumkv;

import io.quorumkv.raft.ConfState;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.locks.StampedLock;
import java.util.zip.CRC32C;

/**
 * The replicated key-value state machine of one partition: user data, client sessions, the key
 * span and the log time, all in one {@link PartitionStore} so that they move together through
 * commits, snapshots and splits.
 *
 * <p>Determinism: the result of every command depends only on the state and the command,
 * including the leader's time stamp, never on the applying node's clock, configuration or
 * timing. Session expiry is judged against the partition's log time (the largest stamp applied)
 * at the moment of use, so garbage-collecting expired sessions early or late changes nothing.
 *
 * <p>Not thread-safe for writes: the applier thread alone calls {@link #apply} and {@link #flush}
 * (or {@link #takeCommit}). {@link #get} and {@link #scan} may be called from any thread and see
 * only flushed state.
 *
 * <p>Store layout: {@code 'd' + key} user data, {@code 's' + clientId} sessions, {@code 'm' + name}
 * metadata (span, log time, the partitions merged into this one; {@code 'm' + "hash"}, the last
 * replica hash, was written by earlier versions and is no longer read or written).
 */
final class PartitionStateMachine {

  static final byte DATA = 'd';
  static final byte SESSION = 's';
  static final byte META = 'm';
  private static final byte[] META_SPAN = meta("span");
  static final byte[] META_LOG_TIME = meta("logtime");
  private static final byte[] META_ADDRESS_PREFIX = meta("addr");
  private static final byte[] META_NODE_PREFIX = meta("node");
  private static final byte[] META_FROZEN = meta("frozen");
  /**
   * Followed by a partition id: that partition was merged into this one (absorbed). Kept for good:
   * a retried merge of it is answered from it, and a node still holding a replica of it (one that
   * never learned its freeze) drops that replica on its evidence ({@link #absorbed}).
   */
  private static final byte[] META_ABSORBED_PREFIX = meta("absorbed");
  /**
   * The rebuild of a replica under way in this partition, if any ({@link ReplicaRepair#afterChange}):
   * the node's id and address. Kept with the membership it follows from, so that it survives
   * restarts and travels with snapshots; a split's child starts with it too (its seed), a merge's
   * retired partition does not hand it over.
   */
  private static final byte[] META_REBUILD = meta("rebuild");

  /** One result byte per write, cached in the session: the operation's boolean. */
  private static final byte FALSE = 0;
  private static final byte TRUE = 1;
  private static final Outcome WRITTEN_TRUE = new Outcome.Written(true);
  private static final Outcome WRITTEN_FALSE = new Outcome.Written(false);

  private final long partitionId;
  private final PartitionStore store;
  private final long sessionTimeoutMillis;
  private final Map<Long, Session> sessions = new HashMap<>();
  /**
   * The session the last write used (clients write in runs: one KvClient is one session), or
   * null: saves boxing its id for the map. Always the map's current session for its id.
   */
  private Session lastSession;
  /** The current batch's mutations, not yet committed. */
  private final List<PartitionStore.Mutation> pending = new ArrayList<>();
  /**
   * The current batch's data writes by key (empty Optional = deleted), for reads later in the
   * batch: indexed from {@link #pending} only when a write reads (a delete, a cas, a batch with
   * expectations), through {@link #overlaid}. A batch of puts never builds it: a sorted map
   * here was the applier's largest cost (comparing keys on every put).
   */
  private final HashMap<ByteBuffer, Optional<byte[]>> overlay = new HashMap<>();
  /** How many of {@link #pending}'s mutations {@link #overlay} has indexed. */
  private int overlaid;
  /**
   * Sessions written since the last flush ({@link Session#dirty}): each is encoded and staged once
   * per flush, not once per write (a client with many writes in flight has a session of that many
   * results). A session replaced or dropped meanwhile is skipped.
   */
  private final List<Session> dirtySessions = new ArrayList<>();
  private volatile KeySpan span;
  /** The partition this one is frozen into for a merge; 0 when not frozen. */
  private volatile long frozenInto;
  /**
   * The partition's clock for session expiry: the greatest entry stamp applied, rounded down to
   * {@link #logTimeGranuleMillis}. Rounded, it moves (and is written) at most once a granule, not
   * with nearly every applied batch: with many partitions each batch holds one or two writes, and
   * this record was a quarter of the applier's. Rounding down only delays an expiry, by less than
   * a granule.
   */
  private long logTime;
  private final long logTimeGranuleMillis;
  private long pendingIndex;
  private long pendingTerm;
  private ConfState pendingConf;
  /** applier: the rebuild pending as of the last membership change applied ({@link #META_REBUILD}). */
  private ReplicaRepair.Rebuild rebuild;
  private boolean spanUnwritten;
  private volatile ReplicaHash lastHash;
  /**
   * Set before a snapshot install replaces the store's content under this state machine (the node
   * then opens a new one): a read that took this one before reads the installed data with this
   * span, so it must look here after reading ({@link #superseded}).
   */
  private volatile boolean superseded;

  /** What applying one entry produced. */
  sealed interface Outcome {
    /** A write applied (or deduplicated); {@code result} is its boolean. */
    record Written(boolean result) implements Outcome {}

    /** A write that did not apply, and why. */
    record Rejected(KvResponse.Code code, String message) implements Outcome {}

    /**
     * The outcomes of a packed entry's writes ({@link Command.Writes}), in order: each a
     * {@link Written} or a {@link Rejected}.
     */
    record Writes(List<Outcome> each) implements Outcome {
      public Writes {
        each = List.copyOf(each);
      }
    }

    /**
     * The partition split: the runtime must create {@code newPartitionId} from {@code seed}
     * before {@link #flush()} makes the split durable here.
     */
    record Split(long newPartitionId, Seed seed) implements Outcome {}

    /**
     * The partition froze for a merge into {@code intoPartition} at entry {@code index};
     * {@code seed} is its whole state ({@link #encodeSeed}).
     */
    record Frozen(long intoPartition, byte[] seed, long index) implements Outcome {}

    /** The frozen partition {@code rightPartition} was merged into this one. */
    record Merged(long rightPartition) implements Outcome {}

    /**
     * A replica hash check was applied at this entry: {@code job} hashes the state as of it, on
     * any thread (the node hashes away from its applier).
     */
    record Hashed(HashJob job) implements Outcome {
      /** Computes the hash here and now, or returns the one computed already (tests, simulation). */
      ReplicaHash hash() {
        return job.compute();
      }
    }

    /** Nothing to report (an empty entry or a membership change). */
    record None() implements Outcome {}
  }

  /**
   * A hash of the replicated state at one index, comparable across replicas.
   *
   * @param index the entry at which it was computed
   * @param hash  the hash
   */
  record ReplicaHash(long index, long hash) {}

  /**
   * The initial content of a partition created by a split.
   *
   * @param span    its keys
   * @param logTime the parent's log time at the split
   * @param entries every store entry (data, sessions, metadata) it starts with
   */
  record Seed(KeySpan.Range span, long logTime, List<KeyValue> entries) {}

  private PartitionStateMachine(long partitionId, PartitionStore store, long sessionTimeoutMillis) {
    this.partitionId = partitionId;
    this.store = store;
    this.sessionTimeoutMillis = sessionTimeoutMillis;
    this.logTimeGranuleMillis = logTimeGranuleMillis(sessionTimeoutMillis);
  }

  /**
   * The log time's granule: a hundredth of the session timeout, at most a second and at least a
   * millisecond. Every replica must round alike (it decides expiries), so it follows from the
   * session timeout alone, which the replicas already share.
   */
  static long logTimeGranuleMillis(long sessionTimeoutMillis) {
    return Math.max(1, Math.min(1000, sessionTimeoutMillis / 100));
  }

  /**
   * Opens the state machine over {@code store}, recovering span, log time and sessions from it;
   * a store that has never been written gets {@code initialSpan}.
   */
  static PartitionStateMachine open(long partitionId, PartitionStore store, long appliedTerm,
      long sessionTimeoutMillis, KeySpan initialSpan) {
    PartitionStateMachine sm = new PartitionStateMachine(partitionId, store, sessionTimeoutMillis);
    Optional<byte[]> storedSpan = store.get(META_SPAN);
    sm.span = storedSpan.map(PartitionStateMachine::decodeSpan).orElse(initialSpan);
    sm.spanUnwritten = storedSpan.isEmpty();
    sm.frozenInto = store.get(META_FROZEN).map(PartitionStateMachine::decodeLong).orElse(0L);
    sm.logTime = store.get(META_LOG_TIME).map(PartitionStateMachine::decodeLong).orElse(0L);
    sm.rebuild = store.get(META_REBUILD).map(PartitionStateMachine::decodeRebuild).orElse(null);
    for (KeyValue kv : store.scan(new byte[] {SESSION}, new byte[] {SESSION + 1}, Integer.MAX_VALUE)) {
      long id = decodeLong(Arrays.copyOfRange(kv.key(), 1, kv.key().length));
      sm.sessions.put(id, Session.decode(id, kv.value()));
    }
    sm.pendingIndex = store.appliedIndex();
    sm.pendingTerm = appliedTerm;
    return sm;
  }

  /** The store mutations that give a new partition the content of {@code seed}. */
  static List<PartitionStore.Mutation> seedMutations(Seed seed) {
    List<PartitionStore.Mutation> m = new ArrayList<>();
    for (KeyValue kv : seed.entries()) {
      m.add(new PartitionStore.Mutation.Put(kv.key(), kv.value()));
    }
    m.add(new PartitionStore.Mutation.Put(META_SPAN, encodeSpan(seed.span())));
    m.add(new PartitionStore.Mutation.Put(META_LOG_TIME, encodeLong(seed.logTime())));
    return m;
  }

  long partitionId() {
    return partitionId;
  }

  /**
   * The keys this partition owns as of the last applied entry. A split or merge replaces the object
   * (spans are immutable), so a reader that finds the object it checked before still here knows the
   * span did not change meanwhile ({@link ReadPath#serveLocal}).
   */
  KeySpan span() {
    return span;
  }

  /**
   * The partition this one is frozen into for a merge (it then serves nothing: its keys are, or
   * are about to be, the other's); 0 when it is not frozen.
   */
  long frozenInto() {
    return frozenInto;
  }

  /** Marks this state machine as about to be replaced: its store's content is replaced next. */
  void supersede() {
    superseded = true;
  }

  /** Whether a snapshot install replaced (or is replacing) the content of this state machine's store. */
  boolean superseded() {
    return superseded;
  }

  /** The last replica hash computed (since this node started), if any. */
  Optional<ReplicaHash> lastHash() {
    return Optional.ofNullable(lastHash);
  }

  /** The index of the last entry applied, flushed or not. */
  long appliedIndex() {
    return pendingIndex;
  }

  // ---- reads (flushed state) ----

  /** The index of the last entry written to the store: the index of the state {@link #get} reads. */
  long storedIndex() {
    return store.appliedIndex();
  }

  /** The store's {@link PartitionStore#stateLock()}: to read {@link #storedIndex()} and {@link #get} together. */
  StampedLock stateLock() {
    return store.stateLock();
  }

  Optional<byte[]> get(byte[] key) {
    return store.get(dataKey(key));
  }

  /** {@link #get}, answered only from memory (see {@link PartitionStore#getInMemory}). */
  io.quorumkv.storage.MemoryRead getInMemory(byte[] key) {
    return store.getInMemory(dataKey(key));
  }

  /** Up to {@code limit} user entries of {@code [from, to)} (empty {@code to}: unbounded). */
  List<KeyValue> scan(byte[] from, byte[] to, int limit) {
    byte[] lo = dataKey(from);
    byte[] hi = to.length == 0 ? new byte[] {DATA + 1} : dataKey(to);
    List<KeyValue> out = new ArrayList<>();
    for (KeyValue kv : store.scan(lo, hi, limit)) {
      out.add(new KeyValue(Arrays.copyOfRange(kv.key(), 1, kv.key().length), kv.value()));
    }
    return out;
  }

  // ---- apply ----

  /** Applies a normal entry of term {@code term}; {@code data} empty is a leader's no-op. */
  Outcome apply(long index, long term, byte[] data) {
    checkOrder(index);
    Command.Stamped stamped = data.length == 0 ? null : Codec.decodeCommand(data);
    if (stamped != null && !(stamped.command() instanceof Command.Write)
        && !(stamped.command() instanceof Command.Writes)) {
      // Splits and hashes read the store directly: make the batch so far durable first.
      commitPrefix();
    }
    pendingIndex = index;
    pendingTerm = term;
    if (spanUnwritten) {
      spanUnwritten = false;
      stage(new PartitionStore.Mutation.Put(META_SPAN, encodeSpan(span)));
    }
    if (stamped == null) {
      return new Outcome.None();
    }
    long stamp = stamped.stampMillis() - Math.floorMod(stamped.stampMillis(), logTimeGranuleMillis);
    if (stamp > logTime) {
      logTime = stamp;
      stage(new PartitionStore.Mutation.Put(META_LOG_TIME, encodeLong(logTime)));
    }
    Command c = stamped.command();
    if (c instanceof Command.Write w) {
      return write(w);
    }
    if (c instanceof Command.Writes ws) {
      List<Command.Write> writes = ws.writes();
      Outcome[] each = new Outcome[writes.size()];
      for (int i = 0; i < each.length; i++) {
        each[i] = write(writes.get(i));
      }
      return new Outcome.Writes(List.of(each));
    }
    if (c instanceof Command.Split s) {
      return split(s);
    }
    if (c instanceof Command.Freeze f) {
      return freeze(f.intoPartition(), index);
    }
    if (c instanceof Command.Merge m) {
      return merge(m);
    }
    if (c instanceof Command.SetNodeState n) {
      stage(new PartitionStore.Mutation.Put(nodeKey(n.nodeId()),
          new Codec.Writer().bool(n.decommissioning()).str(n.address()).toArray()));
      return new Outcome.None();
    }
    return hash(index);
  }

  /**
   * Records a membership change entry: the state machine keeps the membership with its state,
   * and the members' addresses (carried in the change's context) so that a restarted node, or one
   * that received a snapshot, can reach members added after it started.
   */
  void applyConfChange(long index, long term, ConfState confState, io.quorumkv.raft.ConfChange change) {
    checkOrder(index);
    pendingIndex = index;
    pendingTerm = term;
    pendingConf = confState;
    ReplicaRepair.Rebuild next = ReplicaRepair.afterChange(rebuild, change, confState);
    if (!java.util.Objects.equals(next, rebuild)) {
      stage(next == null ? new PartitionStore.Mutation.Delete(META_REBUILD)
          : new PartitionStore.Mutation.Put(META_REBUILD, encodeRebuild(next)));
      rebuild = next;
    }
    for (io.quorumkv.raft.ConfChange.Single c : change.changes()) {
      if (c.type() == io.quorumkv.raft.ConfChangeType.REMOVE) {
        stage(new PartitionStore.Mutation.Delete(addressKey(c.nodeId())));
      } else if (change.context().length > 0) {
        stage(new PartitionStore.Mutation.Put(addressKey(c.nodeId()), change.context()));
      }
    }
  }

  /**
   * The rebuild of a replica pending in this partition as of the membership changes applied, or
   * null ({@link ReplicaRepair#afterChange}); opened from the store, so after a restart or a
   * snapshot's install this is as of the applied index.
   */
  ReplicaRepair.Rebuild rebuild() {
    return rebuild;
  }

  static byte[] encodeRebuild(ReplicaRepair.Rebuild b) {
    return new Codec.Writer().i64(b.node()).str(b.address()).toArray();
  }

  static ReplicaRepair.Rebuild decodeRebuild(byte[] bytes) {
    Codec.Reader r = new Codec.Reader(bytes, "rebuild");
    return new ReplicaRepair.Rebuild(r.i64(), r.str());
  }

  /** Member addresses recorded by applied membership changes (flushed state). */
  Map<Long, String> memberAddresses() {
    byte[] prefix = META_ADDRESS_PREFIX;
    byte[] end = prefix.clone();
    end[end.length - 1]++;
    Map<Long, String> out = new HashMap<>();
    for (KeyValue kv : store.scan(prefix, end, Integer.MAX_VALUE)) {
      Codec.Reader r = new Codec.Reader(Arrays.copyOfRange(kv.key(), prefix.length, kv.key().length), "address key");
      out.put(r.i64(), new String(kv.value(), StandardCharsets.UTF_8));
    }
    return out;
  }

  /**
   * A node in the placement registry (partition 1 keeps it).
   *
   * @param address         its advertised address
   * @param decommissioning whether its replicas are being moved off it
   */
  record RegisteredNode(String address, boolean decommissioning) {}

  /** The placement registry (flushed state): nodes recorded with {@link Command.SetNodeState}. */
  Map<Long, RegisteredNode> registeredNodes() {
    Map<Long, RegisteredNode> out = new TreeMap<>();
    for (KeyValue kv : scanPrefix(META_NODE_PREFIX)) {
      Codec.Reader k = new Codec.Reader(Arrays.copyOfRange(kv.key(), META_NODE_PREFIX.length, kv.key().length), "node key");
      Codec.Reader v = new Codec.Reader(kv.value(), "registered node");
      boolean decommissioning = v.bool();
      out.put(k.i64(), new RegisteredNode(v.str(), decommissioning));
    }
    return out;
  }

  /**
   * The partitions merged into this one, directly or through partitions it absorbed (flushed
   * state: applied, hence committed).
   */
  java.util.Set<Long> absorbed() {
    java.util.Set<Long> out = new java.util.TreeSet<>();
    for (KeyValue kv : scanPrefix(META_ABSORBED_PREFIX)) {
      out.add(new Codec.Reader(Arrays.copyOfRange(kv.key(), META_ABSORBED_PREFIX.length, kv.key().length),
          "absorbed key").i64());
    }
    return out;
  }

  /** Up to {@code limit} user keys, counted (flushed state). */
  int countKeys(int limit) {
    return store.scan(new byte[] {DATA}, new byte[] {DATA + 1}, limit).size();
  }

  private List<KeyValue> scanPrefix(byte[] prefix) {
    byte[] end = prefix.clone();
    end[end.length - 1]++;
    return store.scan(prefix, end, Integer.MAX_VALUE);
  }

  private static byte[] nodeKey(long nodeId) {
    return new Codec.Writer().u8(META).str("node").i64(nodeId).toArray();
  }

  private static byte[] absorbedKey(long partitionId) {
    return new Codec.Writer().u8(META).str("absorbed").i64(partitionId).toArray();
  }

  private static boolean hasPrefix(byte[] key, byte[] prefix) {
    return key.length >= prefix.length && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
  }

  private static byte[] addressKey(long nodeId) {
    return new Codec.Writer().u8(META).str("addr").i64(nodeId).toArray();
  }

  /** Makes everything applied so far durable, in one atomic commit. */
  void flush() {
    PartitionStore.Commit c = takeCommit();
    if (c != null) {
      store.commit(c);
    }
  }

  /**
   * Everything applied since the last flush as one commit, for the caller to write with other
   * partitions' (the node's applier: one storage write for many groups' applied entries), or
   * null when nothing was applied. The caller writes it before this state machine applies or
   * reads anything more: until then the store misses it.
   */
  PartitionStore.Commit takeCommit() {
    if (pendingIndex == store.appliedIndex()) {
      return null;
    }
    for (Session s : dirtySessions) {
      if (s.dirty && sessions.get(s.clientId) == s) {
        pending.add(new PartitionStore.Mutation.Put(sessionKey(s.clientId), s.encode()));
      }
      s.dirty = false;
    }
    dirtySessions.clear();
    PartitionStore.Commit c = new PartitionStore.Commit(pending, pendingIndex, pendingTerm, pendingConf);
    pending.clear();
    overlay.clear();
    overlaid = 0;
    pendingConf = null;
    return c;
  }

  /**
   * Makes the entries applied so far durable, so the store alone is exact. Written on its own:
   * the applier stages a partition's commit into its shared write only after applying, so no
   * commit of this partition waits there unwritten.
   */
  private void commitPrefix() {
    flush();
  }

  private void checkOrder(long index) {
    if (index <= pendingIndex) {
      throw new IllegalStateException("partition " + partitionId + ": entry " + index
          + " applied after " + pendingIndex);
    }
  }

  private Outcome write(Command.Write w) {
    if (frozenInto != 0) {
      return new Outcome.Rejected(KvResponse.Code.WRONG_PARTITION,
          "partition " + partitionId + " is merging into partition " + frozenInto);
    }
    if (!ownsEveryKey(span, w.op())) {
      return new Outcome.Rejected(KvResponse.Code.WRONG_PARTITION,
          "key outside partition " + partitionId + " " + span.describe());
    }
    Session s = lastSession != null && lastSession.clientId == w.clientId() ? lastSession : sessions.get(w.clientId());
    if (s != null && s.expired(logTime, sessionTimeoutMillis)) {
      s = null;
    }
    if (s == null) {
      s = new Session(w.clientId(), logTime);
      sessions.put(w.clientId(), s);
    }
    lastSession = s;
    if (w.seq() < s.ackedBelow) {
      return new Outcome.Rejected(KvResponse.Code.SESSION_EXPIRED,
          "sequence " + w.seq() + " was already acknowledged by the client");
    }
    int cached = s.result(w.seq());
    boolean result;
    if (cached != Session.NONE) {
      result = cached == TRUE;
    } else {
      result = execute(w.op());
      s.record(w.seq(), result ? TRUE : FALSE);
    }
    s.lastActiveMillis = logTime;
    s.acknowledge(w.ackedBelow());
    markDirty(s);
    return result ? WRITTEN_TRUE : WRITTEN_FALSE;
  }

  /** Whether {@code span} owns every key {@code op} touches (no list for single-key operations). */
  static boolean ownsEveryKey(KeySpan span, WriteOp op) {
    if (op instanceof WriteOp.Put p) {
      return span.owns(p.key());
    }
    if (op instanceof WriteOp.Delete d) {
      return span.owns(d.key());
    }
    if (op instanceof WriteOp.Cas c) {
      return span.owns(c.key());
    }
    for (BatchOp o : ((WriteOp.Batch) op).ops()) {
      if (!span.owns(o.key())) {
        return false;
      }
    }
    return true;
  }

  private void markDirty(Session s) {
    if (!s.dirty) {
      s.dirty = true;
      dirtySessions.add(s);
    }
  }

  private boolean execute(WriteOp op) {
    if (op instanceof WriteOp.Put p) {
      put(p.key(), p.value());
      return true;
    }
    if (op instanceof WriteOp.Delete d) {
      boolean present = read(d.key()).isPresent();
      if (present) {
        delete(d.key());
      }
      return present;
    }
    if (op instanceof WriteOp.Cas c) {
      if (!matches(read(c.key()), c.expected())) {
        return false;
      }
      put(c.key(), c.value());
      return true;
    }
    WriteOp.Batch b = (WriteOp.Batch) op;
    for (BatchOp o : b.ops()) {
      if (o instanceof BatchOp.Expect e && !matches(read(e.key()), e.value())) {
        return false;
      }
    }
    for (BatchOp o : b.ops()) {
      if (o instanceof BatchOp.Put p) {
        put(p.key(), p.value());
      } else if (o instanceof BatchOp.Delete d) {
        delete(d.key());
      }
    }
    return true;
  }

  private static boolean matches(Optional<byte[]> actual, Optional<byte[]> expected) {
    if (actual.isEmpty() || expected.isEmpty()) {
      return actual.isEmpty() && expected.isEmpty();
    }
    return Arrays.equals(actual.get(), expected.get());
  }

  private Outcome split(Command.Split s) {
    if (!(span instanceof KeySpan.Range range)) {
      return new Outcome.Rejected(KvResponse.Code.INVALID_ARGUMENT, "hash partitions cannot be split");
    }
    if (frozenInto != 0) {
      return new Outcome.Rejected(KvResponse.Code.WRONG_PARTITION, "partition " + partitionId + " is merging");
    }
    if (!range.splittableAt(s.splitKey())) {
      return new Outcome.Rejected(KvResponse.Code.INVALID_ARGUMENT, "split key "
          + new String(s.splitKey(), StandardCharsets.UTF_8) + " is not inside " + range.describe());
    }
    KeySpan.Range child = new KeySpan.Range(s.splitKey(), range.end());
    List<KeyValue> entries = new ArrayList<>();
    byte[] hi = range.end().length == 0 ? new byte[] {DATA + 1} : dataKey(range.end());
    entries.addAll(store.scan(dataKey(s.splitKey()), hi, Integer.MAX_VALUE));
    sessions.forEach((id, session) -> {
      if (!session.expired(logTime, sessionTimeoutMillis)) {
        entries.add(new KeyValue(sessionKey(id), session.encode()));
      }
    });
    if (rebuild != null) {
      // The child starts with this membership, without the node being rebuilt: it is to come back
      // there too, and the child's own leader adds it (ReplicaRepair.afterChange).
      entries.add(new KeyValue(META_REBUILD, encodeRebuild(rebuild)));
    }
    span = new KeySpan.Range(range.start(), s.splitKey());
    stage(new PartitionStore.Mutation.DeleteRange(dataKey(s.splitKey()), hi));
    stage(new PartitionStore.Mutation.Put(META_SPAN, encodeSpan(span)));
    return new Outcome.Split(s.newPartitionId(), new Seed(child, logTime, entries));
  }

  /**
   * Freezes this partition for a merge into {@code into} (0: thaws a freeze whose merge was
   * refused). Its state stops changing here, so the seed is read from the store as of this entry.
   */
  private Outcome freeze(long into, long index) {
    if (!(span instanceof KeySpan.Range range)) {
      return new Outcome.Rejected(KvResponse.Code.INVALID_ARGUMENT, "hash partitions cannot be merged");
    }
    if (into == 0) {
      frozenInto = 0;
      stage(new PartitionStore.Mutation.Delete(META_FROZEN));
      return new Outcome.None();
    }
    if (frozenInto != 0 && frozenInto != into) {
      return new Outcome.Rejected(KvResponse.Code.INVALID_ARGUMENT,
          "partition " + partitionId + " is already merging into partition " + frozenInto);
    }
    frozenInto = into;
    stage(new PartitionStore.Mutation.Put(META_FROZEN, encodeLong(into)));
    List<KeyValue> entries = new ArrayList<>(store.scan(new byte[] {DATA}, new byte[] {DATA + 1}, Integer.MAX_VALUE));
    sessions.forEach((id, session) -> {
      if (!session.expired(logTime, sessionTimeoutMillis)) {
        entries.add(new KeyValue(sessionKey(id), session.encode()));
      }
    });
    entries.addAll(scanPrefix(META_ABSORBED_PREFIX)); // the partitions it absorbed go along
    return new Outcome.Frozen(into, encodeSeed(new Seed(range, logTime, entries)), index);
  }

  /**
   * Takes over the frozen right-hand neighbour: its data, its sessions (merged with this one's, so
   * a write it applied is still deduplicated here when the client retries it), and its keys.
   */
  private Outcome merge(Command.Merge m) {
    Seed seed = decodeSeed(m.seed());
    if (!(span instanceof KeySpan.Range range)) {
      return new Outcome.Rejected(KvResponse.Code.INVALID_ARGUMENT, "hash partitions cannot be merged");
    }
    KeySpan.Range right = seed.span();
    if (store.get(absorbedKey(m.rightPartition())).isPresent()
        || (Arrays.equals(range.end(), right.end()) && Arrays.compareUnsigned(right.start(), range.start()) > 0)) {
      // Applied before: a retried merge changes nothing (and is never refused, which would thaw the
      // retired partition, even after this one split again).
      return new Outcome.Merged(m.rightPartition());
    }
    if (frozenInto != 0 || range.end().length == 0 || !Arrays.equals(range.end(), right.start())) {
      return new Outcome.Rejected(KvResponse.Code.INVALID_ARGUMENT, "partition " + m.rightPartition() + " "
          + right.describe() + " is not the right-hand neighbour of partition " + partitionId + " " + range.describe());
    }
    for (KeyValue kv : seed.entries()) {
      if (kv.key()[0] == DATA) {
        pending.add(new PartitionStore.Mutation.Put(kv.key(), kv.value())); // later writes of this batch read it
      } else if (kv.key()[0] == SESSION) {
        long id = decodeLong(Arrays.copyOfRange(kv.key(), 1, kv.key().length));
        Session theirs = Session.decode(id, kv.value());
        Session mine = sessions.get(id);
        if (mine == null || mine.expired(logTime, sessionTimeoutMillis)) {
          sessions.put(id, theirs);
          lastSession = null;
          markDirty(theirs);
        } else {
          mine.lastActiveMillis = Math.max(mine.lastActiveMillis, theirs.lastActiveMillis);
          mine.addResultsOf(theirs);
          mine.acknowledge(Math.max(mine.ackedBelow, theirs.ackedBelow));
          markDirty(mine);
        }
      } else if (hasPrefix(kv.key(), META_ABSORBED_PREFIX)) {
        stage(new PartitionStore.Mutation.Put(kv.key(), kv.value()));
      }
    }
    stage(new PartitionStore.Mutation.Put(absorbedKey(m.rightPartition()), new byte[0]));
    if (seed.logTime() > logTime) {
      logTime = seed.logTime();
      stage(new PartitionStore.Mutation.Put(META_LOG_TIME, encodeLong(logTime)));
    }
    span = new KeySpan.Range(range.start(), right.end());
    stage(new PartitionStore.Mutation.Put(META_SPAN, encodeSpan(span)));
    return new Outcome.Merged(m.rightPartition());
  }

  static byte[] encodeSeed(Seed seed) {
    Codec.Writer w = new Codec.Writer().bytes(encodeSpan(seed.span())).i64(seed.logTime()).i32(seed.entries().size());
    for (KeyValue kv : seed.entries()) {
      w.bytes(kv.key()).bytes(kv.value());
    }
    return w.toArray();
  }

  static Seed decodeSeed(byte[] b) {
    Codec.Reader r = new Codec.Reader(b, "merge seed");
    if (!(decodeSpan(r.bytes()) instanceof KeySpan.Range range)) {
      throw r.bad("a merge seed holds a range");
    }
    long logTime = r.i64();
    int n = r.count(8);
    List<KeyValue> entries = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      entries.add(new KeyValue(r.bytes(), r.bytes()));
    }
    r.end();
    return new Seed(range, logTime, entries);
  }

  /**
   * A hash check at {@code index}: sessions and span are small and encoded now; the data, all of
   * the partition's records, is hashed later from a view of the store pinned now (the prefix before
   * this entry was just written, see {@link #apply}), so that no replica's applier stalls for it.
   */
  private Outcome hash(long index) {
    TreeMap<Long, Session> live = new TreeMap<>();
    sessions.forEach((id, session) -> {
      if (!session.expired(logTime, sessionTimeoutMillis)) {
        live.put(id, session);
      }
    });
    List<byte[][]> tail = new ArrayList<>(live.size() + 1);
    for (Map.Entry<Long, Session> e : live.entrySet()) {
      tail.add(new byte[][] {sessionKey(e.getKey()), e.getValue().encode()});
    }
    tail.add(new byte[][] {encodeSpan(span)});
    return new Outcome.Hashed(new HashJob(index, store.view(), tail, rh -> lastHash = rh));
  }

  /**
   * One replica hash check: the partition's data as of its entry (a pinned {@link PartitionStore.View})
   * and the sessions and span encoded then. {@link #compute} hashes them, on any thread and as late
   * as it likes, to the same value every replica computes at that entry. Hashing a partition on the
   * applier stalled every replica's applies at once, since they all apply the check at the same
   * entry (docs/benchmarks.md, finding 78).
   */
  static final class HashJob {
    /** Records per page of the data: each page is one short read of the view. */
    static final int PAGE_RECORDS = 1024;

    private final long index;
    private final List<byte[][]> tail;
    private final java.util.function.Consumer<ReplicaHash> done;
    /** Null once hashed or dropped. */
    private PartitionStore.View data;
    private ReplicaHash result;
    private final java.util.concurrent.CompletableFuture<ReplicaHash> hashed = new java.util.concurrent.CompletableFuture<>();

    HashJob(long index, PartitionStore.View data, List<byte[][]> tail, java.util.function.Consumer<ReplicaHash> done) {
      this.index = index;
      this.data = data;
      this.tail = tail;
      this.done = done;
    }

    /** The entry the check was applied at. */
    long index() {
      return index;
    }

    /**
     * Completes with the hash once computed, wherever it is computed; fails with a
     * {@link java.util.concurrent.CancellationException} if the job is given up or dropped instead.
     */
    java.util.concurrent.CompletableFuture<ReplicaHash> hashed() {
      return hashed;
    }

    /** {@link #compute(java.util.function.LongPredicate)} without pauses. */
    ReplicaHash compute() {
      return compute(bytes -> true);
    }

    /**
     * Hashes the state, or returns the hash computed already. After each page of data it asks
     * {@code pace}, with the bytes hashed so far, whether to go on: it may sleep to bound the rate,
     * or answer false to give the job up (the node is closing), and then this returns null, as it
     * does for a job given up or {@link #drop dropped} before.
     */
    synchronized ReplicaHash compute(java.util.function.LongPredicate pace) {
      if (data == null) {
        return result;
      }
      try {
        CRC32C crc = new CRC32C();
        long h = 17;
        long bytes = 0;
        byte[] from = {DATA};
        byte[] to = {DATA + 1};
        while (true) {
          List<KeyValue> page = data.scan(from, to, PAGE_RECORDS);
          for (KeyValue kv : page) {
            crc.update(kv.key());
            crc.update(kv.value());
            h = h * 31 + crc.getValue();
            bytes += kv.key().length + kv.value().length;
          }
          if (page.size() < PAGE_RECORDS) {
            break;
          }
          if (!pace.test(bytes)) {
            return null;
          }
          byte[] last = page.get(page.size() - 1).key();
          from = Arrays.copyOf(last, last.length + 1); // the smallest key after it
        }
        for (byte[][] part : tail) {
          for (byte[] b : part) {
            crc.update(b);
          }
          h = h * 31 + crc.getValue();
        }
        result = new ReplicaHash(index, h);
      } finally {
        drop();
      }
      done.accept(result);
      hashed.complete(result);
      return result;
    }

    /** Releases the pinned view without hashing (a newer check superseded this one). */
    synchronized void drop() {
      if (data != null) {
        data.close();
        data = null;
        if (result == null) {
          hashed.completeExceptionally(new java.util.concurrent.CancellationException(
              "the hash check at index " + index + " was given up"));
        }
      }
    }
  }

  // ---- staging ----

  private Optional<byte[]> read(byte[] key) {
    byte[] k = dataKey(key);
    for (; overlaid < pending.size(); overlaid++) {
      PartitionStore.Mutation m = pending.get(overlaid);
      if (m instanceof PartitionStore.Mutation.Put p && p.key()[0] == DATA) {
        overlay.put(ByteBuffer.wrap(p.key()), Optional.of(p.value()));
      } else if (m instanceof PartitionStore.Mutation.Delete d && d.key()[0] == DATA) {
        overlay.put(ByteBuffer.wrap(d.key()), Optional.empty());
      }
    }
    Optional<byte[]> staged = overlay.get(ByteBuffer.wrap(k));
    return staged != null ? staged : store.get(k);
  }

  private void put(byte[] key, byte[] value) {
    pending.add(new PartitionStore.Mutation.Put(dataKey(key), value));
  }

  private void delete(byte[] key) {
    pending.add(new PartitionStore.Mutation.Delete(dataKey(key)));
  }

  private void stage(PartitionStore.Mutation m) {
    pending.add(m);
  }

  /** Drops sessions that expired (in log time); invisible to results, only frees space. */
  void collectExpiredSessions() {
    lastSession = null;
    sessions.entrySet().removeIf(e -> {
      if (e.getValue().expired(logTime, sessionTimeoutMillis)) {
        e.getValue().dirty = false;
        pending.add(new PartitionStore.Mutation.Delete(sessionKey(e.getKey())));
        return true;
      }
      return false;
    });
  }

  // ---- encodings ----

  static byte[] dataKey(byte[] key) {
    byte[] k = new byte[key.length + 1];
    k[0] = DATA;
    System.arraycopy(key, 0, k, 1, key.length);
    return k;
  }

  private static byte[] sessionKey(long clientId) {
    return new Codec.Writer().u8(SESSION).i64(clientId).toArray();
  }

  private static byte[] meta(String name) {
    return new Codec.Writer().u8(META).str(name).toArray();
  }

  private static byte[] encodeLong(long v) {
    return new Codec.Writer().i64(v).toArray();
  }

  private static long decodeLong(byte[] b) {
    Codec.Reader r = new Codec.Reader(b, "long");
    long v = r.i64();
    r.end();
    return v;
  }

  static byte[] encodeSpan(KeySpan span) {
    Codec.Writer w = new Codec.Writer();
    if (span instanceof KeySpan.Range r) {
      w.u8(1).bytes(r.start()).bytes(r.end());
    } else {
      KeySpan.HashSlot h = (KeySpan.HashSlot) span;
      w.u8(2).i64(h.partitionId()).i32(h.partitions());
    }
    return w.toArray();
  }

  static KeySpan decodeSpan(byte[] b) {
    Codec.Reader r = new Codec.Reader(b, "key span");
    int tag = r.u8();
    KeySpan s = switch (tag) {
      case 1 -> new KeySpan.Range(r.bytes(), r.bytes());
      case 2 -> new KeySpan.HashSlot(r.i64(), r.i32());
      default -> throw r.bad("unknown span tag " + tag);
    };
    r.end();
    return s;
  }
}
