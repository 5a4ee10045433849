package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntries;
import io.quorumkv.raft.Message.AppendEntriesResponse;
import io.quorumkv.raft.Message.Heartbeat;
import io.quorumkv.raft.Message.HeartbeatResponse;
import io.quorumkv.raft.Message.RequestVote;
import io.quorumkv.raft.Message.RequestVoteResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Log replication (paper §5.3, §5.4.2), the Ready/persist contract, flow control and proposal
 * limits.
 */
class RaftReplicationTest {

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }


  /** The driver's job for one Ready, without applying: write it, then acknowledge it. */
  private static Ready persist(RawNode n, MemoryStorage s) {
    Ready rd = n.ready();
    s.append(rd.entries());
    rd.hardState().ifPresent(s::setHardState);
    if (rd.lastEntry() != null) {
      n.persisted(rd.lastEntry().index(), rd.lastEntry().term());
    }
    return rd;
  }

  @Test
  void aProposalIsReplicatedCommittedAndAppliedEverywhere() {
    Net net = Net.of(3);
    net.elect(1);
    long index = net.propose(1, "x=1");
    net.propose(1, "y=2");
    net.tick(1); // a heartbeat carries the latest commit index to the followers
    for (Net.Node n : net.nodes.values()) {
      assertEquals(List.of("x=1", "y=2"), n.state, "node " + n.id);
      assertEquals(index + 1, n.commit());
    }
  }

  @Test
  void aFollowerRejectsProposals() {
    Net net = Net.of(3);
    net.elect(1);
    assertThrows(ProposalDroppedException.class, () -> net.node(2).raw.propose(bytes("x")));
  }

  @Test
  void theLeaderCountsItsOwnCopyOnlyOncePersisted() {
    MemoryStorage s = Net.emptyLog(1);
    RawNode n = new RawNode(Net.config(1).build(), s);
    n.campaign();
    Ready rd = n.ready();
    assertEquals(1, rd.entries().size(), "the no-op");
    assertEquals(0, n.status().hardState().commit(), "handed out is not durable");
    s.append(rd.entries());
    n.persisted(1, rd.entries().get(0).term());
    assertEquals(1, n.status().hardState().commit());
    Ready next = n.ready();
    assertEquals(1, next.committedEntries().size());
  }

  @Test
  void aLeaderDoesNotCommitOnAFollowerAckAloneWhenItsOwnCopyIsNotDurable() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode leader = new RawNode(Net.config(1).preVote(false).build(), s);
    leader.campaign();
    long term = leader.status().hardState().term();
    leader.ready(); // vote requests
    leader.step(new RequestVoteResponse(2, 1, term, false, false));
    assertEquals(StateRole.LEADER, leader.status().softState().role());
    Ready rd = leader.ready();
    leader.step(new AppendEntriesResponse(2, 1, term, false, 1, 0, 0));
    assertEquals(0, leader.status().hardState().commit(), "1 durable copy of 3 is not a quorum");
    s.append(rd.entries());
    leader.persisted(1, term);
    assertEquals(1, leader.status().hardState().commit());
  }

  @Test
  void committedEntriesAreNeverHandedOutBeyondThePersistedIndex() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(2).build(), s);
    f.step(new AppendEntries(1, 2, 1, 0, 0, Net.entries(1, 3, 1), 3));
    Ready rd = f.ready();
    assertEquals(3, rd.entries().size());
    assertEquals(3, rd.hardState().orElseThrow().commit());
    assertTrue(rd.committedEntries().isEmpty(), "not durable yet");
    s.append(rd.entries());
    f.persisted(2, 1);
    assertEquals(2, f.ready().committedEntries().size());
    f.persisted(3, 1);
    assertEquals(List.of(Net.entries(3, 3, 1).get(0)), f.ready().committedEntries());
    assertFalse(f.hasReady());
  }

  @Test
  void readyHandsOutEachEntryAndMessageExactlyOnce() {
    Net net = Net.of(3);
    net.elect(1);
    RawNode leader = net.node(1).raw;
    leader.propose(bytes("a"));
    Ready first = leader.ready();
    leader.propose(bytes("b"));
    Ready second = leader.ready();
    assertEquals(1, first.entries().size());
    assertEquals(1, second.entries().size());
    assertEquals(first.entries().get(0).index() + 1, second.entries().get(0).index());
    assertEquals(2, first.messages().size(), "one AppendEntries per follower");
    assertEquals(2, second.messages().size());
    assertFalse(leader.hasReady());
  }

  @Test
  void aStaleAcknowledgementForOverwrittenEntriesIsIgnored() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    RawNode f = new RawNode(Net.config(3).build(), s);
    f.step(new AppendEntries(1, 3, 1, 0, 0, Net.entries(1, 3, 1), 0));
    Ready r1 = f.ready(); // entries 1..3 of term 1, being written
    // A new leader of term 2 overwrites 2..3 before the first write is acknowledged.
    f.step(new AppendEntries(2, 3, 2, 1, 1, Net.entries(2, 3, 2), 3));
    Ready r2 = f.ready();
    assertEquals(3, r1.entries().size());
    assertEquals(Net.entries(2, 3, 2), r2.entries());
    s.append(r1.entries());
    f.persisted(3, 1); // the first write completes: but (3, 1) is no longer in the log
    Ready r3 = f.ready();
    assertTrue(r3.committedEntries().isEmpty(), "entry 3 of term 2 is not durable yet");
    s.append(r2.entries());
    f.persisted(3, 2);
    assertEquals(3, f.ready().committedEntries().size());
  }

  @Test
  void messagesAreClassifiedByWhatTheyClaimAboutDurability() {
    RawNode candidate = new RawNode(Net.config(1).preVote(true).build(), Net.emptyLog(1, 2, 3));
    candidate.campaign();
    Ready pre = candidate.ready();
    assertTrue(pre.messages().stream().allMatch(m -> m instanceof RequestVote rv && rv.preVote()),
        "pre-votes claim nothing");
    long term = candidate.status().hardState().term() + 1;
    candidate.step(new RequestVoteResponse(2, 1, term, true, false));
    Ready real = candidate.ready();
    assertTrue(real.messages().isEmpty());
    assertTrue(real.messagesAfterPersist().stream().allMatch(m -> m instanceof RequestVote rv && !rv.preVote()),
        "the candidate's own vote must be durable before it asks");
    assertEquals(1, real.hardState().orElseThrow().vote());

    RawNode voter = new RawNode(Net.config(2).build(), Net.emptyLog(1, 2, 3));
    voter.step(new RequestVote(1, 2, 1, false, 0, 0, false));
    Ready v = voter.ready();
    assertTrue(v.messages().isEmpty());
    assertTrue(v.messagesAfterPersist().get(0) instanceof RequestVoteResponse);

    voter.step(new AppendEntries(1, 2, 1, 0, 0, Net.entries(1, 1, 1), 0));
    voter.step(new Heartbeat(1, 2, 1, 0, 9));
    Ready f = voter.ready();
    assertTrue(f.messagesAfterPersist().get(0) instanceof AppendEntriesResponse);
    assertEquals(new HeartbeatResponse(2, 1, 1, 9), f.messages().get(0));

    candidate.step(new RequestVoteResponse(2, 1, term, false, false));
    Ready lead = candidate.ready();
    assertTrue(lead.messages().stream().allMatch(m -> m instanceof AppendEntries),
        "a leader replicates in parallel with its own write (thesis §10.2.1)");
    assertEquals(2, lead.messages().size());
  }

  @Test
  void aSingleVoterLeaderHoldsItsMessagesUntilItsTermIsDurable() {
    MemoryStorage s = new MemoryStorage(new ConfState(java.util.Set.of(1L), java.util.Set.of(2L),
        java.util.Set.of(), java.util.Set.of(), false));
    RawNode n = new RawNode(Net.config(1).build(), s);
    n.campaign();
    Ready rd = n.ready();
    assertTrue(rd.messages().isEmpty(), "a learner must not learn a term a crash could undo");
    assertTrue(rd.messagesAfterPersist().get(0) instanceof AppendEntries);
  }

  @Test
  void onlyEntriesOfTheCurrentTermAreCommittedByCounting() {
    // Figure 8: leader 1 of term 3 finds entry 2 of term 2 on a majority; it must not commit
    // it by counting replicas, only through an entry of its own term.
    MemoryStorage s1 = Net.emptyLog(1, 2, 3);
    s1.append(List.of(Entry.normal(1, 1, bytes("a")), Entry.normal(2, 2, bytes("b"))));
    s1.setHardState(new HardState(2, 0, 1));
    RawNode leader = new RawNode(Net.config(1).preVote(false).build(), s1);
    leader.campaign();
    long term = leader.status().hardState().term();
    leader.ready();
    leader.step(new RequestVoteResponse(2, 1, term, false, false));
    Ready rd = leader.ready();
    Entry noop = rd.entries().get(0);
    assertEquals(3, noop.index());
    leader.step(new AppendEntriesResponse(2, 1, term, false, 2, 0, 0));
    s1.append(rd.entries());
    leader.persisted(3, term);
    assertEquals(1, leader.status().hardState().commit(), "entry 2 is on 2 of 3 but of an older term");
    leader.step(new AppendEntriesResponse(2, 1, term, false, 3, 0, 0));
    assertEquals(3, leader.status().hardState().commit());
  }

  @Test
  void aDivergentFollowerLogIsRepairedWithFewProbes() {
    // Node 3 once led term 2 alone and piled up 50 entries nobody else has; nodes 1 and 2
    // moved on in term 3. Node 1 then leads term 4 and must overwrite node 3's suffix.
    Net net = new Net();
    java.util.Set<Long> voters = java.util.Set.of(1L, 2L, 3L);
    for (long id = 1; id <= 3; id++) {
      MemoryStorage s = new MemoryStorage(ConfState.ofVoters(voters));
      s.append(Net.entries(1, 1, 1));
      s.append(id == 3 ? Net.entries(2, 51, 2) : Net.entries(2, 4, 3));
      s.setHardState(new HardState(3, 0, 1));
      net.add(id, s, b -> { });
    }
    net.elect(1);
    assertEquals(StateRole.LEADER, net.node(1).role());
    net.propose(1, "kept");
    net.tick(2);
    assertEquals(net.node(1).status().lastIndex(), net.node(3).status().lastIndex());
    assertTrue(net.node(3).state.contains("kept"));
    assertFalse(net.node(3).state.stream().anyMatch(c -> c.endsWith("t2")), "term 2 entries are gone");
    long rejections = net.traced(AppendEntriesResponse.class).stream()
        .filter(r -> r.reject() && r.from() == 3).count();
    assertTrue(rejections <= 2, "fast backtracking skips a whole term per probe: " + rejections);
  }

  @Test
  void aRejectionHintSkipsAWholeConflictingTerm() {
    // Follower log: 1@1 2@1 3@2 4@2 5@2 6@2; leader probes at 6 with term 3.
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    s.append(Net.entries(1, 2, 1));
    s.append(Net.entries(3, 6, 2));
    s.setHardState(new HardState(2, 0, 0));
    RawNode f = new RawNode(Net.config(2).build(), s);
    f.step(new AppendEntries(1, 2, 3, 6, 3, List.of(), 0));
    AppendEntriesResponse r = (AppendEntriesResponse) f.ready().messagesAfterPersist().get(0);
    assertTrue(r.reject());
    assertEquals(6, r.index());
    assertEquals(6, r.rejectHint());
    assertEquals(2, r.rejectHintTerm());
    // Leader log 1@1 2@1 3@1 4@3 5@3 6@3: its last entry of term <= 2 is 3, so it probes at 3.
    f.step(new AppendEntries(1, 2, 3, 2, 1, List.of(), 0));
    AppendEntriesResponse ok = (AppendEntriesResponse) f.ready().messagesAfterPersist().get(0);
    assertFalse(ok.reject());
  }

  @Test
  void pipeliningIsBoundedByTheInflightWindow() {
    Net net = Net.of(2, b -> b.maxInflightMsgs(3));
    net.elect(1);
    net.dropIf(m -> m.to() == 1 || m.to() == 2 && m instanceof AppendEntries);
    net.trace.clear();
    for (int i = 0; i < 10; i++) {
      net.propose(1, "p" + i);
    }
    long appendsWithEntries = net.traced(AppendEntries.class).stream()
        .filter(a -> !a.entries().isEmpty()).count();
    assertEquals(3, appendsWithEntries, "three in flight, the rest waits");
    Status.FollowerProgress p = net.node(1).status().progress().get(2L);
    assertEquals(Status.ReplicationState.REPLICATE, p.state());
    assertEquals(3, p.inflight());
    net.heal();
    net.tick(2);
    assertEquals(10, net.node(2).state.size(), "a heartbeat response restarts the stream");
  }

  /**
   * A follower behind by much more than one message: without a byte bound the leader would read
   * and send maxInflightMsgs messages of maxSizePerMsg at once (a Jepsen node ran out of heap so,
   * catching a new member up); with it, about maxInflightBytes' worth until acknowledgements come.
   */
  @Test
  void pipeliningIsBoundedByTheInflightBytes() {
    long entryBytes = Entry.HEADER_BYTES + 3;
    Net net = Net.of(2, b -> b.maxSizePerMsg(2 * entryBytes).maxInflightMsgs(256)
        .maxInflightBytes(6 * entryBytes));
    net.elect(1);
    net.dropIf(m -> m.to() == 1 || m.to() == 2 && m instanceof AppendEntries);
    net.trace.clear();
    for (int i = 10; i < 40; i++) {
      net.propose(1, "p" + i);
    }
    long entriesSent = net.traced(AppendEntries.class).stream().mapToLong(a -> a.entries().size()).sum();
    assertTrue(entriesSent >= 6 && entriesSent <= 7, "about six entries' bytes in flight, not 30: " + entriesSent);
    net.heal();
    for (int i = 0; i < 30 && net.node(2).state.size() < 30; i++) {
      net.tick(1);
    }
    assertEquals(30, net.node(2).state.size(), "acknowledgements move the window on");
  }

  /**
   * A member in PROBE (a new learner far behind, say) answers every heartbeat round, and a leader
   * serving ReadIndex reads starts a round per Ready. Each answer used to send the probe again
   * with up to maxSizePerMsg of entries read from the log (in a Jepsen run a leader catching a new
   * member up ran out of heap in that path); now at most once per heartbeat interval.
   */
  @Test
  void aProbeIsSentAgainAtMostOncePerHeartbeatIntervalHoweverManyReadRoundsAreAnswered() {
    Net net = Net.ofThreeWithNode3Behind(5);
    // Node 3 rejects the empty probe at the leader's log end, then the probe with the entries it
    // needs is lost and stays unanswered: node 3 is in PROBE, far behind.
    net.dropIf(m -> m.to() == 3 && m instanceof AppendEntries a && !a.entries().isEmpty());
    net.tick(1);
    net.trace.clear();
    for (int i = 0; i < 20; i++) {
      net.node(1).raw.readIndex(100 + i, false);
      net.stabilize();
    }
    long probes = net.traced(AppendEntries.class).stream()
        .filter(a -> a.to() == 3 && !a.entries().isEmpty()).count();
    assertTrue(probes <= 1, "at most one probe with entries within one heartbeat interval, was " + probes);
    assertEquals(20, net.node(1).readStates.size(), "every read was answered");
    net.heal();
    net.tick(2);
    assertEquals(5, net.node(3).state.size(), "the next heartbeat interval's probe catches node 3 up");
  }

  @Test
  void appendEntriesBatchUpToMaxSizePerMsg() {
    Net net = Net.of(2, b -> b.maxSizePerMsg(3 * (Entry.HEADER_BYTES + 3)));
    net.elect(1);
    net.isolate(2);
    for (int i = 10; i < 20; i++) {
      net.node(1).raw.propose(bytes("p" + i));
    }
    net.stabilize();
    net.heal();
    net.trace.clear();
    net.tick(3);
    List<AppendEntries> appends = net.traced(AppendEntries.class);
    assertTrue(appends.stream().allMatch(a -> a.entries().size() <= 3), "batches of at most 3");
    assertTrue(appends.stream().anyMatch(a -> a.entries().size() == 3), "and batches are filled");
    assertEquals(10, net.node(2).state.size());
  }

  @Test
  void proposalsBeyondTheUncommittedLimitAreDropped() {
    Net net = Net.of(3, b -> b.maxUncommittedEntriesSize(100));
    net.elect(1);
    net.isolate(2);
    net.isolate(3);
    RawNode leader = net.node(1).raw;
    leader.propose(new byte[60]);
    leader.propose(new byte[40]);
    ProposalDroppedException e = assertThrows(ProposalDroppedException.class, () -> leader.propose(new byte[1]));
    assertTrue(e.getMessage().contains("limit"));
    net.heal();
    net.stabilize();
    net.tick(1);
    leader.propose(new byte[50]); // committed entries free the budget
  }

  @Test
  void aCommitIndexAloneTravelsWithTheNextEntriesOrHeartbeatNotInAnAppendEntriesOfItsOwn() {
    Net net = Net.of(3);
    net.elect(1);
    net.tick(1);
    net.trace.clear();
    net.propose(1, "a");
    assertEquals(2, net.traced(AppendEntries.class).size(), "one AppendEntries per follower, with the entry");
    assertTrue(net.traced(AppendEntries.class).stream().allMatch(m -> m.entries().size() == 1), net.trace.toString());
    assertTrue(net.node(1).state.contains("a"), "committed and applied on the leader");
    assertFalse(net.node(2).state.contains("a"), "the follower has not heard of the commit yet");
    net.trace.clear();
    net.propose(1, "b");
    assertTrue(net.traced(AppendEntries.class).stream().allMatch(m -> m.entries().size() == 1
        && m.commit() == net.node(1).commit() - 1), "the next entries carry the commit index of the previous");
    assertEquals(List.of("a"), net.node(2).state);
    net.trace.clear();
    net.tick(1);
    assertTrue(net.traced(Heartbeat.class).stream().allMatch(h -> h.commit() == net.node(1).commit()));
    assertEquals(net.node(1).state, net.node(2).state, "the heartbeat carried the commit index");
    assertEquals(net.node(1).state, net.node(3).state);
  }

  @Test
  void unreachableFollowersAreProbedInsteadOfStreamedTo() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    assertEquals(Status.ReplicationState.REPLICATE, net.node(1).status().progress().get(2L).state());
    net.node(1).raw.reportUnreachable(2);
    assertEquals(Status.ReplicationState.PROBE, net.node(1).status().progress().get(2L).state());
    net.propose(1, "b");
    assertEquals(Status.ReplicationState.REPLICATE, net.node(1).status().progress().get(2L).state());
    net.tick(1); // a heartbeat tells the followers the commit index of the last entry
    assertEquals(List.of("a", "b"), net.node(2).state);
  }

  @Test
  void committedEntriesPerReadyAreLimitedInBytes() {
    Net net = Net.of(1, b -> b.maxCommittedSizePerReady(2 * (Entry.HEADER_BYTES + 3)));
    net.elect(1);
    RawNode n = net.node(1).raw;
    for (int i = 10; i < 16; i++) {
      n.propose(bytes("p" + i));
    }
    Ready rd = n.ready();
    net.node(1).storage.append(rd.entries());
    n.persisted(rd.lastEntry().index(), rd.lastEntry().term());
    int readies = 0;
    int total = 0;
    while (n.hasReady() && readies < 10) {
      Ready r = n.ready();
      assertTrue(r.committedEntries().size() <= 2, "got " + r.committedEntries().size());
      total += r.committedEntries().size();
      readies++;
      if (!r.committedEntries().isEmpty()) {
        n.applied(r.committedEntries().get(r.committedEntries().size() - 1).index());
      }
    }
    assertEquals(6, total);
  }

  @Test
  void committedEntriesStopAtTheApplyingBudgetUntilTheApplierReports() {
    long entry = Entry.HEADER_BYTES + 3;
    Net net = Net.of(1, b -> b.maxCommittedSizePerReady(2 * entry).maxApplyingEntriesSize(3 * entry));
    net.elect(1);
    RawNode n = net.node(1).raw;
    for (int i = 10; i < 20; i++) {
      n.propose(bytes("p" + i));
    }
    persist(n, net.node(1).storage);
    // Nothing is reported applied: the applier is stuck.
    List<Entry> handedOut = new java.util.ArrayList<>();
    for (int readies = 0; n.hasReady() && readies < 20; readies++) {
      handedOut.addAll(n.ready().committedEntries());
    }
    assertEquals(3, handedOut.size(), "a budget of three entries: " + handedOut);
    assertFalse(n.hasReady(), "no Ready while the budget is spent");
    // Reporting part of a batch gives nothing back; the whole batch does.
    n.applied(handedOut.get(0).index());
    assertFalse(n.hasReady(), "the first batch is not applied whole yet");
    n.applied(handedOut.get(1).index());
    assertTrue(n.hasReady());
    List<Entry> more = n.ready().committedEntries();
    assertEquals(2, more.size(), "two entries' worth of budget came back");
    assertEquals(handedOut.get(2).index() + 1, more.get(0).index(), "in order, none skipped");
    long last = more.get(1).index();
    n.applied(last);
    int total = handedOut.size() + more.size();
    for (int readies = 0; n.hasReady() && readies < 20; readies++) {
      List<Entry> c = n.ready().committedEntries();
      total += c.size();
      if (!c.isEmpty()) {
        n.applied(c.get(c.size() - 1).index());
      }
    }
    assertEquals(10, total, "every proposal, once each");
  }

  @Test
  void anEntryLargerThanTheApplyingBudgetIsHandedOutAlone() {
    Net net = Net.of(1, b -> b.maxApplyingEntriesSize(10));
    net.elect(1);
    RawNode n = net.node(1).raw;
    n.propose(new byte[100]);
    n.propose(new byte[100]);
    persist(n, net.node(1).storage);
    List<Entry> first = n.ready().committedEntries();
    assertEquals(1, first.size());
    assertFalse(n.hasReady());
    n.applied(first.get(0).index());
    assertEquals(1, n.ready().committedEntries().size(), "one oversized entry at a time");
  }

  @Test
  void aRestartedNodeRecoversItsLogAndCatchesUp() {
    Net net = Net.of(3);
    net.elect(1);
    net.propose(1, "a");
    net.tick(1);
    net.node(3).restart();
    net.propose(1, "b");
    net.tick(2);
    assertEquals(List.of("a", "b"), net.node(3).state);
    assertEquals(StateRole.FOLLOWER, net.node(3).role());
  }
}
