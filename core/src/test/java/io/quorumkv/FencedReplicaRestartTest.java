package io.quorumkv;

import static io.quorumkv.ReplicaDivergenceTest.divergedAt;
import static io.quorumkv.ReplicaDivergenceTest.leading;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import org.junit.jupiter.api.Test;

/**
 * A replica's fence ({@link Replica#divergedAt}) outlives a restart of its node, a power cut
 * included ({@link Tombstones#fence}): reopened, the replica is fenced at the same index, serves
 * no read from its diverged state, never leads, and is reported fenced; a repair finishes
 * as without the restart, and a fence lifted by a matching check, or gone with the replica a repair
 * replaced, stays lifted. A split child made from a fenced replica keeps its fence across a
 * restart too. Node {@link #BAD} diverges; node 1 leads.
 */
class FencedReplicaRestartTest {

  private static final Duration WAIT = Duration.ofSeconds(15);
  static final long BAD = 3;

  /**
   * Three in-memory nodes, started, with repairs and leader balancing off and {@code more} (the
   * fenced replica stays, and so do leaderships); every partition has a leader.
   */
  static MemoryCluster repairsOff(long seed, Partitioner partitioner, Consumer<KvNode.Builder> more) {
    MemoryCluster mc = new MemoryCluster(3, partitioner, seed, b -> {
      b.balanceLeaders(false).repairDivergedReplicas(false);
      more.accept(b);
    }).start();
    try {
      mc.awaitLeaders(WAIT);
    } catch (RuntimeException | Error e) {
      mc.close();
      throw e;
    }
    return mc;
  }

  /**
   * Makes node 1 the leader of partition {@code p}, has node {@link #BAD} apply {@code victim} with
   * a wrong value, and node 1's check fence it; returns once the fence is on its disk.
   */
  static void fenceBad(LongFunction<KvNode> node, long p) {
    node.apply(1).transferLeader(p, 1);
    TestCluster.await(WAIT, "node 1 to lead", () -> node.apply(1).runtime().replicas().get(p).isLeader());
    ReplicaDivergenceTest.applyWrongValue(node.apply(1), node.apply(BAD));
    node.apply(1).runtime().checkReplicaHashes();
    TestCluster.await(WAIT, "node " + BAD + " to be fenced", () -> divergedAt(node.apply(BAD), p) != 0);
    awaitApplierPast(node, p, "barrier");
  }

  /**
   * Writes {@code key} (of partition {@code p}) through its leader, node 1, and waits until node
   * {@link #BAD} applied it: its applier, which wrote any fence change set before (queued first), is
   * past it.
   */
  private static void awaitApplierPast(LongFunction<KvNode> node, long p, String key) {
    node.apply(1).put(key, "x");
    long index = node.apply(1).runtime().replicas().get(p).log.lastIndex();
    TestCluster.await(WAIT, "node " + BAD + " to apply index " + index,
        () -> node.apply(BAD).runtime().replicas().get(p).appliedIndex >= index);
  }

  /**
   * Node {@code f}'s replica of {@code p}, just restarted, is fenced at {@code at}: its gauge, its
   * directory report and its answer to a hash check ({@code client} asks it) say so, and its
   * reads get the quorum's value.
   */
  private static void assertFencedAfterRestart(KvClient client, KvNode f, long p, long at) {
    assertEquals(at, divergedAt(f, p), "fenced at the same index after the restart");
    assertEquals(1.0, f.meterRegistry().get("quorumkv.replicas.diverged").gauge().value(), "the fenced replica's gauge");
    assertTrue(f.runtime().placement().report().fenced().contains(p), "the directory report names it fenced");
    assertEquals(Map.of(p, at), client.replicaHashes().fenced(), "the node's hash check answer");
    for (ReadConsistency level : List.of(ReadConsistency.STALE, ReadConsistency.FOLLOWER)) {
      assertEquals(Optional.of("right"), f.get("victim", level), level + " read on the restarted fenced replica");
    }
  }

  /**
   * Repairs off. Node 3 is fenced, and the power is cut; restarted, it is fenced at the same
   * index, its reads at every level get the quorum's value, and the leader's directory learns it
   * is fenced. It never leads: an operator's transfer to it is refused, one the leader's core is
   * told to make anyway is never taken up (node 3 never campaigns, so its term stays), and when
   * the leader's power is cut, node 2 is elected, with node 3's vote.
   */
  @Test
  void aFencedReplicaStaysFencedAcrossAPowerCutServesNoReadAndNeverLeads() {
    try (MemoryCluster mc = repairsOff(71, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      long at = divergedAt(mc.node(BAD), p);

      mc.crash(BAD);
      KvNode f = mc.restart(BAD);
      assertFencedAfterRestart(mc.client(BAD), f, p, at);
      MemoryCluster.await(WAIT, "node 1's directory to know node " + BAD + "'s replica fenced",
          () -> mc.node(1).runtime().placement().fenced(BAD, p));

      Replica r = f.runtime().replicas().get(p);
      long lastIndex = mc.node(1).runtime().replicas().get(p).log.lastIndex();
      MemoryCluster.await(WAIT, "node " + BAD + " to catch up", () -> r.appliedIndex >= lastIndex);
      FencedReplicaLeadershipTest.NeverLeads watch = FencedReplicaLeadershipTest.NeverLeads.watch(f, p);
      IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
          () -> mc.node(1).transferLeader(p, BAD));
      assertTrue(refused.getMessage().contains("fenced"), refused.getMessage());
      FencedReplicaLeadershipTest.assertTransferNotTaken(mc, p, 1, BAD);

      mc.crash(1);
      MemoryCluster.await(WAIT, "node 2 to be elected", () -> mc.node(2).runtime().replicas().get(p).isLeader());
      watch.assertNeverLed(Duration.ofMillis(500));
      for (ReadConsistency level : ReadConsistency.values()) {
        assertEquals(Optional.of("right"), f.get("victim", level), level + " read on the fenced replica");
      }
      assertEquals(at, divergedAt(f, p), "still fenced");
    }
  }

  /**
   * Repairs off: node 3 is fenced, and the partition quiesces with every member caught up. Node 3
   * is stopped and started again: its leader sends no heartbeat (quiesced, and it missed nobody)
   * and node 3 never campaigns, so it learns no leader from Raft. A read on it goes to the leader
   * the directory names, which wakes the partition; then node 3 follows node 1 again.
   */
  @Test
  void aFencedReplicaRestartedInAQuiescedPartitionFindsItsLeaderThroughTheDirectory() {
    try (MemoryCluster mc = repairsOff(76, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      Replica leader = mc.node(1).runtime().replicas().get(p);
      MemoryCluster.await(WAIT, "the partition to quiesce", () -> leader.quiesced);
      mc.stop(BAD);
      KvNode f = mc.restart(BAD);
      Replica r = f.runtime().replicas().get(p);
      MemoryCluster.await(WAIT, "node " + BAD + "'s directory to name node 1 the leader",
          () -> f.runtime().placement().leaderOf(p) == 1);
      assertEquals(0, r.leader, "no leader known from Raft");
      assertTrue(leader.quiesced, "still quiesced");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.LINEARIZABLE), "served by node 1");
      MemoryCluster.await(WAIT, "node " + BAD + " to follow node 1", () -> r.leader == 1);
      assertNotEquals(0, divergedAt(f, p), "still fenced");
    }
  }

  /**
   * As above on RocksDB over Netty, stopped and started again gracefully: the fence is in the
   * data directory.
   */
  @Test
  void aFencedReplicaStaysFencedAcrossARestartOnRocksDb() {
    try (TestCluster c = TestCluster.builder().nodes(3).storage(StorageEngineType.ROCKSDB)
        .configure(b -> b.balanceLeaders(false).repairDivergedReplicas(false)).build().start()) {
      c.awaitLeaders(WAIT);
      long p = c.partitions().iterator().next();
      fenceBad(c::node, p);
      long at = divergedAt(c.node(BAD), p);
      c.stop(BAD);
      KvNode f = c.restart(BAD);
      assertFencedAfterRestart(c.client(BAD), f, p, at);
    }
  }

  /**
   * Repairs on, five voters: node 3 is fenced, and its repair waits while node 2 is behind (the
   * leader's messages to it dropped). Node 3's power is cut and it restarts, fenced still; once
   * node 2 catches up, the repair rebuilds node 3's replica, unfenced, and every replica hashes
   * alike. The fence went with the replica it was set on: the new one starts unfenced, and is so
   * after another restart.
   */
  @Test
  void aRepairStartedBeforeTheFencedNodeRestartedFinishes() {
    try (MemoryCluster mc = new MemoryCluster(5, HashPartitioner.of(1), 72, b -> b.balanceLeaders(false)).start()) {
      mc.awaitLeaders(WAIT);
      long p = ReplicaDivergenceTest.partition(mc);
      long behind = 2;
      mc.node(1).transferLeader(p, 1);
      MemoryCluster.await(WAIT, "node 1 to lead", () -> leading(mc, p) == 1);
      mc.blockOneWay(1, behind);
      fenceBad(mc::node, p);
      ReplicaDivergenceTest.awaitWaiting(mc, p, "voter " + behind + " is not caught up");
      long at = divergedAt(mc.node(BAD), p);

      mc.crash(BAD);
      KvNode f = mc.restart(BAD);
      assertEquals(at, divergedAt(f, p), "fenced at the same index after the restart");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.STALE), "served by the leader");
      Replica reopened = f.runtime().replicas().get(p);

      mc.heal();
      KvNode restarted = f;
      MemoryCluster.await(Duration.ofSeconds(60), "node " + BAD + " to drop its replica and create a new one", () -> {
        Replica now = restarted.runtime().replicas().get(p);
        return now != null && now != reopened;
      });
      assertEquals(0, divergedAt(f, p), "the new replica starts unfenced: the fence went with the old one");
      ReplicaDivergenceTest.awaitRebuilt(mc, p, BAD, reopened);
      ReplicaDivergenceTest.awaitAgreeingHashes(mc, p, Set.of(1L, 2L, 3L, 4L, 5L));
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.FOLLOWER));
      assertTrue(ReplicaDivergenceTest.repairs(mc, "quorumkv.replica.repairs.done") >= 1.0, "the repair was counted");

      awaitApplierPast(mc::node, p, "barrier");
      mc.crash(BAD);
      f = mc.restart(BAD);
      assertEquals(0, divergedAt(f, p), "the rebuilt replica, restarted, is not fenced");
    }
  }

  /**
   * Repairs off: node 3 is fenced, then {@code victim} is written again (every replica applies it
   * alike) and the next check matches and lifts the fence: it may lead again (a transfer to it
   * succeeds). After a power cut node 3's replica is still unfenced.
   */
  @Test
  void aFenceLiftedByAMatchingCheckStaysLiftedAcrossAPowerCut() {
    try (MemoryCluster mc = repairsOff(73, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      mc.node(1).put("victim", "right again");
      mc.node(1).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "the check to lift node " + BAD + "'s fence", () -> divergedAt(mc.node(BAD), p) == 0);
      MemoryCluster.await(WAIT, "node 1's directory to know node " + BAD + "'s replica unfenced",
          () -> !mc.node(1).runtime().placement().fenced(BAD, p));
      mc.node(1).transferLeader(p, BAD);
      assertTrue(mc.node(BAD).runtime().replicas().get(p).isLeader(), "unfenced, it may lead again");
      mc.node(BAD).transferLeader(p, 1);
      awaitApplierPast(mc::node, p, "barrier");

      mc.crash(BAD);
      KvNode f = mc.restart(BAD);
      assertEquals(0, divergedAt(f, p), "not fenced after the restart");
      assertEquals(0.0, f.meterRegistry().get("quorumkv.replicas.diverged").gauge().value());
      assertEquals(Optional.of("right again"), f.get("victim", ReadConsistency.STALE), "served from its own state");
    }
  }

  /**
   * Repairs off, the log compacted every 20 entries: node 3 is fenced, its power is cut, and 100
   * writes later it restarts fenced and is sent a snapshot. Its diverged state replaced by the
   * leader's, it is unfenced, serves reads from it and may lead again; after another power cut it
   * is still unfenced.
   */
  @Test
  void aSnapshotInstalledOverAFencedReplicaLiftsItsFence() {
    try (MemoryCluster mc = repairsOff(75, HashPartitioner.of(1), b -> b.logCompactionEntries(20))) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      long at = divergedAt(mc.node(BAD), p);
      mc.crash(BAD);
      for (int i = 0; i < 100; i++) {
        mc.node(1).put("k" + i, "v" + i); // compacted past what node 3 holds
      }
      KvNode f = mc.restart(BAD);
      assertEquals(at, divergedAt(f, p), "fenced after the restart, before the snapshot");
      Replica r = f.runtime().replicas().get(p);
      PartitionStateMachine before = r.sm;
      MemoryCluster.await(WAIT, "node " + BAD + " to install a snapshot", () -> r.sm != before);
      assertEquals(0, divergedAt(f, p), "unfenced by the snapshot (before its state was published)");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.STALE), "served from the installed state");
      Replica leader = mc.node(1).runtime().replicas().get(p);
      mc.node(1).runtime().post(() -> leader.raw.transferLeadership(BAD)); // node 1 still holds it diverged
      MemoryCluster.await(WAIT, "node " + BAD + ", unfenced, to take the leadership", r::isLeader);
      mc.node(BAD).transferLeader(p, 1);

      awaitApplierPast(mc::node, p, "barrier");
      mc.crash(BAD);
      assertEquals(0, divergedAt(mc.restart(BAD), p), "still unfenced after another restart");
    }
  }

  /**
   * Repairs off, a range partition: node 3 is fenced, and the partition splits at {@code x}
   * ({@code victim} stays in the parent). Node 3's replica of the child, fenced from its start,
   * stays fenced across a power cut, as its replica of the parent does; the child's own matching
   * check lifts the child's fence, and that too outlives a power cut.
   */
  @Test
  void aChildMadeFromAFencedReplicaKeepsItsFenceAcrossAPowerCut() {
    try (MemoryCluster mc = repairsOff(74, RangePartitioner.single(), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      mc.node(1).put("z", "right");
      long child = mc.node(1).split("x".getBytes(StandardCharsets.UTF_8));
      MemoryCluster.await(WAIT, "node " + BAD + " to hold the child", () -> mc.node(BAD).runtime().replicas().containsKey(child));
      MemoryCluster.await(WAIT, "a leader of the child", () -> leading(mc, child) != 0);
      mc.node(1).transferLeader(child, 1); // node 3's replica may have won the child's first election
      MemoryCluster.await(WAIT, "node 1 to lead the child", () -> leading(mc, child) == 1);
      awaitApplierPast(mc::node, child, "z-barrier");

      mc.crash(BAD);
      KvNode f = mc.restart(BAD);
      MemoryCluster.await(WAIT, "node " + BAD + " to hold the child again", () -> f.runtime().replicas().containsKey(child));
      assertEquals(NodeRuntime.SPLIT_INITIAL_INDEX, divergedAt(f, child), "the child is fenced after the restart");
      assertNotEquals(0, divergedAt(f, p), "and so is the parent");
      assertEquals(Optional.of("right"), f.get("z", ReadConsistency.STALE), "served by the child's leader");

      mc.node(1).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "the child's check to lift its fence", () -> divergedAt(mc.node(BAD), child) == 0);
      awaitApplierPast(mc::node, child, "z-barrier");
      mc.crash(BAD);
      KvNode again = mc.restart(BAD);
      assertEquals(0, divergedAt(again, child), "the child's lifted fence stays lifted");
      assertNotEquals(0, divergedAt(again, p), "the parent's stays");
    }
  }
}
