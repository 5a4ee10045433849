package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfChange.Single;
import io.quorumkv.raft.ConfChange.Transition;
import io.quorumkv.raft.Message.RequestVote;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Membership changes: learners, single-server changes and joint consensus (thesis ch. 4). */
class RaftMembershipTest {

  private static ConfState voters(Net net, long id) {
    return net.node(id).status().confState();
  }

  private static void change(Net net, long leader, ConfChange cc) {
    net.node(leader).raw.proposeConfChange(cc);
    net.stabilize();
    net.tick(2);
  }

  @Test
  void aLearnerReceivesTheLogButDoesNotCountForCommit() {
    Net net = Net.of(2);
    net.add(3, new MemoryStorage(), b -> { });
    net.elect(1);
    change(net, 1, ConfChange.of(ConfChangeType.ADD_LEARNER, 3));
    net.propose(1, "a");
    net.tick(1);
    assertEquals(List.of("a"), net.node(3).state);
    assertEquals(Set.of(3L), voters(net, 3).learners());
    net.isolate(2);
    long index = net.propose(1, "b");
    net.tick(1);
    assertTrue(net.node(1).commit() < index, "1 voter + 1 learner of 2 voters is no quorum");
    assertEquals(net.node(1).status().lastIndex(), net.node(3).status().lastIndex(), "but the learner has it");
  }

  @Test
  void aLearnerNeverCampaigns() {
    Net net = Net.of(2);
    net.add(3, new MemoryStorage(), b -> { });
    net.elect(1);
    change(net, 1, ConfChange.of(ConfChangeType.ADD_LEARNER, 3));
    long term = net.node(3).term();
    net.isolate(3);
    net.tick(60);
    assertEquals(StateRole.FOLLOWER, net.node(3).role());
    assertEquals(term, net.node(3).term());
  }

  @Test
  void anAddedVoterWithAnEmptyConfigurationCatchesUpAndThenCounts() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    Net.Node four = net.add(4, new MemoryStorage(), b -> { });
    assertEquals(ConfState.EMPTY, four.status().confState());
    change(net, 1, ConfChange.of(ConfChangeType.ADD_VOTER, 4));
    assertEquals(List.of("a"), four.state);
    assertEquals(Set.of(1L, 2L, 3L, 4L), voters(net, 4).voters());
    net.isolate(2);
    net.isolate(3);
    long index = net.propose(1, "b");
    assertTrue(net.node(1).commit() < index, "2 of 4 is no majority");
    net.heal();
    net.tick(2);
    assertEquals(List.of("a", "b"), four.state);
  }

  @Test
  void replacingAVoterGoesThroughAJointConfigurationAndLeavesItAutomatically() {
    Net net = Net.of(3);
    net.elect(1);
    net.add(4, new MemoryStorage(), b -> { });
    net.node(1).raw.proposeConfChange(new ConfChange(
        List.of(new Single(ConfChangeType.ADD_VOTER, 4), new Single(ConfChangeType.REMOVE, 3)),
        Transition.AUTO, Entry.EMPTY));
    net.stabilize();
    net.tick(3);
    ConfState cs = voters(net, 1);
    assertFalse(cs.isJoint(), "the leader left the joint configuration by itself");
    assertEquals(Set.of(1L, 2L, 4L), cs.voters());
    assertEquals(cs, voters(net, 4));
    long conf = net.node(1).readies.stream().flatMap(r -> r.committedEntries().stream())
        .filter(e -> e.type() == EntryType.CONF_CHANGE && e.index() > 3).count(); // after bootstrap
    assertEquals(2, conf, "enter joint, then leave joint");
    net.propose(1, "after");
    net.tick(1); // a heartbeat tells the followers the commit index of the last entry
    assertTrue(net.node(4).state.contains("after"));
  }

  @Test
  void anExplicitJointConfigurationWaitsForTheRequestToLeave() {
    Net net = Net.of(3);
    net.elect(1);
    net.add(4, new MemoryStorage(), b -> { });
    change(net, 1, new ConfChange(List.of(new Single(ConfChangeType.ADD_VOTER, 4)),
        Transition.JOINT_EXPLICIT, Entry.EMPTY));
    ConfState joint = voters(net, 1);
    assertTrue(joint.isJoint());
    assertEquals(Set.of(1L, 2L, 3L), joint.votersOutgoing());
    assertEquals(Set.of(1L, 2L, 3L, 4L), joint.voters());
    net.tick(5);
    assertTrue(voters(net, 1).isJoint(), "no automatic leave");
    assertThrows(ProposalDroppedException.class,
        () -> net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.REMOVE, 2)),
        "only leaving is allowed while joint");
    change(net, 1, ConfChange.leaveJoint());
    assertFalse(voters(net, 1).isJoint());
  }

  @Test
  void aJointConfigurationNeedsAMajorityOfBothHalves() {
    Net net = Net.of(3);
    net.elect(1);
    for (long id = 4; id <= 5; id++) {
      net.add(id, new MemoryStorage(), b -> { });
    }
    // {1,2,3} -> {1,4,5}, explicitly joint so that the test can look at the joint state.
    change(net, 1, new ConfChange(List.of(
        new Single(ConfChangeType.ADD_VOTER, 4), new Single(ConfChangeType.ADD_VOTER, 5),
        new Single(ConfChangeType.REMOVE, 2), new Single(ConfChangeType.REMOVE, 3)),
        Transition.JOINT_EXPLICIT, Entry.EMPTY));
    assertTrue(voters(net, 1).isJoint());
    net.isolate(2);
    net.isolate(3);
    long x = net.propose(1, "x");
    assertTrue(net.node(1).commit() < x, "{1,4,5} agrees but {1,2,3} has no majority");
    net.heal();
    net.tick(1);
    assertTrue(net.node(1).commit() >= x);
    net.isolate(4);
    net.isolate(5);
    long y = net.propose(1, "y");
    assertTrue(net.node(1).commit() < y, "{1,2,3} agrees but {1,4,5} has no majority");
    net.heal();
    net.tick(1);
    assertTrue(net.node(1).commit() >= y);
  }

  @Test
  void onlyOneChangeMayBePendingAtATime() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(2);
    net.isolate(3);
    net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.ADD_LEARNER, 4));
    ProposalDroppedException e = assertThrows(ProposalDroppedException.class,
        () -> net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.ADD_LEARNER, 5)));
    assertTrue(e.getMessage().contains("not applied"), e.getMessage());
  }

  @Test
  void invalidChangesAreRefusedAtProposal() {
    Net net = Net.of(1);
    net.elect(1);
    assertThrows(ProposalDroppedException.class,
        () -> net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.REMOVE, 1)));
    assertThrows(ProposalDroppedException.class,
        () -> net.node(1).raw.proposeConfChange(ConfChange.leaveJoint()));
  }

  @Test
  void aRemovedLeaderStepsDownOnceTheChangeIsAppliedAndNeverCampaigns() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    change(net, 1, ConfChange.of(ConfChangeType.REMOVE, 1));
    assertEquals(StateRole.FOLLOWER, net.node(1).role());
    assertEquals(Set.of(2L, 3L), voters(net, 1).voters());
    long term = net.node(1).term();
    net.trace.clear();
    net.tick(60);
    long leader = net.leader();
    assertTrue(leader == 2 || leader == 3, "the remaining voters elect a leader: " + leader);
    assertEquals(StateRole.FOLLOWER, net.node(1).role());
    assertEquals(term, net.node(1).term(), "a non-member never campaigns");
    assertTrue(net.traced(RequestVote.class).stream().noneMatch(v -> v.from() == 1));
    net.propose(leader, "b");
    net.tick(1); // a heartbeat tells the followers the commit index of the last entry
    assertTrue(net.node(2).state.contains("b") && net.node(3).state.contains("b"));
  }

  @Test
  void aRemovedLeaderHandsOverEvenIfTheOthersMissedTheCommitOfItsRemoval() {
    // Voters {1, 2}. Leader 1 proposes its removal at r and a write at r+1; node 2 gets r but
    // every message telling it that r committed is lost. Had 1 just stepped down, 2 would need
    // 1's vote (its configuration is still {1, 2}) and 1 would refuse it (1's log is longer).
    Net net = Net.of(2);
    net.elect(1);
    long r = net.node(1).status().lastIndex() + 1;
    net.dropIf(m -> m.from() == 1 && m.to() == 2
        && (m instanceof Message.AppendEntries ae
            && (ae.commit() >= r || ae.entries().stream().anyMatch(e -> e.index() > r))
            || m instanceof Message.Heartbeat hb && hb.commit() >= r));
    net.node(1).raw.proposeConfChange(ConfChange.of(ConfChangeType.REMOVE, 1));
    net.node(1).raw.propose("after".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    net.stabilize();
    assertEquals(Set.of(2L), voters(net, 1).voters(), "1 applied its removal");
    assertTrue(net.node(2).commit() < r, "2 does not know");
    net.heal();
    net.tick(30);
    assertEquals(2, net.leader());
    assertEquals(Set.of(2L), voters(net, 2).voters());
  }

  @Test
  void messagesFromARemovedMemberAreIgnored() {
    Net net = Net.of(3);
    net.elect(1);
    change(net, 1, ConfChange.of(ConfChangeType.REMOVE, 3));
    long term = net.node(2).term();
    net.tick(12); // past any lease
    net.node(2).raw.step(new RequestVote(3, 2, term + 5, false, 1000, term + 4, false));
    net.node(2).raw.step(new Message.HeartbeatResponse(3, 2, term + 5, 0));
    assertEquals(term, net.node(2).term(), "no disruption by a removed server (thesis §4.2.3)");
    assertEquals(1, net.leader());
  }

  @Test
  void aVoterCanBeDemotedToLearnerAndPromotedBack() {
    Net net = Net.of(3);
    net.elect(1);
    change(net, 1, ConfChange.of(ConfChangeType.ADD_LEARNER, 3));
    assertEquals(Set.of(1L, 2L), voters(net, 1).voters());
    assertEquals(Set.of(3L), voters(net, 1).learners());
    assertTrue(net.node(1).status().progress().get(3L).learner());
    change(net, 1, ConfChange.of(ConfChangeType.ADD_VOTER, 3));
    assertEquals(Set.of(1L, 2L, 3L), voters(net, 3).voters());
    assertTrue(voters(net, 3).learners().isEmpty());
  }
}
