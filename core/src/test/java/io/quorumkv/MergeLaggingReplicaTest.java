package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfState;
import io.quorumkv.testing.TestCluster;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A range merge while one replica of the partition being merged away is down, cut off or slow (it
 * cannot learn the freeze, or learns it late): the merge goes on once a quorum of that partition's
 * voters applied the freeze, no node keeps a replica of the retired partition for good, and every
 * acknowledged write is read back from the merged one. Ranges {@code [, k3)} (partition 1) and
 * {@code [k3, +inf)} (partition 2); node 3 is the one away, unless a test says otherwise.
 */
class MergeLaggingReplicaTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long LEFT = 1;
  private static final long RIGHT = 2;

  /** How a member is away during the merge. */
  enum Away {
    /** Cut off by the network, running (its replicas never hear of the freeze). */
    CUT_OFF,
    /** Crashed; restarted from its disk afterwards. */
    CRASHED;

    void begin(TestCluster c, long id) {
      if (this == CUT_OFF) {
        c.isolate(id);
      } else {
        c.crash(id);
      }
    }

    void end(TestCluster c, long id) {
      if (this == CUT_OFF) {
        c.heal();
      } else {
        c.restart(id);
      }
    }
  }

  /**
   * Until session 28 the merge waited for every member to apply the freeze, so this call timed out
   * and the right range refused writes until node 3 was back. Now nodes 1 and 2, a quorum, are
   * enough: the call completes within its deadline, the right range takes writes at once, and node
   * 3's replica of partition 2, which never saw the freeze, is dropped (with a tombstone) once it
   * is back, its partition 1 holding the merged state. Node 3 comes back only after nodes 1 and 2
   * dropped their replicas of partition 2: sooner, it would learn the freeze from their leader.
   */
  @ParameterizedTest(name = "node 3 {0}")
  @EnumSource(Away.class)
  void aMergeGoesOnWithoutAMemberThatIsAwayWhichDropsItsReplicaOnceBack(Away away) throws Exception {
    try (TestCluster c = cluster(3, b -> {})) {
      Map<String, String> acked = writeBothSides(c, "before");
      sendAway(c, away, 3);
      long started = System.nanoTime();
      assertEquals(LEFT, c.node(1).merge("k3".getBytes()), "the merge completes without node 3");
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
      assertTrue(tookMillis < 5_000, "the merge took " + tookMillis + " ms");
      awaitRetired(c, RIGHT, Set.of(1L, 2L)); // node 3's is an orphan from now on: no peer to learn the freeze from
      for (int i = 0; i < 10; i++) { // the right range takes writes while node 3 is away
        c.node(1 + i % 2).put("m-after" + i, "merged" + i);
        acked.put("m-after" + i, "merged" + i);
      }
      away.end(c, 3);
      awaitMergedEverywhere(c);
      TestCluster.await(WAIT, "node 3's dropped replica to leave a tombstone", () -> c.node(3).runtime().tombstone(RIGHT) != null);
      assertEveryWriteReadable(c, acked);
      for (Map.Entry<String, String> e : acked.entrySet()) {
        assertEquals(Optional.of(e.getValue()), c.node(3).get(e.getKey(), ReadConsistency.FOLLOWER),
            "node 3's replica of partition 1 holds " + e.getKey());
      }
      awaitAgreeingHashes(c, LEFT, Set.of(1L, 2L, 3L));
    }
  }

  /**
   * A learner is a member the merge waited for too, and it does not count towards the quorum:
   * node 4, a learner of both partitions, is cut off; the voters (nodes 1 to 3) apply the freeze
   * and the merge goes on without it. Back, its replica of partition 2 goes and it is still a
   * learner (of partition 1), holding the merged state.
   */
  @Test
  void aLearnerThatIsCutOffDoesNotHoldTheMergeEither() throws Exception {
    try (TestCluster c = cluster(3, b -> {})) {
      Map<String, String> acked = writeBothSides(c, "before");
      c.launch(4);
      c.node(1).addLearner(4, c.address(4));
      TestCluster.await(WAIT, "node 4 to apply both partitions' writes", () -> Set.of(LEFT, RIGHT).stream()
          .allMatch(p -> c.node(4).runtime().replicas().get(p) != null
              && c.node(4).runtime().replicas().get(p).appliedIndex >= c.node(1).runtime().replicas().get(p).commitIndex));
      sendAway(c, Away.CUT_OFF, 4);
      assertEquals(LEFT, c.node(1).merge("k3".getBytes()), "the merge completes without the learner");
      awaitRetired(c, RIGHT, Set.of(1L, 2L, 3L));
      c.node(2).put("m-after", "merged");
      acked.put("m-after", "merged");
      c.heal();
      awaitMergedEverywhere(c);
      TestCluster.await(WAIT, "node 4's dropped replica to leave a tombstone", () -> c.node(4).runtime().tombstone(RIGHT) != null);
      assertEquals(Set.of(4L), c.node(1).runtime().replicas().get(LEFT).confState.learners(), "node 4 still a learner");
      assertEveryWriteReadable(c, acked);
      awaitAgreeingHashes(c, LEFT, Set.of(1L, 2L, 3L, 4L));
    }
  }

  /**
   * The right partition's leader changes between the freeze and the absorption while a member is
   * cut off: five nodes, node 5 cut off, the freeze proposed on partition 2's leader (as a merge
   * call does), which then crashes. The new leader drives the merge on ({@code resumeMerges}) with
   * the three replicas left, a quorum of five; the old leader's replica (frozen) and node 5's (not)
   * are dropped once they are back.
   */
  @Test
  void aLeaderChangeAfterTheFreezeWithAMemberCutOffStillCompletesTheMerge() throws Exception {
    try (TestCluster c = cluster(5, b -> {})) {
      Map<String, String> acked = writeBothSides(c, "before");
      sendAway(c, Away.CUT_OFF, 5);
      long old = leaderAmong(c, RIGHT, Set.of(1L, 2L, 3L, 4L));
      NodeRuntime rt = c.node(old).runtime();
      assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
          rt.propose(rt.replicas().get(RIGHT), new Command.Freeze(LEFT)).get(10, TimeUnit.SECONDS));
      c.crash(old);
      Set<Long> rest = new TreeSet<>(Set.of(1L, 2L, 3L, 4L));
      rest.remove(old);
      for (long id : rest) {
        assertEquals("[, k3)", span(c.node(id), LEFT), "absorbed before node " + old + ", which froze it, crashed");
      }
      awaitRetired(c, RIGHT, rest);
      long via = rest.iterator().next();
      for (int i = 0; i < 10; i++) {
        c.node(via).put("m-after" + i, "merged" + i);
        acked.put("m-after" + i, "merged" + i);
      }
      c.restart(old);
      c.heal();
      awaitMergedEverywhere(c);
      for (long id : Set.of(old, 5L)) {
        TestCluster.await(WAIT, "node " + id + "'s dropped replica to leave a tombstone",
            () -> c.node(id).runtime().tombstone(RIGHT) != null);
      }
      assertEveryWriteReadable(c, acked);
      awaitAgreeingHashes(c, LEFT, Set.of(1L, 2L, 3L, 4L, 5L));
    }
  }

  /**
   * A member that is up but slow to apply the freeze is still waited for, a poll round or two
   * (the grace): its replica is frozen before the left partition absorbs the state, as when every
   * member had to apply it. Node 3's applier holds the freeze entry until the right partition's
   * leader has completed two poll rounds since nodes 1 and 2, a quorum, applied it.
   */
  @Test
  void aMemberThatIsUpButSlowToApplyTheFreezeIsWaitedForAPollRoundOrTwo() throws Exception {
    try (TestCluster c = cluster(3, b -> {})) {
      Map<String, String> acked = writeBothSides(c, "before");
      c.node(1).transferLeader(RIGHT, 1); // not node 3's: the leader applies its freeze at once
      NodeRuntime leader = c.node(1).runtime();
      TestCluster.await(WAIT, "node 1 to lead partition 2", () -> leader.replicas().get(RIGHT).isLeader());
      AtomicLong quorumFrozenAt = new AtomicLong(Long.MAX_VALUE); // the leader's poll rounds then
      AtomicBoolean held = new AtomicBoolean();
      AtomicReference<String> absorbedFirst = new AtomicReference<>();
      c.node(3).runtime().overrides().applyData = (g, data) -> {
        // (a new leader's first entry is empty)
        if (g == RIGHT && data.length > 0 && Codec.decodeCommand(data).command() instanceof Command.Freeze f
            && f.intoPartition() != 0) {
          held.set(true);
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
          while (leader.placement().rounds() - quorumFrozenAt.get() < 2 && System.nanoTime() - deadline < 0) {
            for (long id : Set.of(1L, 2L)) {
              if (span(c.node(id), LEFT).equals("[, +inf)")) {
                absorbedFirst.set("node " + id + "'s partition 1 absorbed partition 2 at poll round "
                    + leader.placement().rounds() + " of node 1, before node 3 applied the freeze; nodes 1 and 2 "
                    + "had applied it at round " + quorumFrozenAt.get());
              }
            }
            MemoryCluster.sleep(1);
          }
        }
        return data;
      };
      CompletableFuture<Long> merge = CompletableFuture.supplyAsync(() -> c.node(1).merge("k3".getBytes()));
      TestCluster.await(WAIT, "nodes 1 and 2 to apply the freeze", () -> Set.of(1L, 2L).stream().allMatch(id -> {
        Replica r = c.node(id).runtime().replicas().get(RIGHT);
        return r == null || r.sm.frozenInto() != 0;
      }));
      quorumFrozenAt.set(leader.placement().rounds());
      assertEquals(LEFT, merge.get(20, TimeUnit.SECONDS));
      assertTrue(held.get(), "node 3 applied the freeze");
      assertEquals(null, absorbedFirst.get());
      awaitMergedEverywhere(c);
      assertEveryWriteReadable(c, acked);
    }
  }

  /**
   * The directory path alone: four nodes, replication factor 3, ranges {@code [, k1)},
   * {@code [k1, k2)} and {@code [k2, +inf)}; the node that holds no replica of the middle range
   * (it holds the two others) crashes, and the right range is merged into the middle one without
   * it. Back, it learns of the merge only from its peers' directory reports (none of its own
   * replicas absorbed anything): its replica of the right range must go all the same.
   */
  @Test
  void aReplicaOnANodeWithoutTheAbsorbingPartitionIsDroppedByItsPeersReports() throws Exception {
    try (TestCluster c = MergeTest.threeRangesOnFourNodes(45)) {
      Map<Long, PartitionStatus> parts = PlacementWorkload.byLeaders(c);
      long right = MergeTest.rangeStarting(parts, "k2").partitionId();
      long middle = MergeTest.rangeStarting(parts, "k1").partitionId();
      long away = c.members().stream().filter(id -> !parts.get(middle).voters().contains(id)).findFirst().orElseThrow();
      assertTrue(parts.get(right).voters().contains(away), "node " + away + " hosts the right range: " + parts);
      Map<String, String> acked = new LinkedHashMap<>();
      for (int i = 0; i < 10; i++) {
        for (String key : new String[] {"k1-" + i, "m" + i}) {
          c.node(1 + i % 4).put(key, "before" + i);
          acked.put(key, "before" + i);
        }
      }
      c.crash(away);
      long via = parts.get(middle).voters().iterator().next();
      TestCluster.await(WAIT, "leaders of the middle and right ranges without node " + away,
          () -> c.leaderOf(middle).isPresent() && c.leaderOf(right).isPresent());
      assertEquals(middle, c.node(via).merge("m".getBytes()), "the merge completes without node " + away);
      Set<Long> rest = new TreeSet<>(c.members());
      rest.remove(away);
      awaitRetired(c, right, rest);
      for (int i = 0; i < 10; i++) {
        c.node(via).put("m-after" + i, "merged" + i);
        acked.put("m-after" + i, "merged" + i);
      }
      c.restart(away);
      TestCluster.await(WAIT, () -> "node " + away + " to drop its replica of partition " + right + "; it holds "
          + c.node(away).status().partitions(), () -> c.node(away).runtime().replicas().get(right) == null
          && c.node(away).runtime().tombstone(right) != null);
      assertEquals(null, c.node(away).runtime().replicas().get(middle), "node " + away + " hosts no replica of the "
          + "middle range: the merge reached it through its peers' reports");
      assertEveryWriteReadable(c, acked);
      awaitAgreeingHashes(c, middle, parts.get(middle).voters());
    }
  }

  /** The quorum the merge goes on with: a majority of the voters, of both configurations when joint. */
  @Test
  void aQuorumOfEveryConfigurationMustHaveAppliedTheFreeze() {
    ConfState three = new ConfState(Set.of(1L, 2L, 3L), Set.of(4L), Set.of(), Set.of(), false);
    assertTrue(PlacementDriver.quorumApplied(three, Set.of(3L)));
    assertTrue(PlacementDriver.quorumApplied(three, Set.of(3L, 4L)), "a learner counts for nothing");
    assertFalse(PlacementDriver.quorumApplied(three, Set.of(2L, 3L)));
    ConfState four = ConfState.ofVoters(Set.of(1L, 2L, 3L, 4L));
    assertFalse(PlacementDriver.quorumApplied(four, Set.of(3L, 4L)), "two of four is no majority");
    assertTrue(PlacementDriver.quorumApplied(four, Set.of(4L)));
    // Joint: incoming {1, 2, 5}, outgoing {1, 2, 3}.
    ConfState joint = new ConfState(Set.of(1L, 2L, 5L), Set.of(), Set.of(1L, 2L, 3L), Set.of(), true);
    assertTrue(PlacementDriver.quorumApplied(joint, Set.of(3L, 5L)), "1 and 2 are a majority of both");
    assertFalse(PlacementDriver.quorumApplied(joint, Set.of(2L, 3L)), "1 and 5 are a majority of the incoming only");
    assertFalse(PlacementDriver.quorumApplied(joint, Set.of(2L, 5L)), "1 and 3 are a majority of the outgoing only");
  }

  @Test
  void aReplicaThatMissedTheFreezeIsDroppedOnceTheAbsorbingPartitionRecordsTheMerge() throws Exception {
    try (TestCluster c = cluster(3, b -> {})) {
      orphanTheOldWayThenHeal(c, 0);
    }
  }

  @Test
  void theRecordOfTheMergeReachesTheOrphansNodeInASnapshotToo() throws Exception {
    try (TestCluster c = cluster(3, b -> b.logCompactionEntries(5))) {
      orphanTheOldWayThenHeal(c, 30);
      double received = c.node(3).meterRegistry().get("quorumkv.snapshot.bytes.received").counter().count();
      assertTrue(received > 0, "node 3's partition 1 caught up from a snapshot");
    }
  }

  /**
   * The merge made by hand, at once: frozen and absorbed by nodes 1 and 2 alone while node 3 is cut
   * off (as in session 10, and as a merge now does once its grace is over), so nodes 1 and 2 drop
   * their replicas of partition 2 and
   * node 3's, which never saw the freeze, is left without a peer. Then {@code writesAfter} more
   * writes to partition 1, and the network heals: node 3's partition 1 learns the absorption, and
   * that is what must drop the orphan.
   */
  private static void orphanTheOldWayThenHeal(TestCluster c, int writesAfter) throws Exception {
    Map<String, String> acked = writeBothSides(c, "before");
    sendAway(c, Away.CUT_OFF, 3);
    NodeRuntime leader = leaderRuntime(c, RIGHT);
    PartitionStateMachine.Outcome.Frozen frozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        leader.propose(leader.replicas().get(RIGHT), new Command.Freeze(LEFT)).get(10, TimeUnit.SECONDS));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    assertInstanceOf(KvResponse.AdminDone.class, leader.commands().groupCallRetrying(LEFT,
        new KvRequest.GroupCommand.Absorb(RIGHT, frozen.seed()), deadline).get(20, TimeUnit.SECONDS));
    for (long id : Set.of(1L, 2L)) {
      KvNode n = c.node(id);
      TestCluster.await(WAIT, n + " to drop its replica of partition 2", () -> n.status().partitions().size() == 1);
    }
    for (int i = 0; i < writesAfter; i++) {
      c.node(1 + i % 2).put("b" + i, "after" + i);
      acked.put("b" + i, "after" + i);
    }
    c.heal();
    awaitMergedEverywhere(c);
    // the applier records the tombstone after the replica left the status: wait for it, bounded
    TestCluster.await(WAIT, "the dropped replica to leave a tombstone", () -> c.node(3).runtime().tombstone(RIGHT) != null);
    assertNotNull(c.node(3).runtime().tombstone(RIGHT), "the dropped replica leaves a tombstone");
    assertEveryWriteReadable(c, acked);
  }

  private static TestCluster cluster(int nodes, Consumer<KvNode.Builder> configure) {
    TestCluster c = TestCluster.builder().nodes(nodes).partitioner(RangePartitioner.of("k3")).seed(43)
        .requestTimeout(Duration.ofSeconds(5)).configure(configure).build().start();
    c.awaitLeaders(WAIT);
    return c;
  }

  /** Waits until none of {@code nodes} holds a replica of {@code partition}: each dropped it as merged. */
  private static void awaitRetired(TestCluster c, long partition, Set<Long> nodes) {
    for (long id : nodes) {
      TestCluster.await(WAIT, () -> "node " + id + " to drop its replica of partition " + partition + "; it holds "
          + c.node(id).status().partitions(), () -> c.node(id).runtime().replicas().get(partition) == null);
    }
  }

  /** Keys on both sides of "k3", each written once and acknowledged. */
  private static Map<String, String> writeBothSides(TestCluster c, String value) {
    Map<String, String> acked = new LinkedHashMap<>();
    for (int i = 0; i < 10; i++) {
      for (String prefix : new String[] {"a", "m"}) {
        String key = prefix + i;
        c.node(1 + i % 3).put(key, value + i);
        acked.put(key, value + i);
      }
    }
    return acked;
  }

  /** Sends node {@code id} away and waits until the other nodes lead both partitions among themselves. */
  private static void sendAway(TestCluster c, Away away, long id) {
    away.begin(c, id);
    Set<Long> rest = new TreeSet<>(c.initialMembers());
    rest.remove(id);
    TestCluster.await(WAIT, "nodes " + rest + " to lead both partitions without node " + id,
        () -> leaderAmong(c, LEFT, rest) != 0 && leaderAmong(c, RIGHT, rest) != 0);
  }

  /** The leader of {@code partition} on node 1 or 2 (node 3 being away). */
  private static NodeRuntime leaderRuntime(TestCluster c, long partition) {
    long id = leaderAmong(c, partition, Set.of(1L, 2L));
    assertTrue(id != 0, "a leader of partition " + partition + " on node 1 or 2");
    return c.node(id).runtime();
  }

  /** The node among {@code among} whose replica of {@code partition} leads, by its own account; 0 if none. */
  private static long leaderAmong(TestCluster c, long partition, Set<Long> among) {
    for (long id : among) {
      Replica r = c.node(id).runtime().replicas().get(partition);
      if (r != null && r.isLeader()) {
        return id;
      }
    }
    return 0;
  }

  private static String span(KvNode n, long partition) {
    return n.status().partitions().stream().filter(p -> p.partitionId() == partition).findFirst()
        .map(PartitionStatus::keys).orElse("none");
  }

  /** Waits until every node holds partition 1 alone, over every key. */
  static void awaitMergedEverywhere(TestCluster c) {
    for (KvNode n : c.nodes()) {
      TestCluster.await(WAIT, () -> n + " to hold only partition 1 over every key; it holds "
          + n.status().partitions(), () -> n.status().partitions().size() == 1
          && n.status().partitions().get(0).partitionId() == LEFT
          && n.status().partitions().get(0).keys().equals("[, +inf)"));
    }
  }

  /**
   * Waits until partition {@code p}'s leader has a hash from each of {@code members} at one index
   * (its check through the log), and they agree.
   */
  static void awaitAgreeingHashes(TestCluster c, long p, Set<Long> members) {
    TestCluster.await(WAIT, "every replica of partition " + p + " on " + members + " to hash alike", () -> {
      Optional<Long> leader = c.leaderOf(p);
      Optional<PartitionHashes> h = leader.isEmpty() ? Optional.empty()
          : c.node(leader.get()).replicaHashes().checked().stream().filter(x -> x.partitionId() == p).findFirst();
      return h.isPresent() && h.get().hashes().keySet().equals(members) && h.get().agree();
    });
  }

  /** Reads every acknowledged write back (LINEARIZABLE) on every node. */
  static void assertEveryWriteReadable(TestCluster c, Map<String, String> acked) {
    for (KvNode n : c.nodes()) {
      for (Map.Entry<String, String> e : acked.entrySet()) {
        assertEquals(Optional.of(e.getValue()), n.get(e.getKey()), n + " reads " + e.getKey());
      }
    }
  }
}
