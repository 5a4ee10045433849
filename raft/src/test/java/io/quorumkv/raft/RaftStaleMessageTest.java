package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntries;
import io.quorumkv.raft.Message.AppendEntriesResponse;
import io.quorumkv.raft.Message.Heartbeat;
import io.quorumkv.raft.Message.RequestVoteResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Terms (paper §5.1): stale messages are ignored, newer terms are adopted. */
class RaftStaleMessageTest {


  @Test
  void aStaleLeaderIsToldTheNewTermAndStepsDown() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(1);
    net.tick(25);
    long newLeader = net.leader();
    assertTrue(newLeader == 2 || newLeader == 3);
    // Node 1 is back, still leader of the old term if CheckQuorum has not fired yet: force it.
    net.heal();
    net.node(1).raw.step(new AppendEntriesResponse(newLeader, 1, net.node(newLeader).term(), false, 0, 0, 0));
    assertEquals(StateRole.FOLLOWER, net.node(1).role());
    RawNode f = new RawNode(Net.config(2).build(), Net.emptyLog(1, 2, 3));
    f.step(new Heartbeat(1, 2, 5, 0, 0));
    f.ready();
    f.step(new AppendEntries(3, 2, 4, 0, 0, List.of(), 0));
    Ready rd = f.ready();
    AppendEntriesResponse answer = (AppendEntriesResponse) rd.messagesAfterPersist().get(0);
    assertEquals(3, answer.to());
    assertEquals(5, answer.term(), "the stale leader learns the current term");
  }

  @Test
  void aNewerTermFromALeaderIsAdoptedWithThatLeader() {
    RawNode n = new RawNode(Net.config(2).preVote(false).build(), Net.emptyLog(1, 2, 3));
    n.campaign();
    n.step(new AppendEntries(3, 2, 9, 0, 0, List.of(), 0));
    assertEquals(StateRole.FOLLOWER, n.status().softState().role());
    assertEquals(3, n.status().softState().leader());
    assertEquals(9, n.status().hardState().term());
    assertEquals(RaftConfig.NONE, n.status().hardState().vote());
  }

  @Test
  void messagesForAnotherMemberAreIgnored() {
    RawNode n = new RawNode(Net.config(2).build(), Net.emptyLog(1, 2, 3));
    n.step(new Heartbeat(1, 3, 9, 0, 0));
    assertFalse(n.hasReady());
    assertEquals(1, n.status().hardState().term());
  }

  @Test
  void votesFromAnEarlierTermDoNotCount() {
    RawNode n = new RawNode(Net.config(1).preVote(false).checkQuorum(false).build(), Net.emptyLog(1, 2, 3));
    n.campaign(); // term 2
    n.step(new RequestVoteResponse(2, 1, 2, false, true));
    n.campaign(); // term 3 (it lost nothing yet, but campaigns again after a timeout)
    long term = n.status().hardState().term();
    n.step(new RequestVoteResponse(2, 1, term - 1, false, false));
    assertEquals(StateRole.CANDIDATE, n.status().softState().role(), "a vote of term " + (term - 1) + " is stale");
    n.step(new RequestVoteResponse(2, 1, term, false, false));
    assertEquals(StateRole.LEADER, n.status().softState().role());
  }

  @Test
  void aDelayedShorterAppendDoesNotTruncateTheLog() {
    RawNode f = new RawNode(Net.config(2).build(), Net.emptyLog(1, 2, 3));
    f.step(new AppendEntries(1, 2, 1, 0, 0, Net.entries(1, 5, 1), 0));
    f.step(new AppendEntries(1, 2, 1, 0, 0, Net.entries(1, 2, 1), 0)); // reordered duplicate
    assertEquals(5, f.status().lastIndex());
    List<Message> acks = f.ready().messagesAfterPersist();
    assertEquals(5, ((AppendEntriesResponse) acks.get(0)).index());
    assertEquals(2, ((AppendEntriesResponse) acks.get(1)).index());
  }

  @Test
  void aStaleRejectionDoesNotMoveAReplicatingFollowerBack() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    net.propose(1, "b");
    Status.FollowerProgress before = net.node(1).status().progress().get(2L);
    assertEquals(Status.ReplicationState.REPLICATE, before.state());
    long term = net.node(1).term();
    net.node(1).raw.step(new AppendEntriesResponse(2, 1, term, true, before.matchIndex() - 1, 0, 0));
    assertEquals(before, net.node(1).status().progress().get(2L));
  }

  @Test
  void aStaleAcknowledgementDoesNotLowerTheMatchIndex() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    long match = net.node(1).status().progress().get(2L).matchIndex();
    net.node(1).raw.step(new AppendEntriesResponse(2, 1, net.node(1).term(), false, 1, 0, 0));
    assertEquals(match, net.node(1).status().progress().get(2L).matchIndex());
  }
}
