package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link RawNode#hasReady()} remembers its answer until the next call that may change the core: each
 * such call must make it look again. Every test asks first (and gets "nothing"), then makes one
 * call that gives the core something to hand out, and asks again. (The driver tests mostly call
 * {@code ready()} or {@code step} in between, which would hide a call that forgot to count.)
 */
class RawNodeReadyTest {

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static Net elected() {
    Net net = Net.of(3);
    net.elect(1);
    net.stabilize();
    return net;
  }

  @Test
  void aTickOfTheLeaderIsAHeartbeat() {
    RawNode leader = elected().node(1).raw;
    assertFalse(leader.hasReady());
    leader.tick();
    assertTrue(leader.hasReady());
  }

  @Test
  void aProposalIsAnEntryToAppend() {
    RawNode leader = elected().node(1).raw;
    assertFalse(leader.hasReady());
    leader.propose(bytes("x"));
    assertTrue(leader.hasReady());
  }

  @Test
  void aReadIndexRequestIsAHeartbeatRound() {
    RawNode leader = elected().node(1).raw;
    assertFalse(leader.hasReady());
    leader.readIndex(7, false);
    assertTrue(leader.hasReady());
  }

  @Test
  void aTransferToAnUpToDateFollowerIsATimeoutNow() {
    RawNode leader = elected().node(1).raw;
    assertFalse(leader.hasReady());
    leader.transferLeadership(2);
    assertTrue(leader.hasReady());
  }

  @Test
  void aCampaignIsAVoteRequest() {
    RawNode follower = elected().node(2).raw;
    assertFalse(follower.hasReady());
    follower.campaign();
    assertTrue(follower.hasReady());
  }

  @Test
  void aStepOfAHeartbeatIsAnAnswer() {
    Net net = elected();
    RawNode leader = net.node(1).raw;
    RawNode follower = net.node(2).raw;
    leader.tick();
    Message heartbeat = leader.ready().messages().stream().filter(m -> m.to() == 2).findFirst().orElseThrow();
    assertFalse(follower.hasReady());
    follower.step(heartbeat);
    assertTrue(follower.hasReady());
  }

  @Test
  void aLoneVotersPersistedEntryIsCommitted() {
    Net net = Net.of(1);
    net.elect(1);
    Net.Node n = net.node(1);
    n.raw.propose(bytes("x"));
    Ready rd = n.raw.ready();
    n.storage.append(rd.entries());
    rd.hardState().ifPresent(n.storage::setHardState);
    assertFalse(n.raw.hasReady(), "nothing until the entry is durable");
    n.raw.persisted(rd.lastEntry().index(), rd.lastEntry().term());
    assertTrue(n.raw.hasReady(), "durable on the only voter: committed");
  }

  @Test
  void aWrittenEntryThatAQuorumCommittedMayBeApplied() {
    Net net = elected();
    Net.Node leader = net.node(1);
    leader.raw.propose(bytes("w"));
    Ready rd = leader.raw.ready();
    leader.storage.append(rd.entries()); // written, neither reported written nor synced yet
    List<Message> acks = new ArrayList<>();
    for (Message m : rd.messages()) {
      net.node(m.to()).raw.step(m);
    }
    acks.addAll(net.process(net.node(2)));
    acks.addAll(net.process(net.node(3)));
    acks.stream().filter(m -> m.to() == 1).forEach(leader.raw::step); // committed by the followers' copies
    for (int i = 0; i < 10 && leader.raw.hasReady(); i++) {
      assertTrue(leader.raw.ready().committedEntries().isEmpty(), "not applied before it is written here");
    }
    assertFalse(leader.raw.hasReady());
    leader.raw.written(rd.lastEntry().index(), rd.lastEntry().term());
    assertTrue(leader.raw.hasReady(), "committed and written: its Ready hands it out to apply");
  }
}
