package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.Heartbeat;
import io.quorumkv.raft.Message.RequestVote;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Leader-lease reads with {@link ReadOnlyOption#LEASE_BASED} (thesis §6.4.1). */
class RaftLeaseTest {

  private static Net leaseNet(int n) {
    return Net.of(n, b -> b.readOnlyOption(ReadOnlyOption.LEASE_BASED).clockDriftFactor(0.2));
  }

  @Test
  void aLeaderWithAFreshQuorumAckServesReadsWithoutARoundTrip() {
    Net net = leaseNet(3);
    net.elect(1);
    assertFalse(net.node(1).raw.hasValidLease(), "no heartbeat round acknowledged yet");
    net.tick(1);
    assertTrue(net.node(1).raw.hasValidLease());
    net.trace.clear();
    net.node(1).raw.readIndex(8);
    Ready rd = net.node(1).raw.ready();
    assertEquals(List.of(new ReadState(net.node(1).commit(), 8)), rd.readStates());
    assertTrue(rd.messages().isEmpty(), "no heartbeat round for a lease read");
  }

  @Test
  void theLeaseExpiresWithinTheDriftAdjustedElectionTimeout() {
    Net net = leaseNet(3);
    net.elect(1);
    net.tick(1);
    net.isolate(1);
    // Last acknowledged round was sent at tick 1; valid while now - 1 + 1 <= 9 * 0.8 = 7.2.
    int valid = 0;
    for (int i = 0; i < 12; i++) {
      if (net.node(1).raw.hasValidLease()) {
        valid++;
      }
      net.tick(1);
    }
    assertEquals(7, valid);
    net.node(1).raw.readIndex(1);
    net.stabilize();
    assertTrue(net.node(1).readStates.isEmpty(), "an expired lease falls back to ReadIndex, which cannot finish");
  }

  @Test
  void noNewLeaderIsElectedWhileTheOldLeaderStillHoldsItsLease() {
    for (long seed = 1; seed <= 20; seed++) {
      Net net = Net.of(3, seed, b -> b.readOnlyOption(ReadOnlyOption.LEASE_BASED));
      net.elect(1);
      net.tick(3);
      net.isolate(1);
      for (int t = 0; t < 60; t++) {
        net.tick(1);
        boolean otherLeader = net.nodes.values().stream()
            .anyMatch(n -> n.id != 1 && n.role() == StateRole.LEADER);
        assertFalse(otherLeader && net.node(1).raw.hasValidLease(),
            "seed " + seed + " tick " + t + ": two nodes could serve lease reads");
      }
      assertTrue(net.leader() == 2 || net.leader() == 3, "the others elect a leader eventually");
    }
  }

  @Test
  void noLeaseBeforeTheLeaderHasCommittedAnEntryOfItsTerm() {
    Net net = leaseNet(3);
    net.elect(1);
    net.tick(1);
    // Node 2 takes over, but the acknowledgements of its no-op are lost.
    net.dropIf(m -> m instanceof Message.AppendEntriesResponse && m.to() == 2);
    net.node(1).raw.transferLeadership(2);
    net.stabilize();
    net.tick(2);
    assertEquals(StateRole.LEADER, net.node(2).role());
    assertTrue(net.node(2).commit() < net.node(2).status().lastIndex());
    assertFalse(net.node(2).raw.hasValidLease());
  }

  @Test
  void aLeaderThatSentTimeoutNowGivesUpItsLease() {
    Net net = leaseNet(3);
    net.elect(1);
    net.tick(1);
    assertTrue(net.node(1).raw.hasValidLease());
    net.dropIf(m -> m instanceof Message.TimeoutNow);
    net.node(1).raw.transferLeadership(2);
    net.stabilize();
    assertFalse(net.node(1).raw.hasValidLease());
    net.tick(15); // the transfer is aborted, but the transferee may still win at any moment
    assertEquals(StateRole.LEADER, net.node(1).role());
    assertFalse(net.node(1).raw.hasValidLease());
  }

  @Test
  void theSafeOptionNeverClaimsALease() {
    Net net = Net.of(3);
    net.elect(1);
    net.tick(3);
    assertFalse(net.node(1).raw.hasValidLease());
  }

  @Test
  void aRestartedNodeKeepsItsLeasePromiseForAnElectionTimeout() {
    Net net = leaseNet(3);
    net.elect(1);
    net.tick(2);
    long term = net.node(2).term();
    net.node(2).restart();
    RawNode n = net.node(2).raw;
    n.step(new RequestVote(3, 2, term + 1, false, 100, term, false));
    assertEquals(term, n.status().hardState().term(), "ignored right after restart");
    for (int i = 0; i < 10; i++) {
      n.tick();
    }
    n.step(new RequestVote(3, 2, term + 1, false, 100, term, false));
    assertEquals(term + 1, n.status().hardState().term(), "accepted once the promise ran out");
  }

  @Test
  void heartbeatsCarryIncreasingRounds() {
    Net net = leaseNet(3);
    net.elect(1);
    net.trace.clear();
    net.tick(3);
    List<Long> rounds = net.traced(Heartbeat.class).stream().map(Heartbeat::readContext).toList();
    assertEquals(6, rounds.size());
    for (int i = 2; i < rounds.size(); i += 2) {
      assertTrue(rounds.get(i) > rounds.get(i - 2));
    }
  }

  @Test
  void aPausedLeaderMustCatchUpTheTicksItMissedBeforeTrustingItsLease() {
    Net net = leaseNet(3);
    net.elect(1);
    net.tick(1);
    assertTrue(net.node(1).raw.hasValidLease());
    // Node 1's process stops: no ticks, no messages. The others elect a new leader meanwhile.
    net.isolate(1);
    for (int i = 0; i < 30; i++) {
      net.node(2).raw.tick();
      net.node(3).raw.tick();
      net.stabilize();
    }
    long other = net.leader() == 1 ? 0 : net.leader();
    assertTrue(other == 2 || other == 3, "a new leader was elected during the pause");
    // On resume its tick count lags real time: the lease looks valid. This is exactly what the
    // clock assumption forbids; catching up the 30 missed ticks ends it.
    assertTrue(net.node(1).raw.hasValidLease(), "the hazard the driver must avoid");
    for (int i = 0; i < 30; i++) {
      net.node(1).raw.tick();
    }
    assertFalse(net.node(1).raw.hasValidLease());
  }

  @Test
  void aLateAcknowledgementOfAnOldRoundGivesNoLease() {
    Net net = leaseNet(3);
    net.elect(1);
    RawNode leader = net.node(1).raw;
    leader.tick(); // heartbeat round sent at tick 1
    List<Message> heartbeats = leader.ready().messages();
    List<Message> answers = new java.util.ArrayList<>();
    for (Message hb : heartbeats) {
      net.node(hb.to()).raw.step(hb);
      answers.addAll(net.node(hb.to()).raw.ready().messages());
    }
    for (int i = 0; i < 15; i++) {
      leader.tick(); // the answers are delayed past the election timeout
      leader.ready();
    }
    answers.stream().filter(m -> m instanceof Message.HeartbeatResponse).forEach(leader::step);
    assertFalse(leader.hasValidLease(), "a round sent 15 ticks ago proves nothing now");
  }

  @Test
  void aReadThatRefusesTheLeaseWaitsForAHeartbeatRoundEvenWithAValidLease() {
    Net net = leaseNet(3);
    net.elect(1);
    net.tick(1);
    assertTrue(net.node(1).raw.hasValidLease());
    net.node(1).raw.readIndex(4, false);
    Ready rd = net.node(1).raw.ready();
    assertTrue(rd.readStates().isEmpty(), "not answered from the lease");
    assertTrue(rd.messages().stream().anyMatch(m -> m instanceof Heartbeat));
    rd.messages().forEach(m -> net.node(m.to()).raw.step(m));
    net.stabilize();
    assertEquals(List.of(new ReadState(net.node(1).commit(), 4)), net.node(1).readStates);
  }
}
