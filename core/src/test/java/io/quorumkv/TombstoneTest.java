package io.quorumkv;

import static io.quorumkv.FakePeers.NODE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The rules that keep a replica this node destroyed from coming back with a log that forgot what
 * it acknowledged or voted (see {@link Tombstones}), each staged message by message on one real
 * node whose peers the test plays ({@link FakePeers}): no replica is created for a candidate; a
 * replica created again for a leader casts no vote, and does not campaign (not ticked, deaf to
 * {@code TimeoutNow}), until it has applied its predecessor's log; all of it across a restart too
 * (the tombstones are loaded and the quarantine set again when the node reopens); and a split
 * applied again does not create a child destroyed here. Each test fails without its rule.
 */
class TombstoneTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final long PARTITION = 1;
  /**
   * Rounds of {@link #assertNoVote}: 1.2 s, many times the two election timeouts (200 ms) after
   * which a candidate of a partition the node does not host gets a replica created.
   */
  private static final int SILENT_ROUNDS = 60;
  private static final Duration ROUND = Duration.ofMillis(20);
  /** A bootstrapped partition's log: one membership entry per initial voter (3), in term 1, committed. */
  private static final long BOOTSTRAP_INDEX = 3;
  private static final long BOOTSTRAP_TERM = 1;

  /**
   * A candidate (fake node 3) of a term past anything here, with a longer log, asking as a
   * leadership transfer does (granted even while a leader is heard).
   */
  private static final Message.RequestVote CANDIDATE = new Message.RequestVote(3, NODE, 20, false, 10, 9, true);

  /**
   * Fake node 2, as leader of {@code PARTITION} in term 3, has the node's replica append two
   * entries after its bootstrap entries (4 and 5, not committed); then the node destroys that
   * replica (as placement does with one it was removed from) and keeps its tombstone.
   */
  private static Tombstones.Tombstone appendTwoThenDestroy(FakePeers p) {
    p.send(2, PARTITION, new Message.AppendEntries(2, NODE, 3, BOOTSTRAP_INDEX, BOOTSTRAP_TERM,
        List.of(Entry.normal(4, 3, Entry.EMPTY), Entry.normal(5, 3, Entry.EMPTY)), BOOTSTRAP_INDEX));
    Message.AppendEntriesResponse ack = p.next(Message.AppendEntriesResponse.class, PARTITION, WAIT)
        .orElseThrow(() -> new AssertionError("staging: the replica did not acknowledge the entries"));
    assertEquals(5, ack.index(), "staging: " + ack);
    destroy(p, PARTITION);
    Tombstones.Tombstone t = p.runtime().tombstone(PARTITION);
    assertEquals(new Tombstones.Tombstone(3, 0, 5), t, "staging: the tombstone");
    return t;
  }

  /**
   * {@link #appendTwoThenDestroy}, then the partition's leader (fake node 2, term 5) contacts the
   * node again: the replica is created again, empty, one term past its tombstone, quarantined
   * below the tombstone's last index.
   */
  private static Tombstones.Tombstone destroyedThenCreatedAgain(FakePeers p) {
    Tombstones.Tombstone t = appendTwoThenDestroy(p);
    awaitCreatedForLeader(p, PARTITION, 5);
    return t;
  }

  /** Fake node 2 heartbeats as leader of {@code group} in {@code term} until the node hosts a replica of it. */
  private static void awaitCreatedForLeader(FakePeers p, long group, long term) {
    MemoryCluster.await(WAIT, "a replica of partition " + group + " created for its leader", () -> {
      p.send(2, group, new Message.Heartbeat(2, NODE, term, 0, 1));
      MemoryCluster.sleep(ROUND.toMillis());
      return p.runtime().replicas().containsKey(group);
    });
  }

  private static void destroy(FakePeers p, long group) {
    NodeRuntime rt = p.runtime();
    Replica r = rt.replicas().get(group);
    assertTrue(rt.post(() -> rt.destroyReplica(r, "removed (test)")), "staging: the node refused the task");
    MemoryCluster.await(WAIT, "the tombstone of partition " + group, () -> rt.tombstone(group) != null);
  }

  /**
   * Sends {@link #CANDIDATE}'s vote request for {@code PARTITION} every round, after {@code
   * eachRound}, and fails if the node answers it.
   */
  private static void assertNoVote(FakePeers p, String when, Runnable eachRound) {
    p.clearSent();
    for (int i = 0; i < SILENT_ROUNDS; i++) {
      eachRound.run();
      p.send(3, PARTITION, CANDIDATE);
      Optional<Message.RequestVoteResponse> answer = p.next(Message.RequestVoteResponse.class, PARTITION, ROUND);
      if (answer.isPresent()) {
        fail("node " + NODE + " answered a candidate of partition " + PARTITION + " whose replica it destroyed ("
            + when + "): " + answer.get());
      }
    }
  }

  /**
   * Checked every round: a replica created for the candidate would be quarantined and stay silent,
   * but it would exist (and placement drops it, empty, after ten election timeouts).
   */
  private static void assertNoReplica(FakePeers p, String when) {
    assertFalse(p.runtime().replicas().containsKey(PARTITION), "a replica of partition " + PARTITION
        + " was created for a candidate although one was destroyed here (" + when + ")");
  }

  /** Fake node 2, leader in term 5, fills the replica created again through its tombstone's last index. */
  private static void fillThroughTombstone(FakePeers p, Tombstones.Tombstone t) {
    List<Entry> log = new ArrayList<>();
    for (long i = 1; i <= t.lastIndex(); i++) {
      log.add(Entry.normal(i, 5, Entry.EMPTY));
    }
    p.send(2, PARTITION, new Message.AppendEntries(2, NODE, 5, 0, 0, log, t.lastIndex()));
    MemoryCluster.await(WAIT, "the replica to apply past its tombstone",
        () -> p.runtime().replicas().get(PARTITION).appliedIndex >= t.lastIndex());
  }

  /** Fake node 2's heartbeat as leader of {@code PARTITION} in term 5. */
  private static void heartbeat(FakePeers p) {
    p.send(2, PARTITION, new Message.Heartbeat(2, NODE, 5, 0, 1));
  }

  @Test
  void aNodeCreatesNoReplicaForACandidateOfAPartitionItDestroyedEvenAfterARestart() {
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      Tombstones.Tombstone t = appendTwoThenDestroy(p);
      assertNoVote(p, "no replica, running since the destruction", () -> assertNoReplica(p, "running"));
      p.restart();
      assertNoVote(p, "no replica, restarted", () -> assertNoReplica(p, "restarted"));
      assertEquals(t, p.runtime().tombstone(PARTITION), "the tombstone was not loaded when the node reopened");
    }
  }

  /**
   * The leader that still holds the destroyed replica's acknowledgements (fake node 2, still in
   * term 3) contacts the node: the replica created again starts one term past its tombstone, so its
   * first answer carries term 4 and deposes that leader, whose record of the old replica would send
   * a commit index past the new, empty log. (KvSimRegressionTest once reached this through a
   * member removed and added back at once.)
   */
  @Test
  void aReplicaCreatedAgainStartsOneTermPastItsTombstoneAndDeposesTheOldLeader() {
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      Tombstones.Tombstone t = appendTwoThenDestroy(p);
      awaitCreatedForLeader(p, PARTITION, t.term());
      p.clearSent();
      p.send(2, PARTITION, new Message.Heartbeat(2, NODE, t.term(), 0, 5));
      Message.AppendEntriesResponse answer = p.next(Message.AppendEntriesResponse.class, PARTITION, WAIT)
          .orElseThrow(() -> new AssertionError("the replica created again did not answer the old leader's term"));
      assertEquals(t.term() + 1, answer.term(), "the answer that deposes the old leader: " + answer);
    }
  }

  /**
   * A replica created again is empty: a STALE read served by it would go back from the ones its
   * destroyed predecessor served in the same run of the node (Jepsen's stale-read check saw
   * applied index 12575, then 0). It serves none until it holds its predecessor's log.
   */
  @Test
  void aReplicaCreatedAgainServesNoStaleReadUntilItHoldsItsPredecessorsLog() {
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      Tombstones.Tombstone t = destroyedThenCreatedAgain(p);
      KvRequest.Get stale = new KvRequest.Get(new byte[] {'k'}, ReadConsistency.STALE);
      KvResponse refused = p.runtime().execute(stale, System.nanoTime() + WAIT.toNanos()).join();
      assertTrue(refused instanceof KvResponse.Failure f && f.code() == KvResponse.Code.NO_LEADER && f.retryable(),
          "a STALE read of the empty replica created again: " + refused);
      fillThroughTombstone(p, t);
      KvResponse served = p.runtime().execute(stale, System.nanoTime() + WAIT.toNanos()).join();
      assertTrue(served instanceof KvResponse.Read read && read.result().appliedIndex() >= t.lastIndex(),
          "a STALE read once past the quarantine: " + served);
    }
  }

  @Test
  void aReplicaCreatedAgainVotesOnlyOnceItHoldsItsPredecessorsLogEvenAfterARestart() {
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      Tombstones.Tombstone t = destroyedThenCreatedAgain(p);
      assertNoVote(p, "created again, empty", () -> heartbeat(p));
      p.restart();
      assertTrue(p.runtime().replicas().containsKey(PARTITION), "staging: the replica was not reopened");
      assertNoVote(p, "created again, empty, restarted", () -> heartbeat(p));
      // Filled through the tombstone's last index, it votes again: the silence above was the quarantine's.
      fillThroughTombstone(p, t);
      p.clearSent();
      p.send(3, PARTITION, CANDIDATE);
      Message.RequestVoteResponse vote = p.next(Message.RequestVoteResponse.class, PARTITION, WAIT)
          .orElseThrow(() -> new AssertionError("a replica past its quarantine did not answer a candidate"));
      assertFalse(vote.reject(), vote.toString());
    }
  }

  /** Fails if the node's replica of {@code PARTITION} campaigns (asks for any vote) within {@code window}. */
  private static void assertNoCampaign(FakePeers p, String when, Duration window) {
    p.clearSent();
    p.next(Message.RequestVote.class, PARTITION, window).ifPresent(v ->
        fail("the quarantined replica of partition " + PARTITION + " campaigned (" + when + "): " + v));
  }

  @Test
  void aQuarantinedMemberNeitherCampaignsNorTakesOverEvenAfterARestart() {
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      Tombstones.Tombstone t = destroyedThenCreatedAgain(p);
      // The leader sends it the membership entries (voters 1, 2, 3), committed: a member now,
      // which would campaign once its leader is silent, but still short of its tombstone's log.
      List<Entry> members = new ArrayList<>();
      for (long v = 1; v <= BOOTSTRAP_INDEX; v++) {
        byte[] add = ConfChange.of(ConfChangeType.ADD_VOTER, v).encode();
        members.add(new Entry(v, BOOTSTRAP_TERM, EntryType.CONF_CHANGE, add));
      }
      p.send(2, PARTITION, new Message.AppendEntries(2, NODE, 5, 0, 0, members, BOOTSTRAP_INDEX));
      MemoryCluster.await(WAIT, "the membership to apply",
          () -> p.runtime().replicas().get(PARTITION).appliedIndex >= BOOTSTRAP_INDEX);
      Duration silence = Duration.ofMillis(800); // many election timeouts (100 ms, at most 200 randomised)
      p.send(2, PARTITION, new Message.TimeoutNow(2, NODE, 5));
      assertNoCampaign(p, "told to take over, then its leader silent", silence);
      p.restart();
      assertNoCampaign(p, "restarted, its leader silent", silence);
      // Filled through the tombstone's last index, it campaigns: the silence above was the quarantine's.
      p.send(2, PARTITION, new Message.AppendEntries(2, NODE, 5, BOOTSTRAP_INDEX, BOOTSTRAP_TERM,
          List.of(Entry.normal(4, 5, Entry.EMPTY), Entry.normal(5, 5, Entry.EMPTY)), t.lastIndex()));
      MemoryCluster.await(WAIT, "the replica to apply past its tombstone",
          () -> p.runtime().replicas().get(PARTITION).appliedIndex >= t.lastIndex());
      p.clearSent();
      assertTrue(p.next(Message.RequestVote.class, PARTITION, WAIT).isPresent(),
          "a member past its quarantine, its leader silent, did not campaign");
    }
  }

  @Test
  void aSplitAppliedAgainDoesNotCreateAChildThatWasDestroyedHere() {
    long child = 7;
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      // A leader of partition 7 contacts the node: after two election timeouts (the split may only
      // be late here) it creates an empty replica, which appends two entries and is then destroyed.
      awaitCreatedForLeader(p, child, 1);
      p.clearSent();
      p.send(2, child, new Message.AppendEntries(2, NODE, 1, 0, 0,
          List.of(Entry.normal(1, 1, Entry.EMPTY), Entry.normal(2, 1, Entry.EMPTY)), 0));
      MemoryCluster.await(WAIT, "partition " + child + " to append", () -> p.next(Message.AppendEntriesResponse.class,
          child, ROUND).filter(a -> !a.reject() && a.index() == 2).isPresent());
      destroy(p, child);
      assertEquals(2, p.runtime().tombstone(child).lastIndex(), "staging: the child's tombstone");
      // Partition 1's leader commits the split that creates partition 7 at "m".
      byte[] split = Codec.encodeCommand(new Command.Stamped(1,
          new Command.Split("m".getBytes(StandardCharsets.UTF_8), child)));
      long index = BOOTSTRAP_INDEX + 1;
      p.send(2, PARTITION, new Message.AppendEntries(2, NODE, 3, BOOTSTRAP_INDEX, BOOTSTRAP_TERM,
          List.of(Entry.normal(index, 3, split)), index));
      Replica parent = p.runtime().replicas().get(PARTITION);
      MemoryCluster.await(WAIT, "the split to apply", () -> parent.appliedIndex >= index);
      assertEquals(new KeySpan.Range(new byte[0], "m".getBytes(StandardCharsets.UTF_8)).describe(),
          parent.sm.span().describe(), "staging: the split did not apply");
      assertFalse(p.runtime().replicas().containsKey(child), "partition " + child
          + " was created from the split over its tombstone (forgetting the term, vote and log destroyed here)");
    }
  }
}
