package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntriesResponse;
import io.quorumkv.raft.Message.Heartbeat;
import io.quorumkv.raft.Message.ReadIndexRequest;
import io.quorumkv.raft.Message.ReadIndexResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/** ReadIndex reads with {@link ReadOnlyOption#SAFE} (thesis §6.4). */
class RaftReadIndexTest {

  @Test
  void aLeaderAnswersAReadAfterAQuorumConfirmsItsLeadership() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "x");
    long commit = net.node(1).commit();
    RawNode leader = net.node(1).raw;
    leader.readIndex(42);
    Ready rd = leader.ready();
    assertTrue(rd.readStates().isEmpty(), "not before a quorum answered");
    long round = ((Heartbeat) rd.messages().get(0)).readContext();
    assertTrue(round > 0);
    net.node(1).readies.add(rd);
    rd.messages().forEach(m -> net.node(m.to()).raw.step(m));
    net.stabilize();
    assertEquals(List.of(new ReadState(commit, 42)), net.node(1).readStates);
  }

  @Test
  void aCutOffLeaderNeverAnswersAndDropsTheReadWhenItStepsDown() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(1);
    net.node(1).raw.readIndex(7);
    net.tick(25);
    assertTrue(net.node(1).readStates.isEmpty());
    assertEquals(StateRole.FOLLOWER, net.node(1).role());
    net.heal();
    net.tick(30);
    assertTrue(net.node(1).readStates.isEmpty(), "dropped, not answered late");
  }

  @Test
  void readsWaitUntilTheLeaderHasCommittedAnEntryOfItsTerm() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "x");
    // Node 2 is elected, but the acknowledgements of its no-op are lost for now.
    net.dropIf(m -> m instanceof AppendEntriesResponse && m.to() == 2);
    net.isolate(1);
    net.tick(30);
    assertEquals(StateRole.LEADER, net.node(2).role());
    long noopIndex = net.node(2).status().lastIndex();
    assertTrue(net.node(2).commit() < noopIndex);
    net.node(2).raw.readIndex(5);
    net.tick(2);
    assertTrue(net.node(2).readStates.isEmpty(), "a stale commit index must not be handed out");
    net.heal();
    net.tick(2);
    assertEquals(1, net.node(2).readStates.size());
    assertTrue(net.node(2).readStates.get(0).index() >= noopIndex);
  }

  @Test
  void followersForwardReadsToTheLeader() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "x");
    net.node(3).raw.readIndex(99);
    net.stabilize();
    assertEquals(List.of(new ReadState(net.node(1).commit(), 99)), net.node(3).readStates);
    assertEquals(1, net.traced(ReadIndexRequest.class).size());
    assertEquals(1, net.traced(ReadIndexResponse.class).size());
  }

  @Test
  void allWaitingReadsShareOneHeartbeatRound() {
    Net net = Net.of(3);
    net.elect(1);
    net.trace.clear();
    for (long ctx = 1; ctx <= 5; ctx++) {
      net.node(1).raw.readIndex(ctx);
    }
    net.node(2).raw.readIndex(100);
    net.node(2).raw.readIndex(101);
    net.stabilize();
    assertEquals(5, net.node(1).readStates.size());
    assertEquals(2, net.node(2).readStates.size());
    // Node 2's forwarded reads arrive after the leader's round started, so they take a second one.
    assertEquals(4, net.traced(Heartbeat.class).size(), "two rounds of two heartbeats");
  }

  @Test
  void aSingleVoterAnswersAtOnce() {
    Net net = Net.of(1);
    net.elect(1);
    net.node(1).raw.readIndex(3);
    net.stabilize();
    assertEquals(List.of(new ReadState(net.node(1).commit(), 3)), net.node(1).readStates);
  }

  @Test
  void aReadIndexCoversEveryWriteCommittedBeforeTheRead() {
    Net net = Net.of(5);
    net.elect(1);
    for (int i = 0; i < 5; i++) {
      long idx = net.propose(1, "w" + i);
      net.node(4).raw.readIndex(i);
      net.stabilize();
      ReadState rs = net.node(4).readStates.get(i);
      assertTrue(rs.index() >= idx, "read " + i + " at " + rs.index() + " misses write at " + idx);
    }
  }

  @Test
  void aReadWithoutAKnownLeaderIsDropped() {
    RawNode n = new RawNode(Net.config(1).build(), Net.emptyLog(1, 2, 3));
    n.readIndex(1);
    assertFalse(n.hasReady());
  }
}
