package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntriesResponse;
import io.quorumkv.raft.Message.InstallSnapshot;
import io.quorumkv.raft.Status.ReplicationState;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Log compaction and InstallSnapshot (paper §7). */
class RaftSnapshotTest {

  /** A group where node 3 missed ten entries that the leader then compacted away. */
  private static Net compactedWhileAway() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(3);
    for (int i = 0; i < 10; i++) {
      net.propose(1, "p" + i);
    }
    net.node(1).snapshotAndCompact();
    return net;
  }

  @Test
  void aFollowerBehindTheCompactionPointReceivesAndInstallsASnapshot() {
    Net net = compactedWhileAway();
    long snapIndex = net.node(1).storage.snapshot().metadata().index();
    net.heal();
    net.tick(2);
    assertEquals(1, net.traced(InstallSnapshot.class).size());
    Net.Node three = net.node(3);
    assertTrue(three.readies.stream().anyMatch(r -> r.snapshot().isPresent()), "handed out in a Ready");
    assertEquals(net.node(1).state, three.state);
    assertEquals(snapIndex, three.storage.firstIndex() - 1);
    assertEquals(snapIndex, three.status().applied());
    assertEquals(ReplicationState.REPLICATE, net.node(1).status().progress().get(3L).state());
    net.propose(1, "after");
    net.tick(1);
    assertEquals(net.node(1).state, three.state);
  }

  @Test
  void committedEntriesAfterASnapshotStartRightAfterIt() {
    Net net = compactedWhileAway();
    long snapIndex = net.node(1).storage.snapshot().metadata().index();
    net.node(3).readies.clear();
    net.heal();
    net.tick(2);
    net.propose(1, "after");
    net.tick(1);
    List<Entry> applied = new ArrayList<>();
    net.node(3).readies.forEach(r -> applied.addAll(r.committedEntries()));
    assertEquals(snapIndex + 1, applied.get(0).index());
    assertTrue(applied.stream().allMatch(e -> e.index() > snapIndex),
        "nothing covered by the snapshot is applied again: " + applied);
  }

  @Test
  void aFailedSnapshotSendMovesTheFollowerBackToProbing() {
    Net net = compactedWhileAway();
    net.heal();
    net.dropIf(m -> m instanceof InstallSnapshot);
    net.tick(2);
    assertEquals(ReplicationState.SNAPSHOT, net.node(1).status().progress().get(3L).state());
    net.node(1).raw.reportSnapshot(3, false);
    assertEquals(ReplicationState.PROBE, net.node(1).status().progress().get(3L).state());
    net.heal();
    net.tick(2);
    assertEquals(net.node(1).state, net.node(3).state, "the snapshot is sent again");
    assertEquals(2, net.traced(InstallSnapshot.class).size());
  }

  /** Follower 2 of {1,2,3} with entries 1..5 of term 1 persisted, {@code commit} known committed. */
  private static RawNode followerWithFiveDurableEntries(long commit) {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(2).build(), s);
    f.step(new Message.AppendEntries(1, 2, 1, 0, 0, Net.entries(1, 5, 1), commit));
    s.append(f.ready().entries());
    f.persisted(5, 1);
    return f;
  }

  @Test
  void aSnapshotNotNewerThanTheCommitIndexIsIgnored() {
    RawNode f = followerWithFiveDurableEntries(5);
    f.ready();
    Snapshot old = new Snapshot(new SnapshotMetadata(3, 1, ConfState.ofVoters(Set.of(1L, 2L, 3L))), new byte[] {9});
    f.step(new InstallSnapshot(1, 2, 1, old));
    Ready after = f.ready();
    assertFalse(after.snapshot().isPresent());
    AppendEntriesResponse r = (AppendEntriesResponse) after.messagesAfterPersist().get(0);
    assertEquals(5, r.index(), "answers with its commit index");
  }

  @Test
  void aSnapshotWhoseLastEntryWeHaveOnlyAdvancesTheCommitIndex() {
    RawNode f = followerWithFiveDurableEntries(0);
    Snapshot snap = new Snapshot(new SnapshotMetadata(4, 1, ConfState.ofVoters(Set.of(1L, 2L, 3L))), new byte[] {9});
    f.step(new InstallSnapshot(1, 2, 1, snap));
    Ready after = f.ready();
    assertFalse(after.snapshot().isPresent(), "the log already has it: keep the log");
    assertEquals(4, f.status().hardState().commit());
    assertEquals(5, f.status().lastIndex());
  }

  @Test
  void aMemberAddedAfterCompactionStartsFromASnapshotWithItsMembership() {
    Net net = Net.of(3);
    net.elect(1);
    for (int i = 0; i < 5; i++) {
      net.propose(1, "p" + i);
    }
    net.node(1).snapshotAndCompact();
    Net.Node four = net.add(4, new MemoryStorage(), b -> { });
    net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.ADD_VOTER, 4));
    net.stabilize();
    net.tick(3);
    assertEquals(1, net.traced(InstallSnapshot.class).size());
    assertEquals(net.node(1).state, four.state);
    assertEquals(Set.of(1L, 2L, 3L, 4L), four.status().confState().voters());
  }

  /**
   * Node 3 of {1,2,3} is removed, the leader compacts its log, and 3 is added back as a learner:
   * the leader's only snapshot predates the re-addition, so its membership lacks 3. Node 3 must
   * install it (and then the entry adding it back), whether it was cut off during its removal and
   * still believes itself a voter, or applied its removal.
   */
  private static void aRemovedMemberAddedBackInstallsASnapshotTakenWhileItWasOut(boolean appliedItsRemoval) {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "before");
    if (!appliedItsRemoval) {
      net.isolate(3);
    }
    net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.REMOVE, 3));
    net.stabilize();
    net.isolate(3);
    assertEquals(appliedItsRemoval ? Set.of(1L, 2L) : Set.of(1L, 2L, 3L), net.node(3).confState.voters());
    for (int i = 0; i < 5; i++) {
      net.propose(1, "p" + i);
    }
    net.node(1).snapshotAndCompact();
    assertEquals(Set.of(1L, 2L), net.node(1).storage.snapshot().metadata().confState().voters());
    net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.ADD_LEARNER, 3));
    net.stabilize();
    net.heal();
    net.tick(3);
    net.propose(1, "after");
    net.tick(1); // a heartbeat tells the followers the commit index of the last entry
    assertEquals(1, net.traced(InstallSnapshot.class).size(), "one snapshot, installed at once");
    assertEquals(net.node(1).state, net.node(3).state);
    assertEquals(Set.of(3L), net.node(3).confState.learners());
    assertEquals(net.node(1).commit(), net.node(1).status().progress().get(3L).matchIndex());
  }

  @Test
  void aMemberCutOffDuringItsRemovalAndAddedBackInstallsASnapshotWithoutIt() {
    aRemovedMemberAddedBackInstallsASnapshotTakenWhileItWasOut(false);
  }

  @Test
  void aMemberThatAppliedItsRemovalAndIsAddedBackInstallsASnapshotWithoutIt() {
    aRemovedMemberAddedBackInstallsASnapshotTakenWhileItWasOut(true);
  }

  @Test
  void aNodeRestartsFromItsSnapshotAndLog() {
    Net net = Net.of(3);
    net.elect(1);
    for (int i = 0; i < 5; i++) {
      net.propose(1, "p" + i);
    }
    net.tick(1);
    net.node(2).snapshotAndCompact();
    net.propose(1, "q");
    net.tick(1);
    List<String> before = List.copyOf(net.node(2).state);
    net.node(2).restart();
    net.propose(1, "r");
    net.tick(2);
    List<String> expected = new ArrayList<>(before);
    expected.add("r");
    assertEquals(expected, net.node(2).state, "no entry applied twice, none lost");
  }

  @Test
  void confChangesHandedOutBeforeARestoredSnapshotBecomeNoOps() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(2).build(), s);
    ConfChange enterJoint = new ConfChange(List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, 4)),
        ConfChange.Transition.JOINT_IMPLICIT, Entry.EMPTY);
    List<Entry> ents = List.of(Entry.normal(1, 1, new byte[] {1}),
        new Entry(2, 1, EntryType.CONF_CHANGE, enterJoint.encode()));
    f.step(new Message.AppendEntries(1, 2, 1, 0, 0, ents, 2));
    Ready r1 = f.ready();
    s.append(r1.entries());
    f.persisted(2, 1);
    Ready r2 = f.ready();
    assertEquals(2, r2.committedEntries().size(), "handed out, not applied yet");
    // Before the driver applies them, a snapshot from after the joint config was left arrives.
    ConfState after = ConfState.ofVoters(Set.of(1L, 2L, 3L, 4L));
    f.step(new InstallSnapshot(1, 2, 1, new Snapshot(new SnapshotMetadata(10, 1, after), new byte[0])));
    assertEquals(after, f.applyConfChange(enterJoint), "superseded by the snapshot");
    assertEquals(after, f.status().confState());
  }

  @Test
  void withItsIndexAConfChangeAfterARestoredSnapshotAppliesEvenIfTheDriverSkippedTheSupersededOnes() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(2).build(), s);
    ConfChange addFour = ConfChange.of(ConfChangeType.ADD_VOTER, 4);
    f.step(new Message.AppendEntries(1, 2, 1, 0, 0, List.of(Entry.normal(1, 1, new byte[] {1}),
        new Entry(2, 1, EntryType.CONF_CHANGE, addFour.encode())), 2));
    Ready r1 = f.ready();
    s.append(r1.entries());
    f.persisted(2, 1);
    assertEquals(2, f.ready().committedEntries().size(), "handed out, not applied yet");
    // A snapshot that already has node 4 replaces the state; the driver drops the stale batch
    // instead of applying it (its state machine was replaced).
    ConfState withFour = ConfState.ofVoters(Set.of(1L, 2L, 3L, 4L));
    Snapshot snap = new Snapshot(new SnapshotMetadata(10, 1, withFour), new byte[0]);
    f.step(new InstallSnapshot(1, 2, 1, snap));
    Ready r3 = f.ready();
    assertTrue(r3.snapshot().isPresent());
    s.applySnapshot(snap);
    f.snapshotPersisted(10);
    assertEquals(withFour, f.status().confState());
    // The next change, after the snapshot, must take effect.
    ConfChange removeFour = ConfChange.of(ConfChangeType.REMOVE, 4);
    f.step(new Message.AppendEntries(1, 2, 1, 10, 1, List.of(new Entry(11, 1, EntryType.CONF_CHANGE,
        removeFour.encode())), 11));
    Ready r4 = f.ready();
    s.append(r4.entries());
    f.persisted(11, 1);
    List<Entry> committed = f.ready().committedEntries();
    assertEquals(11, committed.get(committed.size() - 1).index());
    ConfState cs = f.applyConfChange(removeFour, 11);
    assertEquals(Set.of(1L, 2L, 3L), cs.voters(), "applied, not taken for a superseded change");
    assertEquals(cs, f.status().confState());
    // A late call for the superseded change (at index 2) changes nothing.
    assertEquals(cs, f.applyConfChange(addFour, 2));
  }
}
