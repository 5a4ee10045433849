package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntries;
import io.quorumkv.raft.Message.RequestVote;
import io.quorumkv.raft.Message.TimeoutNow;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Leadership transfer (thesis §3.10). */
class RaftTransferTest {

  @Test
  void anUpToDateTransfereeGetsTimeoutNowAndWins() {
    Net net = Net.of(3);
    net.elect(1);
    long term = net.node(1).term();
    net.node(1).raw.transferLeadership(3);
    net.stabilize();
    assertEquals(StateRole.LEADER, net.node(3).role());
    assertEquals(StateRole.FOLLOWER, net.node(1).role());
    assertEquals(term + 1, net.node(3).term());
    assertEquals(1, net.traced(TimeoutNow.class).size());
    assertTrue(net.traced(RequestVote.class).stream()
        .filter(v -> v.from() == 3).allMatch(v -> v.leadershipTransfer() && !v.preVote()),
        "a transfer campaign skips PreVote and is marked so voters in a lease grant it");
  }

  @Test
  void aLaggingTransfereeIsCaughtUpBeforeTimeoutNow() {
    Net net = Net.ofThreeWithNode3Behind(5);
    net.trace.clear();
    net.node(1).raw.transferLeadership(3);
    net.stabilize();
    assertEquals(StateRole.LEADER, net.node(3).role());
    int firstTimeoutNow = net.trace.indexOf(net.traced(TimeoutNow.class).get(0));
    assertTrue(net.trace.subList(0, firstTimeoutNow).stream()
        .anyMatch(m -> m instanceof AppendEntries a && a.to() == 3 && !a.entries().isEmpty()));
    assertEquals(5, net.node(3).state.size());
  }

  @Test
  void proposalsAreRefusedDuringATransferAndAcceptedAfterItsAbort() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(3);
    net.node(1).raw.transferLeadership(3);
    net.stabilize();
    assertEquals(3, net.node(1).status().leadTransferee());
    assertThrows(ProposalDroppedException.class,
        () -> net.node(1).raw.propose("x".getBytes(StandardCharsets.UTF_8)));
    net.tick(10); // one election timeout
    assertEquals(RaftConfig.NONE, net.node(1).status().leadTransferee());
    assertEquals(StateRole.LEADER, net.node(1).role());
    net.propose(1, "x");
  }

  @Test
  void aFollowerForwardsATransferRequestToTheLeader() {
    Net net = Net.of(3);
    net.elect(1);
    net.node(2).raw.transferLeadership(2);
    net.stabilize();
    assertEquals(StateRole.LEADER, net.node(2).role());
  }

  @Test
  void aTransferToALearnerOrAnUnknownNodeIsIgnored() {
    Net net = Net.of(3);
    net.elect(1);
    net.node(1).raw.transferLeadership(9);
    assertEquals(RaftConfig.NONE, net.node(1).status().leadTransferee());
  }
}
