package io.quorumkv.raft;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A {@link RaftStorage} kept in memory: the "durable disk" of tests and simulations, and the
 * reference for what a real log store must do.
 *
 * <p>The driver writes it with what each {@link Ready} asks ({@link #append}, {@link #setHardState},
 * {@link #applySnapshot}) and only then reports {@link RawNode#persisted(long, long)}. The core
 * reads it back. Log compaction is the driver's decision: {@link #createSnapshot} records a
 * snapshot of the applied state, then {@link #compact} drops the entries it covers.
 *
 * <p>Layout: the entries after {@code compactedIndex}, plus the index and term of the last
 * compacted entry, so that {@link #term(long)} still answers for it (the leader needs the term
 * just before the first entry it sends).
 *
 * <p>Thread-safe: every method locks the instance, so a log-writer thread may append while the
 * Raft thread reads.
 */
public final class MemoryStorage implements RaftStorage {

  private HardState hardState = HardState.EMPTY;
  private ConfState confState;
  private Snapshot snapshot = Snapshot.EMPTY;
  /** Index and term of the last entry dropped from {@link #entries}; 0 for none. */
  private long compactedIndex;
  private long compactedTerm;
  /** Entries {@code compactedIndex + 1 ..}, contiguous. */
  private final ArrayList<Entry> entries = new ArrayList<>();

  /** An empty storage with no members: a node that waits to be added to a group. */
  public MemoryStorage() {
    this(ConfState.EMPTY);
  }

  /**
   * An empty storage that bootstraps a new group with the given membership: give every initial
   * member the same {@code initialMembers}.
   */
  public MemoryStorage(ConfState initialMembers) {
    this.confState = Objects.requireNonNull(initialMembers, "initialMembers");
  }

  /** An empty storage that bootstraps a group of the given voters. */
  public static MemoryStorage withVoters(long... voters) {
    java.util.Set<Long> ids = new java.util.HashSet<>();
    for (long v : voters) {
      ids.add(v);
    }
    return new MemoryStorage(ConfState.ofVoters(ids));
  }

  @Override
  public synchronized InitialState initialState() {
    return new InitialState(hardState, confState);
  }

  /** The last hard state written. */
  public synchronized HardState hardState() {
    return hardState;
  }

  /** Records the hard state of a {@link Ready}. */
  public synchronized void setHardState(HardState hs) {
    hardState = Objects.requireNonNull(hs, "hardState");
  }

  /**
   * Records the membership a restart begins with. The driver calls it with the result of
   * {@link RawNode#applyConfChange(ConfChange)}, so that it matches the applied index the driver
   * restarts with ({@link RaftConfig#applied()}).
   */
  public synchronized void setConfState(ConfState cs) {
    confState = Objects.requireNonNull(cs, "confState");
  }

  @Override
  public synchronized List<Entry> entries(long lo, long hi, long maxBytes) {
    if (lo <= compactedIndex) {
      throw new LogCompactedException(lo);
    }
    if (hi - 1 > lastIndexLocked()) {
      throw new LogUnavailableException(hi - 1);
    }
    if (lo >= hi) {
      return List.of();
    }
    List<Entry> out = new ArrayList<>();
    long size = 0;
    for (long i = lo; i < hi; i++) {
      Entry e = entries.get((int) (i - compactedIndex - 1));
      size += e.sizeBytes();
      if (!out.isEmpty() && size > maxBytes) {
        break;
      }
      out.add(e);
    }
    return out;
  }

  @Override
  public synchronized long term(long index) {
    if (index < compactedIndex) {
      throw new LogCompactedException(index);
    }
    if (index == compactedIndex) {
      return compactedTerm;
    }
    if (index > lastIndexLocked()) {
      throw new LogUnavailableException(index);
    }
    return entries.get((int) (index - compactedIndex - 1)).term();
  }

  @Override
  public synchronized long firstIndex() {
    return compactedIndex + 1;
  }

  @Override
  public synchronized long lastIndex() {
    return lastIndexLocked();
  }

  private long lastIndexLocked() {
    return compactedIndex + entries.size();
  }

  @Override
  public synchronized Snapshot snapshot() {
    return snapshot;
  }

  /**
   * Appends entries to the log, first discarding any existing entries at or after the first new
   * index (a follower's conflicting suffix). Entries at or before the compaction point are
   * skipped: they are already covered by the snapshot.
   *
   * @throws IllegalArgumentException if the entries are not contiguous or would leave a gap
   */
  public synchronized void append(List<Entry> newEntries) {
    if (newEntries.isEmpty()) {
      return;
    }
    for (int i = 1; i < newEntries.size(); i++) {
      if (newEntries.get(i).index() != newEntries.get(i - 1).index() + 1) {
        throw new IllegalArgumentException("entries not contiguous at " + newEntries.get(i));
      }
    }
    long first = newEntries.get(0).index();
    long last = newEntries.get(newEntries.size() - 1).index();
    if (last <= compactedIndex) {
      return;
    }
    if (first > lastIndexLocked() + 1) {
      throw new IllegalArgumentException(
          "gap: appending at " + first + " after last index " + lastIndexLocked());
    }
    int skip = (int) Math.max(0, compactedIndex + 1 - first);
    long from = first + skip;
    int keep = (int) (from - compactedIndex - 1);
    entries.subList(keep, entries.size()).clear();
    entries.addAll(newEntries.subList(skip, newEntries.size()));
  }

  /**
   * Replaces the whole log by a snapshot received from the leader: the entries, the snapshot and
   * the membership all become the snapshot's.
   *
   * @throws IllegalArgumentException if the snapshot is older than the one already held
   */
  public synchronized void applySnapshot(Snapshot snap) {
    long index = snap.metadata().index();
    if (index < snapshot.metadata().index() || index < compactedIndex) {
      throw new IllegalArgumentException(
          "snapshot at " + index + " is older than the log's at "
              + Math.max(snapshot.metadata().index(), compactedIndex));
    }
    snapshot = snap;
    compactedIndex = index;
    compactedTerm = snap.metadata().term();
    entries.clear();
    confState = snap.metadata().confState();
  }

  /**
   * Records a snapshot of the state machine as of {@code index} (which the driver has applied),
   * to be sent to followers that fall behind the compaction point. Does not compact: call
   * {@link #compact(long)} afterwards.
   *
   * @param index     the last applied index the data reflects; at most the last index
   * @param confState the membership as of {@code index}
   * @param data      the application's snapshot payload or descriptor
   * @return the new snapshot
   * @throws IllegalArgumentException if {@code index} is past the log or not after the current snapshot
   */
  public synchronized Snapshot createSnapshot(long index, ConfState confState, byte[] data) {
    if (index <= snapshot.metadata().index()) {
      throw new IllegalArgumentException(
          "snapshot at " + index + " is not after the current one at " + snapshot.metadata().index());
    }
    if (index > lastIndexLocked()) {
      throw new IllegalArgumentException("snapshot at " + index + " is past the last index " + lastIndexLocked());
    }
    snapshot = new Snapshot(new SnapshotMetadata(index, term(index), confState), data);
    return snapshot;
  }

  /**
   * Drops every entry up to and including {@code index}. A call at or before the current
   * compaction point does nothing.
   *
   * @throws IllegalArgumentException if {@code index} is past the latest snapshot: a follower that
   *         needs the dropped entries must be able to get them from a snapshot instead
   */
  public synchronized void compact(long index) {
    if (index <= compactedIndex) {
      return;
    }
    if (index > snapshot.metadata().index()) {
      throw new IllegalArgumentException(
          "cannot compact to " + index + " past the snapshot at " + snapshot.metadata().index());
    }
    long t = term(index);
    entries.subList(0, (int) (index - compactedIndex)).clear();
    compactedIndex = index;
    compactedTerm = t;
  }
}
