package io.quorumkv.raft.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Runs that once failed, kept as exact replays, and reproductions of core bugs found here. */
class SimRegressionTest {

  private static final long SECOND = 1_000_000;

  /**
   * Found by {@code membershipChangesAndSnapshotsKeepSafety} on the core of 22:30 UTC (leader
   * removal left the group leaderless); passes since the core bootstraps membership as log
   * entries, which shifted the timing. Kept as a replay; the bug itself is reproduced
   * deterministically by {@link #aRemovedLeaderWhoseCommitWasLostStillLeavesALeader}.
   */
  @Test
  void removingTheLeaderTwice() {
    SimRunner.run(Schedule.parse("voters=3 spares=2 snapshotEvery=5 seed=0 steps=198:isolate-leader,0:heal,"
        + "2:remove-leader,0:add-learner:4,1:faults:0/1/4,1:add-learner:4,392:add-learner:5,52:remove-leader"));
  }

  /**
   * Core liveness bug found by the simulator, fixed in the core by "a removed leader hands
   * leadership to the most up-to-date voter instead of stepping down at once".
   *
   * <p>Voters {L, G}. L proposes REMOVE L at index r, then a write at r+1. G receives r, not
   * r+1; G's acknowledgement lets L commit r; the messages that would carry commit index r to G
   * are lost. L applies r. The old core then stepped down at once and nothing ever resent the
   * commit: G kept voters {L, G} and needed L's vote, L refused it (its log, r+1, is longer) and
   * never campaigned (not a voter in its own configuration {G}): leaderless forever on a perfect
   * network. Now L hands leadership to G, which must be elected.
   */
  @Test
  void aRemovedLeaderWhoseCommitWasLostStillLeavesALeader() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 11).clients(0).maxSizePerMsg(1).build());
    assertTrue(c.runUntil(c::hasMemberLeader, 3 * SECOND));
    long l = c.leader().getAsLong();
    Set<Long> followers = new TreeSet<>(c.nodeIds());
    followers.remove(l);
    long f = followers.iterator().next();
    followers.remove(f);
    long g = followers.iterator().next();
    assertTrue(c.remove(f));
    assertTrue(c.runUntil(() -> c.membership().voters().equals(Set.of(l, g)) && c.applied(g) == c.applied(l),
        SECOND), "voters {L, G}");

    long r = c.node(l).raw().status().lastIndex() + 1;
    c.network().dropIf(m -> m.from() == l && m.to() == g
        && (m instanceof Message.AppendEntries ae && (ae.commit() >= r || ae.entries().stream().anyMatch(e -> e.index() > r))
            || m instanceof Message.Heartbeat hb && hb.commit() >= r));
    assertTrue(c.remove(l), "REMOVE L proposed at " + r);
    assertTrue(c.proposeAtLeader("k", "after-removal"), "a write at r+1");
    assertTrue(c.runUntil(() -> !c.membership().voters().contains(l), SECOND), "L applied its removal");
    assertEquals(r - 1, c.node(g).raw().status().hardState().commit(), "G does not know r committed");
    c.network().dropIf(m -> false);

    assertTrue(c.runUntil(c::hasMemberLeader, 5 * SECOND), "G is elected once the network is perfect again: "
        + c.node(g).raw().status() + " / " + c.node(l).raw().status());
  }

  /**
   * Regression for a core liveness bug, fixed (found by {@code membershipChangesAndSnapshotsKeepSafety} when it
   * could replace a voter by a fresh node; minimal failing schedule there:
   * {@code voters=3 spares=2 snapshotEvery=5 msgBytes=1 seed=-2
   * steps=0:partition:1234|5,0:isolate-leader,94:add-learner:4,52:remove:2,5:replace:51}).
   *
   * <p>{@code Raft.acceptFrom} used to drop a RequestVote unless its sender is a voter of this node's
   * configuration. A member added while it could not be reached has no configuration at all,
   * so it ignores every candidate; if the quorum of the new configuration needs its vote, no
   * leader can ever be elected once the old one is gone, however well the network heals. Here:
   * voters {L, G}; the fresh node N (cut off) replaces G, which enters the joint configuration
   * C_old {L, G}, C_new {L, N}; L loses its leadership (CheckQuorum: no quorum in C_new); after
   * the heal every candidate needs N, and N answers none. The thesis (§4.1) has servers grant
   * votes to candidates outside their configuration, and keeps removed servers from disrupting
   * through leader stickiness (§4.2.3) rather than by membership; etcd's raft does the same.
   * The simulator's own promote/replace steps now wait for the learner to be in sync (as etcd
   * refuses to promote a learner that is not), which avoids this state but does not fix it.
   */
  @Test
  void aFreshVoterThatKnowsNoConfigurationStillVotes() {
    SimCluster c = new SimCluster(SimConfig.builder(3, 12).spares(1).clients(0).build());
    assertTrue(c.runUntil(c::hasMemberLeader, 3 * SECOND));
    long l = c.leader().getAsLong();
    Set<Long> followers = new TreeSet<>(Set.of(1L, 2L, 3L));
    followers.remove(l);
    long f = followers.iterator().next();
    followers.remove(f);
    long g = followers.iterator().next();
    assertTrue(c.remove(f));
    assertTrue(c.runUntil(() -> c.membership().voters().equals(Set.of(l, g)), SECOND), "voters {L, G}");

    c.partition(java.util.List.of(Set.of(l, g, f), Set.of(4L)));
    assertTrue(c.proposeReplace(4, g), "replace G by the unreachable fresh node 4");
    assertTrue(c.runUntil(() -> c.membership().isJoint(), SECOND), "joint: " + c.membership());
    c.runFor(SECOND); // L steps down: no quorum in C_new {L, 4}
    c.heal();
    assertTrue(c.runUntil(c::hasMemberLeader, 5 * SECOND), "a leader once healed; node 4: "
        + c.node(4).raw().status());
  }

  /**
   * Regression for a core liveness bug with the same root cause as {@link #aFreshVoterThatKnowsNoConfigurationStillVotes}
   * (found by the membership property, schedule below, exact replay).
   *
   * <p>Learner 5 (in sync) replaces voter 2 (joint, then {1,3,5}) while node 1 is crashed; the
   * leader 3 then removes itself and hands leadership to 5: voters {1, 5}. Node 1 restarts with
   * the configuration it had, voters {1,2,3} and learner 5, and a log that ends before all
   * three changes. Node 5 needs node 1's vote; node 1 drops 5's RequestVotes because 5 is not a
   * voter of node 1's stale configuration; node 1 could only learn the new configuration from a
   * leader. No leader, ever: "no leader among the voters [1, 5] within 3000 ms after healing".
   */
  @Test
  void aVoterThatMissedAConfChangeStillVotes() {
    SimRunner.run(Schedule.parse("voters=3 spares=2 snapshotEvery=5 msgBytes=1 seed=0 steps=113:heal,"
        + "40:add-learner:5,14:replace:52,0:isolate-leader,0:partition:12345,0:crash:1,85:oneway:11,"
        + "6:isolate-leader,35:remove-leader"));
  }

  /**
   * Found by the membership property (CI, 2026-11-26) against a core that sent no AppendEntries for
   * a commit index alone (the commit travelled with the next entries or heartbeat; benchmarks.md,
   * finding 27, reverted for this). Voters {3, 4}; leader 3 commits REMOVE 4 at 13, tells 4 (which
   * applies its removal and stops campaigning), sends 4 entry 14, and crashes before its commit
   * index 13 or entry 14 is durable. Node 3 restarts with voters {3, 4} (applied 12) and needs 4's
   * vote; 4 refuses it (its log, 14, is longer) and, not a voter of its own configuration {3},
   * never campaigns: "no leader among the voters [3]". The core that announces every commit at
   * once passes this schedule; the gap itself is reached another way too (next test), and closed
   * since by the removed member's campaign.
   */
  @Test
  void aRemovedFollowerWithALongerLogAndALeaderThatLostItsCommit() {
    SimRunner.run(Schedule.parse("voters=3 spares=2 snapshotEvery=5 msgBytes=1 seed=0 steps=1:oneway:11,"
        + "1:isolate-leader,5:isolate-leader,144:add-learner:4,15:replace:42,2:partition:12345,0:partition:1235|4,"
        + "4:remove-leader,0:heal,48:remove:4,3:crash-leader"));
  }

  /**
   * Found by the membership property (CI, 2026-11-26) on the core that announces every commit at
   * once: the gap of the test above, reached without losing a leader's commit. Leader 2 of voters
   * {1, 2} commits REMOVE 2 at 6, applies it, holds entry 7 that 1 lacks, and steps down (CheckQuorum)
   * when 1 crashes before learning that 6 committed. Node 1 restarts with voters {1, 2} and needs
   * 2's vote, which 2 refused (its log is longer) while never campaigning, not a voter of its own
   * configuration {1}: "no leader among the voters [1]". Now 2, refusing, campaigns itself with
   * its configuration {1}, wins 1's vote, brings 1's log up to date and hands leadership to it.
   */
  @Test
  void aRemovedLeaderWithALongerLogCampaignsForTheVoterThatLostItsCommit() {
    SimRunner.run(Schedule.parse("voters=3 spares=2 snapshotEvery=5 msgBytes=1 seed=1 steps=2:add-learner:4,"
        + "96:add-learner:4,3:remove:3,26:remove-leader,0:add-learner:4,2:crash:1"));
  }

  /**
   * Found by the fault property's long run (-Dquorumkv.long=true, 2026-11-26): not a core bug but
   * a check stricter than it said. Node 3, whose disk was 252 ms slow (more than an election
   * timeout), kept raising its term in the majority side of a partition, so after healing it took
   * three elections (340 ms) to settle; a final write bounced between nodes meanwhile and timed
   * out at the usual 500 ms operation timeout, although the check promises 3 s. A final write now
   * has the whole bound as its deadline.
   */
  @Test
  void aFinalWriteMayWaitOutTheElectionsAfterHealing() {
    SimRunner.run(Schedule.parse("voters=5 spares=0 snapshotEvery=0 msgBytes=1 seed=832040 steps=219:partition:12345,"
        + "8:heal,2:slow-disk:1/0,1:pause-leader:411,10:partition:25|134,46:slow-disk:3/252"));
  }

  /**
   * Found by the membership property's long run right after the removed member's campaign came in
   * (2026-11-26): "election safety: nodes 1 and 3 both leader of term 4". Leader 3 removed itself
   * and sent TimeoutNow to node 1, the only voter left, which won term 4 by its own vote at once
   * and crashed before that vote was durable; restarted in term 3, it voted for 3's campaign in
   * term 4. Node 1's leadership never acted (the core holds a leader's messages, commit and reads
   * until its term is durable), so the checker now forgets a leadership a crash erased before it
   * was durable ({@link Invariants#crashed}); any other double leadership still fails.
   */
  @Test
  void aSingleVotersLeadershipThatACrashErasedBeforeItWasDurable() {
    SimRunner.run(Schedule.parse("voters=3 spares=2 snapshotEvery=5 msgBytes=1 seed=1 steps=32:partition:245|13,"
        + "1:isolate-leader,0:promote:4,76:remove:2,1:heal,0:add-learner:4,0:churn:4,86:isolate-leader,"
        + "3:add-learner:4,23:remove-leader,5:pause-leader:50,0:crash-leader"));
  }

  /**
   * Found by the membership property's long run (session 23, jqwik seed 8357095211583409391,
   * shrunk): not a core bug but a driver that waited for an answer it could never get. Leader 2
   * (term 4) took final writes at indexes 51 and 52, then applied its own removal (entry 42,
   * committed only after healing) and handed leadership to node 1, which committed and applied 51
   * and 52. Node 2, no longer a member, hears nothing more, so it never learned their outcome and
   * its two clients waited out the 3 s liveness bound. The driver now answers what a removed node
   * that does not lead still holds "outcome unknown", as NodeRuntime#destroyReplica does, and a
   * client so answered records {@code info} and issues another final write within the same bound.
   */
  @Test
  void aRemovedLeadersProposalsAreAnsweredOutcomeUnknown() {
    SimRunner.run(Schedule.parse("voters=3 spares=2 snapshotEvery=5 msgBytes=1 seed=-2684019733 written=true "
        + "steps=10:isolate-leader,54:add-learner:4,8:promote:4,167:pause-leader:896,64:crash:3,111:partition:12345,"
        + "19:isolate-leader,250:isolate-leader,0:remove-leader,1:add-learner:4"));
  }
}
