package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfState;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A node that applied its own removal from a partition keeps its replica until every voter of the
 * membership without it reports having applied the removal: a voter that restarts not knowing the
 * removal committed may need the removed replica's vote, and only that replica (whose log may be
 * longer) can bring it up to date (the Raft core's campaign of a removed member). Destroyed, the
 * partition would stay leaderless (simulator, 2026-11-26: "no leader among the voters [1]").
 */
class RemovedReplicaDestructionTest {

  private static final long ME = 3;
  private static final long GROUP = 7;

  private static KvResponse.DirectoryReport report(long node, long group, Set<Long> voters, Set<Long> learners) {
    return new KvResponse.DirectoryReport(node, List.of(
        new KvResponse.ReplicaReport(group, new byte[0], 0, 2, 40, 0, false, voters, learners, Set.of())), Map.of());
  }

  private static boolean destroyable(ConfState cs, Map<Long, KvResponse.DirectoryReport> answers) {
    return PlacementDriver.votersAppliedRemoval(ME, GROUP, cs, answers);
  }

  @Test
  void everyRemainingVoterMustReportAMembershipWithoutThisNode() {
    ConfState mine = ConfState.ofVoters(Set.of(1L, 2L));
    KvResponse.DirectoryReport oneApplied = report(1, GROUP, Set.of(1L, 2L), Set.of());
    KvResponse.DirectoryReport twoApplied = report(2, GROUP, Set.of(1L, 2L), Set.of());
    assertTrue(destroyable(mine, Map.of(1L, oneApplied, 2L, twoApplied)));
    assertFalse(destroyable(mine, Map.of(1L, oneApplied)), "voter 2 did not answer (down)");
    assertFalse(destroyable(mine, Map.of(1L, oneApplied, 2L, report(2, GROUP, Set.of(1L, 2L, ME), Set.of()))),
        "voter 2 still counts this node as a voter");
    assertFalse(destroyable(mine, Map.of(1L, oneApplied, 2L, report(2, GROUP, Set.of(1L, 2L), Set.of(ME)))),
        "voter 2 still has this node as a learner");
    assertFalse(destroyable(mine, Map.of(1L, oneApplied, 2L, report(2, GROUP + 1, Set.of(1L, 2L), Set.of()))),
        "voter 2 reported another partition only");
  }

  @Test
  void theOutgoingVotersOfAJointMembershipCountToo() {
    ConfState joint = new ConfState(Set.of(1L, 2L), Set.of(), Set.of(1L, 4L), Set.of(), true);
    KvResponse.DirectoryReport one = report(1, GROUP, Set.of(1L, 2L), Set.of());
    KvResponse.DirectoryReport two = report(2, GROUP, Set.of(1L, 2L), Set.of());
    assertFalse(destroyable(joint, Map.of(1L, one, 2L, two)), "outgoing voter 4 did not answer");
    assertTrue(destroyable(joint, Map.of(1L, one, 2L, two, 4L, report(4, GROUP, Set.of(1L, 2L), Set.of()))));
  }
}
