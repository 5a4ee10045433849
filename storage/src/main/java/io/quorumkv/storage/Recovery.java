package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.storage.StorageStartupException.Reason;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What an engine does when it opens: read every group's metadata, scan and verify every log
 * record (checksum, no gap, terms never decreasing), finish interrupted snapshot installs, refuse
 * inconsistent groups, drop unreferenced snapshot payloads, and publish the in-memory views.
 * Reading the whole log costs time proportional to its size, which compaction keeps bounded.
 */
final class Recovery {

  private static final Logger LOG = LoggerFactory.getLogger(Recovery.class);

  /** What the metadata says about one group. */
  private static final class Found {
    HardState hardState = HardState.EMPTY;
    long baseIndex;
    long baseTerm;
    Snapshot snapshot = Snapshot.EMPTY;
    long appliedIndex;
    long appliedTerm;
    long confIndex;
    ConfState confState = ConfState.EMPTY;
    Snapshot restore;
    long lastIndex = -1;
    TermRuns terms = TermRuns.EMPTY;
  }

  private final StorageEngine engine;
  private final Backend backend;
  private final Map<Long, Found> found = new TreeMap<>();

  Recovery(StorageEngine engine) {
    this.engine = engine;
    this.backend = engine.backend();
  }

  void run() {
    readMeta();
    scanLogs();
    for (Map.Entry<Long, Found> e : found.entrySet()) {
      finishRestore(e.getKey(), e.getValue());
      check(e.getKey(), e.getValue());
    }
    for (Map.Entry<Long, Found> e : found.entrySet()) {
      Found f = e.getValue();
      StorageEngine.Group g = engine.group(e.getKey());
      long last = Math.max(f.lastIndex, f.baseIndex);
      g.logView = new LogView(f.baseIndex, f.baseTerm, last, f.terms, f.hardState, f.snapshot);
      g.smView = new SmView(f.appliedIndex, f.appliedTerm, f.confIndex, f.confState);
    }
    removeUnreferencedBlobs();
    if (!found.isEmpty()) {
      LOG.debug("storage opened with {} group(s)", found.size());
    }
  }

  private Found found(long groupId) {
    return found.computeIfAbsent(groupId, id -> new Found());
  }

  private void readMeta() {
    backend.scan(Backend.Cf.META, Keys.group(0), Keys.group(Long.MAX_VALUE), (key, value) -> {
      long g = Keys.groupOf(key);
      java.util.function.Supplier<String> where =
          engine.where(Backend.Cf.META, g, key, "metadata record " + key[8]);
      ByteBuffer b = Codec.unseal(key, value, where);
      Found f = found(g);
      try {
        switch (key[8]) {
          case Keys.HARD_STATE -> f.hardState = Codec.hardState(b);
          case Keys.LOG_BASE -> {
            f.baseIndex = b.getLong();
            f.baseTerm = b.getLong();
          }
          case Keys.SNAPSHOT -> f.snapshot = StorageEngine.decodeSnapshot(b);
          case Keys.APPLIED -> {
            f.appliedIndex = b.getLong();
            f.appliedTerm = b.getLong();
          }
          case Keys.CONF_STATE -> {
            f.confIndex = b.getLong();
            f.confState = Codec.getConfState(b);
          }
          case Keys.RESTORE -> f.restore = StorageEngine.decodeSnapshot(b);
          default -> throw new StorageCorruptionException(where.get() + ": unknown record type");
        }
      } catch (RuntimeException e) {
        if (e instanceof StorageCorruptionException) {
          throw e;
        }
        throw new StorageCorruptionException(where.get() + ": undecodable (" + e + ")");
      }
      return true;
    });
  }

  private void scanLogs() {
    backend.scan(Backend.Cf.LOG, Keys.group(0), Keys.group(Long.MAX_VALUE), (key, value) -> {
      long g = Keys.groupOf(key);
      long index = Keys.indexOf(key);
      Entry e = Codec.entry(key, value, engine.where(Backend.Cf.LOG, g, key, "log index " + index));
      Found f = found(g);
      long expected = f.lastIndex < 0 ? f.baseIndex + 1 : f.lastIndex + 1;
      if (index != expected) {
        throw new StorageStartupException(Reason.LOG_GAP,
            engine.where(Backend.Cf.LOG, g, "log") + ": expected entry " + expected
                + " but found " + index + " (snapshot at " + f.baseIndex + ")");
      }
      long prevTerm = f.lastIndex < 0 ? f.baseTerm : f.terms.lastTerm(f.baseTerm);
      if (e.term() < prevTerm) {
        throw new StorageCorruptionException(
            engine.where(Backend.Cf.LOG, g, "log index " + index) + ": term " + e.term()
                + " is below the previous entry's term " + prevTerm);
      }
      f.terms = f.terms.append(index, e.term());
      f.lastIndex = index;
      return true;
    });
  }

  /** Redo an install whose marker survived: the log part was written with the marker. */
  private void finishRestore(long g, Found f) {
    if (f.restore == null) {
      return;
    }
    Snapshot s = f.restore;
    String blob = SnapshotFormat.blobName(g, s.metadata().index(), s.metadata().term());
    LOG.warn("group {}: finishing a snapshot install interrupted at {}", g, s.metadata());
    engine.loadSnapshotState(g, s, blob);
    f.appliedIndex = s.metadata().index();
    f.appliedTerm = s.metadata().term();
    f.confIndex = s.metadata().index();
    f.confState = s.metadata().confState();
    f.restore = null;
  }

  private void check(long g, Found f) {
    long last = Math.max(f.lastIndex, f.baseIndex);
    if (f.appliedIndex < f.baseIndex) {
      throw new StorageStartupException(Reason.STATE_MACHINE_BEHIND_SNAPSHOT,
          "group " + g + ": state machine applied index " + f.appliedIndex
              + " is behind the log's snapshot at " + f.baseIndex
              + "; the entries it needs were discarded (restore the group from a snapshot)");
    }
    if (f.appliedIndex > last) {
      throw new StorageStartupException(Reason.STATE_AHEAD_OF_LOG,
          "group " + g + ": state machine applied index " + f.appliedIndex
              + " is past the log's last index " + last);
    }
    if (f.hardState.commit() > last) {
      throw new StorageStartupException(Reason.STATE_AHEAD_OF_LOG,
          "group " + g + ": hard state commit " + f.hardState.commit()
              + " is past the log's last index " + last);
    }
  }

  private void removeUnreferencedBlobs() {
    Set<String> keep = new HashSet<>();
    for (Map.Entry<Long, Found> e : found.entrySet()) {
      Snapshot s = e.getValue().snapshot;
      if (!s.isEmpty()) {
        keep.add(SnapshotFormat.blobName(e.getKey(), s.metadata().index(), s.metadata().term()));
      }
    }
    BlobStore blobs = engine.blobs();
    for (String name : blobs.list()) {
      if (!keep.contains(name)) {
        blobs.delete(name);
      }
    }
  }
}
