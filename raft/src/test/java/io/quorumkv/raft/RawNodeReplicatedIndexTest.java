package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * {@link RawNode#replicatedIndex()}: on a leader, the smallest match index of the members it
 * replicates to in steady state; what a driver may let go of from its in-memory copies of entries.
 */
class RawNodeReplicatedIndexTest {

  /** Node 1 leads three, and every node has its first entry. */
  private static Net electedWithOneEntry() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    net.stabilize();
    return net;
  }

  @Test
  void aFollowerOrCandidateHasNone() {
    Net net = electedWithOneEntry();
    assertEquals(0, net.node(2).raw.replicatedIndex());
    assertEquals(0, net.node(3).raw.replicatedIndex());
  }

  @Test
  void aLeaderWhoseFollowersHaveEverythingAnswersItsLastIndex() {
    Net net = electedWithOneEntry();
    net.propose(1, "b");
    RawNode leader = net.node(1).raw;
    assertEquals(leader.status().lastIndex(), leader.replicatedIndex());
  }

  @Test
  void aFollowerInSteadyReplicationThatFellBehindHoldsItBack() {
    Net net = electedWithOneEntry();
    long before = net.node(1).raw.status().lastIndex();
    net.isolate(3);
    for (int i = 0; i < 5; i++) {
      net.propose(1, "p" + i);
    }
    RawNode leader = net.node(1).raw;
    assertEquals(Status.ReplicationState.REPLICATE, leader.status().progress().get(3L).state());
    assertEquals(before, leader.replicatedIndex(), "node 3's match index, not the commit index");
    assertEquals(before + 5, leader.status().hardState().commit());
  }

  @Test
  void aFollowerBeingProbedIsLeftOut() {
    Net net = electedWithOneEntry();
    net.isolate(3);
    for (int i = 0; i < 5; i++) {
      net.propose(1, "p" + i);
    }
    RawNode leader = net.node(1).raw;
    leader.reportUnreachable(3); // back to probing: it will catch up from storage
    assertEquals(Status.ReplicationState.PROBE, leader.status().progress().get(3L).state());
    assertEquals(leader.status().lastIndex(), leader.replicatedIndex());
  }
}
