package io.quorumkv;

import static io.quorumkv.FakePeers.NODE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The removed member's campaign on one real node, whose peers the test plays ({@link FakePeers}):
 * node 1, removed from the partition by leader 2 while holding an entry past the removal,
 * refuses the campaign of node 3, which never learned that the removal committed and still
 * counts node 1 as a voter, and campaigns itself so that node 3 can get the log; and it keeps
 * its replica meanwhile, since node 3 has not reported the removal applied. Without either rule
 * the partition stays leaderless once leader 2 is gone (simulator, 2026-11-26: "no leader among
 * the voters [1]"; raft.md, Membership).
 */
class RemovedMemberCampaignTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final long PARTITION = 1;
  /** A bootstrapped partition's log: one membership entry per initial voter (3), in term 1. */
  private static final long BOOTSTRAP_INDEX = 3;
  private static final long BOOTSTRAP_TERM = 1;
  /** Election timeout of the node (10 ticks of 10 ms), with room for a loaded machine. */
  private static final long SILENCE_MS = 500;

  @Test
  void aRemovedMemberWithALongerLogCampaignsForTheVoterThatStillNeedsItsVote() {
    try (FakePeers p = new FakePeers(RangePartitioner.single())) {
      p.start();
      // Leader 2, term 3: REMOVE 1 at index 4, a write at 5; the commit index (4) covers the removal.
      byte[] remove = ConfChange.of(ConfChangeType.REMOVE, NODE).encode();
      p.send(2, PARTITION, new Message.AppendEntries(2, NODE, 3, BOOTSTRAP_INDEX, BOOTSTRAP_TERM,
          List.of(new Entry(4, 3, EntryType.CONF_CHANGE, remove), Entry.normal(5, 3, Entry.EMPTY)), 4));
      MemoryCluster.await(WAIT, "node 1 to apply its removal", () -> {
        Replica r = p.runtime().replicas().get(PARTITION);
        return r != null && r.confState.voters().equals(Set.of(2L, 3L));
      });
      // Leader 2 is gone. Node 3 has the log up to the removal (4) but not its commit: it still
      // counts voters {1, 2, 3} and needs node 1's vote.
      MemoryCluster.sleep(SILENCE_MS);
      p.clearSent();
      p.send(3, PARTITION, new Message.RequestVote(3, NODE, 4, true, 4, 3, false));
      // The refusal and the campaign leave in one Ready; the network may deliver them in any order.
      Message.RequestVoteResponse refusal = null;
      Message.RequestVote campaign = null;
      long deadline = System.nanoTime() + WAIT.toNanos();
      while ((refusal == null || campaign == null) && System.nanoTime() < deadline) {
        Message m = p.next(Message.class, PARTITION, Duration.ofMillis(100)).orElse(null);
        if (m instanceof Message.RequestVoteResponse r && refusal == null) {
          refusal = r;
        } else if (m instanceof Message.RequestVote v && campaign == null) {
          campaign = v;
        }
      }
      assertNotNull(refusal, "node 1 did not answer node 3's pre-vote");
      assertTrue(refusal.reject(), "node 1's log (5) is longer than node 3's (4): " + refusal);
      assertNotNull(campaign, "node 1, removed with a longer log, did not campaign");
      assertEquals(5, campaign.lastLogIndex(), campaign.toString());
      assertTrue(campaign.preVote(), campaign.toString());
      assertTrue(p.runtime().replicas().containsKey(PARTITION),
          "node 1 destroyed its replica although node 3 never reported the removal applied");
    }
  }
}
