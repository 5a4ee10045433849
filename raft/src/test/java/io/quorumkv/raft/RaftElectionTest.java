package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntries;
import io.quorumkv.raft.Message.RequestVote;
import io.quorumkv.raft.Message.RequestVoteResponse;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Leader election: Raft paper §5.2, §5.4.1; thesis §9.6 (PreVote) and §6.2 (CheckQuorum). */
class RaftElectionTest {

  /** A bare node of a three-voter group, driven by hand. */
  private static RawNode bare(long id, boolean preVote, boolean checkQuorum) {
    return new RawNode(Net.config(id).preVote(preVote).checkQuorum(checkQuorum).build(),
        Net.emptyLog(1, 2, 3));
  }

  private static List<Message> allMessages(RawNode n) {
    Ready rd = n.ready();
    return java.util.stream.Stream.concat(rd.messages().stream(), rd.messagesAfterPersist().stream()).toList();
  }

  @Test
  void aSingleVoterElectsItself() {
    Net net = Net.of(1);
    net.elect(1);
    assertEquals(StateRole.LEADER, net.node(1).role());
    assertEquals(2, net.node(1).term(), "a new group starts in term 1 with its membership entries");
    assertEquals(2, net.node(1).commit(), "1 bootstrap entry, then the no-op, committed once persisted");
  }

  @Test
  void aCampaignWinsAMajorityAndTheOthersFollow() {
    Net net = Net.of(3);
    net.elect(1);
    assertEquals(StateRole.LEADER, net.node(1).role());
    for (long id = 2; id <= 3; id++) {
      assertEquals(StateRole.FOLLOWER, net.node(id).role());
      assertEquals(1, net.node(id).status().softState().leader());
      assertEquals(net.node(1).term(), net.node(id).term());
    }
  }

  @Test
  void electionTimeoutIsRandomisedWithinOneToTwoElectionTicks() {
    Set<Integer> seen = new java.util.TreeSet<>();
    for (long seed = 1; seed <= 40; seed++) {
      RawNode n = new RawNode(Net.config(1).preVote(false)
          .random(new java.util.SplittableRandom(seed)).build(), Net.emptyLog(1, 2, 3));
      int ticks = 0;
      while (n.status().softState().role() == StateRole.FOLLOWER && ticks < 100) {
        n.tick();
        ticks++;
      }
      assertTrue(ticks >= 10 && ticks < 20, "campaigned after " + ticks + " ticks");
      seen.add(ticks);
    }
    assertTrue(seen.size() > 3, "timeouts must actually vary: " + seen);
  }

  @Test
  void followersElectANewLeaderWhenTheLeaderFails() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(1);
    net.tick(25);
    long leader = net.leader();
    assertTrue(leader == 2 || leader == 3, "new leader " + leader);
    assertTrue(net.node(leader).term() > 1);
  }

  @Test
  void aVoterGrantsAtMostOneVotePerTerm() {
    RawNode n = bare(3, false, false);
    n.step(new RequestVote(1, 3, 5, false, 0, 0, false));
    n.step(new RequestVote(2, 3, 5, false, 0, 0, false));
    List<RequestVoteResponse> answers = allMessages(n).stream()
        .map(RequestVoteResponse.class::cast).toList();
    assertEquals(2, answers.size());
    assertFalse(answers.get(0).reject(), "first candidate gets the vote");
    assertTrue(answers.get(1).reject(), "second candidate of the same term does not");
    assertEquals(1, n.status().hardState().vote());
  }

  @Test
  void aVoterRefusesACandidateWhoseLogIsLessUpToDate() {
    MemoryStorage s = Net.emptyLog(1, 2, 3);
    s.append(List.of(Entry.normal(1, 1, new byte[0]), Entry.normal(2, 2, new byte[0])));
    s.setHardState(new HardState(2, 0, 0));
    RawNode n = new RawNode(Net.config(3).preVote(false).checkQuorum(false).build(), s);
    n.step(new RequestVote(1, 3, 3, false, 5, 1, false)); // longer log, older last term
    n.step(new RequestVote(2, 3, 4, false, 2, 2, false)); // same last entry: up to date
    List<RequestVoteResponse> answers = allMessages(n).stream().map(RequestVoteResponse.class::cast).toList();
    assertTrue(answers.get(0).reject(), "§5.4.1: last term decides before length");
    assertFalse(answers.get(1).reject());
  }

  @Test
  void aCandidateStepsDownOnAnAppendEntriesFromALeaderOfItsTerm() {
    RawNode n = bare(2, false, false);
    n.campaign();
    assertEquals(StateRole.CANDIDATE, n.status().softState().role());
    long term = n.status().hardState().term();
    n.step(new AppendEntries(1, 2, term, 0, 0, List.of(), 0));
    assertEquals(StateRole.FOLLOWER, n.status().softState().role());
    assertEquals(1, n.status().softState().leader());
  }

  @Test
  void aCandidateThatLosesBecomesFollower() {
    RawNode n = bare(1, false, false);
    n.campaign();
    long term = n.status().hardState().term();
    n.step(new RequestVoteResponse(2, 1, term, false, true));
    n.step(new RequestVoteResponse(3, 1, term, false, true));
    assertEquals(StateRole.FOLLOWER, n.status().softState().role());
    assertEquals(term, n.status().hardState().term());
  }

  @Test
  void preVoteLetsAnIsolatedNodeCampaignWithoutRaisingItsTerm() {
    Net net = Net.of(3);
    net.elect(1);
    long term = net.node(1).term();
    net.isolate(3);
    net.tick(100);
    assertEquals(term, net.node(3).term(), "pre-votes fail, the term stays");
    net.heal();
    net.tick(5);
    assertEquals(1, net.leader(), "rejoining does not depose the leader");
    assertEquals(term, net.node(1).term());
  }

  @Test
  void withoutPreVoteAnIsolatedNodeRaisesItsTermAndDisruptsOnReturn() {
    Net net = Net.of(3, b -> b.preVote(false).checkQuorum(false));
    net.elect(1);
    long term = net.node(1).term();
    net.isolate(3);
    net.tick(100);
    assertTrue(net.node(3).term() > term + 3, "term " + net.node(3).term());
    net.heal();
    net.tick(1);
    assertTrue(net.node(1).term() > term, "the returning node's term deposes the leader");
  }

  @Test
  void preVoteDoesNotChangeTheVotersTerm() {
    RawNode n = bare(3, true, false);
    n.step(new RequestVote(1, 3, 7, true, 0, 0, false));
    assertEquals(1, n.status().hardState().term());
    RequestVoteResponse r = (RequestVoteResponse) allMessages(n).get(0);
    assertFalse(r.reject());
    assertTrue(r.preVote());
    assertEquals(7, r.term(), "a granted pre-vote carries the requested term");
  }

  @Test
  void checkQuorumMakesAnIsolatedLeaderStepDown() {
    Net net = Net.of(3);
    net.elect(1);
    net.isolate(1);
    // Activity is checked once per election timeout; the followers were heard from in the
    // first period, so the leader notices in the second.
    net.tick(10);
    assertEquals(StateRole.LEADER, net.node(1).role());
    net.tick(10);
    assertEquals(StateRole.FOLLOWER, net.node(1).role());
  }

  @Test
  void withoutCheckQuorumAnIsolatedLeaderStaysLeader() {
    Net net = Net.of(3, b -> b.checkQuorum(false));
    net.elect(1);
    net.isolate(1);
    net.tick(30);
    assertEquals(StateRole.LEADER, net.node(1).role());
  }

  @Test
  void followersThatHearFromALeaderIgnoreVoteRequests() {
    Net net = Net.of(3, b -> b.preVote(false));
    net.elect(1);
    long term = net.node(1).term();
    // Node 3 campaigns at once, while 2 still hears from 1: 2 ignores it, the term stays.
    net.node(2).raw.step(new RequestVote(3, 2, term + 1, false, 100, 100, false));
    assertEquals(term, net.node(2).term());
    assertFalse(net.node(2).raw.hasReady() && !net.node(2).raw.ready().messagesAfterPersist().isEmpty());
  }

  @Test
  void anElectedLeaderAppendsAnEmptyEntryOfItsTerm() {
    Net net = Net.of(3);
    net.elect(2);
    List<AppendEntries> appends = net.traced(AppendEntries.class);
    Entry noop = appends.get(0).entries().get(0);
    assertEquals(net.node(2).term(), noop.term());
    assertEquals(0, noop.data().length);
    assertEquals(noop.index(), net.node(3).commit());
  }

  @Test
  void staleTermVoteRequestsAreRejectedAndNewerTermsAdopted() {
    RawNode n = bare(3, false, false);
    n.step(new RequestVote(1, 3, 5, false, 0, 0, false));
    n.ready();
    n.step(new RequestVote(2, 3, 4, false, 0, 0, false));
    assertFalse(n.hasReady(), "a stale vote request is ignored");
    assertEquals(5, n.status().hardState().term());
  }
}
