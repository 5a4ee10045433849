package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.RequestVote;
import org.junit.jupiter.api.Test;

/** A member its driver forbids to lead ({@link RawNode#setPromotable}): it never campaigns, and votes on. */
class RaftPromotableTest {

  @Test
  void itsElectionTimeoutElapsesAndItStaysFollower() {
    Net net = Net.of(3);
    net.node(3).raw.setPromotable(false);
    for (int i = 0; i < 100; i++) {
      net.node(3).raw.tick(); // only node 3's clock runs: it alone times out, again and again
      net.stabilize();
    }
    assertEquals(StateRole.FOLLOWER, net.node(3).role());
    assertTrue(net.traced(RequestVote.class).isEmpty(), "no PreVote or vote request");
    net.node(3).raw.campaign();
    net.stabilize();
    assertEquals(StateRole.FOLLOWER, net.node(3).role(), "not even when the driver says campaign");
  }

  @Test
  void whenTheLeaderFailsAnotherIsElectedWithItsVote() {
    Net net = Net.of(3, b -> b.preVote(true).checkQuorum(true));
    net.elect(1);
    net.node(2).raw.setPromotable(false);
    net.isolate(1);
    for (int i = 0; i < 100 && net.node(3).role() != StateRole.LEADER; i++) {
      net.tick(1);
      assertTrue(net.node(2).role() == StateRole.FOLLOWER, "node 2 campaigned");
    }
    assertEquals(StateRole.LEADER, net.node(3).role(), "node 3 needs node 2's vote, and gets it");
    net.propose(3, "x");
    net.tick(1); // the heartbeat that carries the commit index
    assertEquals(net.node(3).commit(), net.node(2).commit(), "node 2 replicates and counts in the quorum");
  }

  @Test
  void aTransferToItIsAbortedAndLeadershipStaysPut() {
    Net net = Net.of(3, b -> b.preVote(true).checkQuorum(true));
    net.elect(1);
    long term = net.node(1).term();
    net.node(3).raw.setPromotable(false);
    net.trace.clear();
    net.node(1).raw.transferLeadership(3);
    net.stabilize();
    assertEquals(3, net.node(1).status().leadTransferee());
    net.tick(10); // one election timeout: TimeoutNow repeated on each heartbeat, and ignored
    assertEquals(RaftConfig.NONE, net.node(1).status().leadTransferee(), "the transfer was aborted");
    assertEquals(StateRole.LEADER, net.node(1).role());
    assertEquals(term, net.node(1).term());
    assertEquals(StateRole.FOLLOWER, net.node(3).role());
    assertTrue(net.traced(RequestVote.class).isEmpty());
    assertTrue(net.traced(Message.TimeoutNow.class).size() > 1, "TimeoutNow was sent, and repeated");
    net.propose(1, "x"); // proposals resumed
  }

  @Test
  void aCampaignUnderWayEndsAndItsVoteIsKept() {
    Net net = Net.of(3, b -> b.preVote(false));
    net.isolate(3);
    net.node(3).raw.campaign();
    net.stabilize();
    assertEquals(StateRole.CANDIDATE, net.node(3).role());
    long term = net.node(3).term();
    net.node(3).raw.setPromotable(false);
    assertEquals(StateRole.FOLLOWER, net.node(3).role());
    assertEquals(term, net.node(3).term());
    assertEquals(3, net.node(3).status().hardState().vote());
    net.heal();
    net.tick(40);
    assertTrue(net.leader() != 0 && net.leader() != 3, "the others elect one of themselves");
  }

  @Test
  void allowedAgainItCampaignsAndCanWin() {
    Net net = Net.of(3);
    net.node(3).raw.setPromotable(false);
    net.node(3).raw.setPromotable(true);
    net.elect(3);
    assertEquals(StateRole.LEADER, net.node(3).role());
  }
}
