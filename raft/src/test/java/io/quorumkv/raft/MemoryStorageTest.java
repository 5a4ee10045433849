package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The in-memory "disk": the contract every {@link RaftStorage} must keep. */
class MemoryStorageTest {

  private static List<Entry> entries(long from, long to, long term) {
    return java.util.stream.LongStream.rangeClosed(from, to)
        .mapToObj(i -> Entry.normal(i, term, new byte[] {(byte) i}))
        .toList();
  }

  @Test
  void emptyStorageHasFirstIndexOneAndLastIndexZero() {
    MemoryStorage s = new MemoryStorage();
    assertEquals(1, s.firstIndex());
    assertEquals(0, s.lastIndex());
    assertEquals(0, s.term(0));
    assertEquals(ConfState.EMPTY, s.initialState().confState());
    assertEquals(HardState.EMPTY, s.initialState().hardState());
  }

  @Test
  void appendOverwritesTheConflictingSuffix() {
    MemoryStorage s = new MemoryStorage();
    s.append(entries(1, 5, 1));
    s.append(entries(3, 4, 2));
    assertEquals(4, s.lastIndex());
    assertEquals(1, s.term(2));
    assertEquals(2, s.term(3));
    assertEquals(2, s.term(4));
    assertThrows(LogUnavailableException.class, () -> s.term(5));
  }

  @Test
  void appendRefusesAGap() {
    MemoryStorage s = new MemoryStorage();
    s.append(entries(1, 2, 1));
    assertThrows(IllegalArgumentException.class, () -> s.append(entries(4, 5, 1)));
  }

  @Test
  void entriesAreLimitedByBytesButReturnAtLeastOne() {
    MemoryStorage s = new MemoryStorage();
    s.append(entries(1, 5, 1));
    long one = entries(1, 1, 1).get(0).sizeBytes();
    assertEquals(1, s.entries(1, 6, 0).size());
    assertEquals(2, s.entries(1, 6, 2 * one).size());
    assertEquals(5, s.entries(1, 6, Long.MAX_VALUE).size());
    assertThrows(LogUnavailableException.class, () -> s.entries(1, 7, Long.MAX_VALUE));
  }

  @Test
  void compactKeepsTheTermOfTheLastCompactedEntry() {
    MemoryStorage s = new MemoryStorage();
    s.append(entries(1, 3, 1));
    s.append(entries(4, 6, 2));
    ConfState cs = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    Snapshot snap = s.createSnapshot(4, cs, new byte[] {42});
    assertEquals(new SnapshotMetadata(4, 2, cs), snap.metadata());
    s.compact(4);
    assertEquals(5, s.firstIndex());
    assertEquals(6, s.lastIndex());
    assertEquals(2, s.term(4));
    assertThrows(LogCompactedException.class, () -> s.term(3));
    assertThrows(LogCompactedException.class, () -> s.entries(4, 6, Long.MAX_VALUE));
    assertEquals(snap, s.snapshot());
    s.compact(2); // already compacted: no-op
    assertEquals(5, s.firstIndex());
  }

  @Test
  void compactPastTheSnapshotIsRefused() {
    MemoryStorage s = new MemoryStorage();
    s.append(entries(1, 5, 1));
    s.createSnapshot(2, ConfState.EMPTY, Entry.EMPTY);
    assertThrows(IllegalArgumentException.class, () -> s.compact(3));
  }

  @Test
  void applySnapshotReplacesLogAndMembership() {
    MemoryStorage s = new MemoryStorage();
    s.append(entries(1, 5, 1));
    ConfState cs = ConfState.ofVoters(Set.of(1L, 2L));
    s.applySnapshot(new Snapshot(new SnapshotMetadata(10, 3, cs), new byte[] {1}));
    assertEquals(11, s.firstIndex());
    assertEquals(10, s.lastIndex());
    assertEquals(3, s.term(10));
    assertEquals(cs, s.initialState().confState());
    s.append(entries(11, 12, 3));
    assertEquals(12, s.lastIndex());
    assertThrows(IllegalArgumentException.class,
        () -> s.applySnapshot(new Snapshot(new SnapshotMetadata(5, 1, cs), Entry.EMPTY)));
  }

  @Test
  void appendSkipsEntriesCoveredByTheSnapshot() {
    MemoryStorage s = new MemoryStorage();
    s.applySnapshot(new Snapshot(new SnapshotMetadata(3, 1, ConfState.EMPTY), Entry.EMPTY));
    s.append(entries(2, 5, 1));
    assertEquals(4, s.firstIndex());
    assertEquals(5, s.lastIndex());
  }
}
