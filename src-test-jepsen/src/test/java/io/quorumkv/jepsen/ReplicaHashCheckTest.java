package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.PartitionHashes;
import io.quorumkv.ReplicaHashes;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The verdict of the end-of-run replica hash check on answers made up here. */
class ReplicaHashCheckTest {

  private static final Set<Long> THREE = Set.of(1L, 2L, 3L);

  private static PartitionHashes hashes(long partition, long index, long leader, Map<Long, Long> byNode) {
    return new PartitionHashes(partition, index, leader, THREE, byNode, Set.of());
  }

  private static ReplicaHashes answer(long node, PartitionHashes... checked) {
    return new ReplicaHashes(node, List.of(checked), Map.of(), Map.of());
  }

  private static CheckResult verify(List<ReplicaHashes> answers, Map<Long, String> unanswered) {
    return ReplicaHashCheck.verify(answers, unanswered, Set.of(1L, 2L), List.of(), Map.of(), Duration.ofMillis(120));
  }

  @Test
  void replicasThatAgreeAtTheirIndexPassAndTheSummarySaysWhatWasCompared() {
    CheckResult r = verify(List.of(
        answer(1, hashes(1, 40, 1, Map.of(1L, 7L, 2L, 7L, 3L, 7L))),
        answer(2, hashes(2, 35, 2, Map.of(1L, -3L, 2L, -3L, 3L, -3L))),
        answer(3)), Map.of());
    assertTrue(r.valid(), r.toString());
    assertEquals(List.of(), r.problems());
    assertEquals("2 partition(s), 6 replica hashes compared (partition@index (replicas): 1@40 (3), 2@35 (3)), "
        + "all equal, none fenced, took 0.120s", r.summary());
  }

  @Test
  void twoHashesAtOneIndexFailAndNameTheReplicas() {
    CheckResult r = verify(List.of(
        answer(1, hashes(1, 40, 1, Map.of(1L, 7L, 2L, 7L, 3L, 8L))),
        answer(2, hashes(2, 35, 2, Map.of(1L, 1L, 2L, 1L, 3L, 1L)))), Map.of());
    assertFalse(r.valid(), r.toString());
    assertEquals(List.of("partition 1 at index 40: its replicas hold different states: n1,n2 hashed 7, n3 hashed 8"),
        r.problems());
  }

  @Test
  void differentHashesAtDifferentIndexesOfOnePartitionAreNotCompared() {
    // A partition checked in two rounds (or by two successive leaders): its state changed between.
    CheckResult r = verify(List.of(
        answer(1, hashes(1, 40, 1, Map.of(1L, 7L, 2L, 7L, 3L, 7L))),
        answer(2, hashes(1, 44, 2, Map.of(1L, 9L, 2L, 9L, 3L, 9L)), hashes(2, 35, 2, Map.of(1L, 1L, 2L, 1L, 3L, 1L)))),
        Map.of());
    assertTrue(r.valid(), r.toString());
  }

  @Test
  void aMissingReportAnUnansweredNodeAndAnUncheckedPartitionAreReportedWithoutFailing() {
    CheckResult r = verify(List.of(answer(1, hashes(1, 40, 1, Map.of(1L, 7L, 2L, 7L)))),
        Map.of(3L, "not running"));
    assertTrue(r.valid(), r.toString());
    assertEquals(List.of(
        "not verified (not a failure): n3's replica of partition 1 did not report its hash at index 40 while its "
            + "leader n1 waited; n1 says: nothing (no account of it in the answer); the harness: no account of n3",
        "not verified (not a failure): partition 2 not checked: no member answered as its leader",
        "not verified (not a failure): n3 did not answer: not running"), r.problems());
    assertTrue(r.summary().contains("3 not verified"), r.summary());
  }

  /**
   * Session 23's sweep listed "n5's replica of partition 1 did not report its hash at index 1429
   * in time" and nothing else: not whether n5 was running, nor how far its log had got. The
   * message now carries both accounts, the leader's and the harness's.
   */
  @Test
  void aMissingReportSaysWhatItsLeaderAndTheHarnessKnewOfTheReplica() {
    PartitionHashes p1 = new PartitionHashes(1, 398, 2, THREE, Map.of(1L, 7L, 2L, 7L), Set.of(),
        Map.of(3L, "its log had not acknowledged the check entry (match index 0, PROBE)"));
    CheckResult r = ReplicaHashCheck.verify(List.of(answer(2, p1, hashes(2, 35, 2, Map.of(1L, 1L, 2L, 1L, 3L, 1L)))),
        Map.of(), Set.of(1L, 2L), List.of(), Map.of(3L, "n3@127.0.0.1:5 down (pid 9 exited with 137), not a member: "
            + "stopped by the harness after its add failed (timeout)"), Duration.ofMillis(3045));
    assertTrue(r.valid(), r.toString());
    assertEquals(List.of("not verified (not a failure): n3's replica of partition 1 did not report its hash at index "
        + "398 while its leader n2 waited; n2 says: its log had not acknowledged the check entry (match index 0, "
        + "PROBE); the harness: n3@127.0.0.1:5 down (pid 9 exited with 137), not a member: stopped by the harness "
        + "after its add failed (timeout)"), r.problems());
  }

  /**
   * A replica that missed the first round's check and reported in the second (the check asks again
   * while a replica of a running node is missing) is compared at the second round's index: it is
   * verified, so it is not listed as missing; a replica missing from both rounds still is.
   */
  @Test
  void aReplicaThatReportedInAnotherRoundIsVerifiedThereAndOnlyReplicasMissingFromEveryRoundAreListed() {
    List<ReplicaHashes> answers = List.of(
        answer(1, hashes(1, 40, 1, Map.of(1L, 7L, 2L, 7L)), hashes(2, 35, 1, Map.of(1L, 1L, 3L, 1L))),
        answer(1, hashes(1, 44, 1, Map.of(1L, 9L, 2L, 9L, 3L, 9L)), hashes(2, 37, 1, Map.of(1L, 2L, 3L, 2L))));
    assertEquals(Map.of(2L, Set.of(2L)), ReplicaHashCheck.unverified(answers));
    CheckResult r = verify(answers, Map.of());
    assertTrue(r.valid(), r.toString());
    assertEquals(2, r.problems().size(), r.problems().toString());
    assertTrue(r.problems().stream().allMatch(p -> p.startsWith("not verified (not a failure): n2's replica of "
        + "partition 2 did not report its hash at index 3")), r.problems().toString());
  }

  @Test
  void aReplicaMissingFromOneRoundStillFailsTheCheckIfItReportedADifferentHashInAnother() {
    // Missing at 40, reported at 44 with a hash the others do not have: compared there, and it differs.
    List<ReplicaHashes> answers = List.of(
        answer(1, hashes(1, 40, 1, Map.of(1L, 7L, 2L, 7L)), hashes(2, 35, 1, Map.of(1L, 1L, 2L, 1L, 3L, 1L))),
        answer(1, hashes(1, 44, 1, Map.of(1L, 9L, 2L, 9L, 3L, 8L))));
    CheckResult r = verify(answers, Map.of());
    assertFalse(r.valid(), r.toString());
    assertEquals(List.of("partition 1 at index 44: its replicas hold different states: n3 hashed 8, n1,n2 hashed 9"),
        r.problems());
  }

  @Test
  void aFencedReplicaFailsByItsOwnAccountOrItsLeaders() {
    ReplicaHashes leader = answer(1, new PartitionHashes(1, 40, 1, THREE, Map.of(1L, 7L, 2L, 7L, 3L, 7L), Set.of(3L)),
        hashes(2, 35, 1, Map.of(1L, 1L, 2L, 1L, 3L, 1L)));
    ReplicaHashes follower = new ReplicaHashes(3, List.of(), Map.of(), Map.of(1L, 12L));
    CheckResult r = verify(List.of(leader, follower), Map.of());
    assertFalse(r.valid(), r.toString());
    assertEquals(List.of("partition 1: n3 is fenced, by its leader n1's and its own (diverged at index 12) account: "
        + "its state differed from a quorum's in a hash check"), r.problems());
  }
}
