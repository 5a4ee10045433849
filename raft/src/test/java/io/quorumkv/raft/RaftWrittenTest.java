package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntries;
import io.quorumkv.raft.Message.AppendEntriesResponse;
import io.quorumkv.raft.Message.RequestVoteResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link RawNode#written}: committed entries may be applied once written in order (before they
 * are durable here), while the commit index still counts only durable copies (finding 29 of
 * docs/benchmarks.md: a round waits for the second-fastest of three syncs, not the leader's).
 */
class RaftWrittenTest {

  /** A leader of {1, 2, 3} in its first term whose no-op (index 1) is handed out, not written. */
  private static RawNode leaderWithNoop(MemoryStorage s) {
    RawNode leader = new RawNode(Net.config(1).preVote(false).build(), s);
    leader.campaign();
    long term = leader.status().hardState().term();
    leader.ready(); // vote requests
    leader.step(new RequestVoteResponse(2, 1, term, false, false));
    assertEquals(StateRole.LEADER, leader.status().softState().role());
    Ready rd = leader.ready();
    assertEquals(List.of(1L), rd.entries().stream().map(Entry::index).toList(), "the no-op");
    return leader;
  }

  private static long term(RawNode n) {
    return n.status().hardState().term();
  }

  private static AppendEntriesResponse ack(long from, long term, long index) {
    return new AppendEntriesResponse(from, 1, term, false, index, 0, 0);
  }

  @Test
  void aLeaderAppliesAnEntryBothFollowersHoldOnceItsOwnCopyIsWritten() {
    RawNode leader = leaderWithNoop(Net.emptyLog(1, 2, 3));
    long term = term(leader);
    leader.written(1, term);
    leader.step(ack(2, term, 1));
    leader.step(ack(3, term, 1));
    assertEquals(1, leader.commitIndex(), "two durable follower copies are a quorum");
    assertEquals(0, leader.status().progress().get(1L).matchIndex(), "its own copy is not durable");
    assertEquals(List.of(1L), leader.ready().committedEntries().stream().map(Entry::index).toList(),
        "written, so it may be applied before the leader's sync");
  }

  @Test
  void withoutWrittenTheLeaderWaitsForItsOwnSync() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode leader = leaderWithNoop(s);
    long term = term(leader);
    leader.step(ack(2, term, 1));
    leader.step(ack(3, term, 1));
    assertEquals(1, leader.commitIndex());
    assertTrue(leader.ready().committedEntries().isEmpty(), "neither durable nor written here");
    s.append(List.of(Entry.normal(1, term, new byte[0])));
    leader.persisted(1, term);
    assertEquals(1, leader.ready().committedEntries().size());
  }

  /**
   * The leader's written copy must not count toward the commit quorum: with one follower's ack it
   * would commit, the leader would answer the client, then crash losing its copy; restarted, it
   * and the third member (neither holding the entry) could elect a leader that overwrites it.
   */
  @Test
  void aWrittenCopyOfTheLeaderDoesNotCountTowardTheCommitIndex() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode leader = leaderWithNoop(s);
    long term = term(leader);
    leader.written(1, term);
    leader.step(ack(2, term, 1));
    assertEquals(0, leader.commitIndex(), "one durable copy of three is not a quorum");
    assertTrue(leader.ready().committedEntries().isEmpty());
    // The crash loses the written, unsynced entry: nothing on the leader's disk claims index 1.
    RawNode restarted = new RawNode(Net.config(1).preVote(false).build(), s);
    assertEquals(0, restarted.status().hardState().commit());
    assertEquals(0, s.lastIndex());
  }

  @Test
  void writtenForAnEntryALaterAppendReplacedDoesNotAllowApplying() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(3).build(), s);
    f.step(new AppendEntries(1, 3, 1, 0, 0, Net.entries(1, 3, 1), 0));
    Ready r1 = f.ready(); // entries 1..3 of term 1, being written
    assertEquals(3, r1.entries().size());
    // A leader of term 2 replaces 2..3 and commits them before the first write is reported.
    f.step(new AppendEntries(2, 3, 2, 1, 1, Net.entries(2, 3, 2), 3));
    Ready r2 = f.ready();
    assertEquals(Net.entries(2, 3, 2), r2.entries());
    assertTrue(r2.committedEntries().isEmpty());
    f.written(3, 1); // the late report of the first write: (3, 1) is no longer in the log
    assertTrue(f.ready().committedEntries().isEmpty(), "entry 3 of term 2 is not written yet");
    f.written(3, 2);
    List<Entry> expected = new java.util.ArrayList<>(Net.entries(1, 1, 1));
    expected.addAll(Net.entries(2, 3, 2));
    assertEquals(expected, f.ready().committedEntries());
  }

  @Test
  void aTruncatedSuffixIsNoLongerWritten() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(3).build(), s);
    f.step(new AppendEntries(1, 3, 1, 0, 0, Net.entries(1, 3, 1), 0));
    f.ready();
    f.written(3, 1);
    assertTrue(f.ready().committedEntries().isEmpty(), "written, not committed");
    // A leader of term 2 keeps entry 1, replaces 2..3 and has committed through 3.
    f.step(new AppendEntries(2, 3, 2, 1, 1, Net.entries(2, 3, 2), 3));
    Ready r = f.ready();
    assertEquals(Net.entries(2, 3, 2), r.entries());
    assertEquals(Net.entries(1, 1, 1), r.committedEntries(),
        "only the entry still as written; 2..3 of term 2 are not written yet");
    f.applied(1);
    f.written(3, 2);
    assertEquals(Net.entries(2, 3, 2), f.ready().committedEntries());
  }

  @Test
  void writtenEntriesAfterARestoredSnapshotWaitForTheSnapshotToBePersisted() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(3).build(), s);
    f.step(new AppendEntries(1, 3, 1, 0, 0, Net.entries(1, 3, 1), 0));
    f.ready();
    f.written(3, 1);
    Snapshot snap = new Snapshot(new SnapshotMetadata(5, 2, ConfState.ofVoters(java.util.Set.of(1L, 2L, 3L))),
        new byte[0]);
    f.step(new Message.InstallSnapshot(1, 3, 2, snap));
    f.step(new AppendEntries(1, 3, 2, 5, 2, Net.entries(6, 7, 2), 7));
    Ready r = f.ready();
    assertEquals(snap, r.snapshot().orElseThrow());
    assertEquals(Net.entries(6, 7, 2), r.entries());
    assertTrue(r.committedEntries().isEmpty());
    f.written(7, 2);
    assertTrue(f.ready().committedEntries().isEmpty(), "the snapshot is not installed yet");
    s.applySnapshot(snap);
    f.snapshotPersisted(5);
    assertEquals(Net.entries(6, 7, 2), f.ready().committedEntries(),
        "written after the snapshot in the same ordered log");
  }
}
