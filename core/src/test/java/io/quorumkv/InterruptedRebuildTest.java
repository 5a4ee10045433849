package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.transport.RaftTransport;
import io.quorumkv.transport.TransportException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A rebuild of a diverged replica on its node ({@link ReplicaRepair}, replication factor 0) is
 * interrupted between the removal of the node and its re-adding: the leader that started it
 * crashes, then every voter restarts; or the partition splits, or merges with its neighbour. The
 * re-adding is held meanwhile: it waits until the node reports that it dropped its old replica
 * ({@link PlacementDriver#reportsNoReplica}), and the other nodes' polls of that node fail until
 * the test lets them through ({@link HeldPolls}). Whoever leads afterwards must know from the
 * partition's replicated state that the node is to come back, and finish the repair, in a split's
 * child too; and an operator's own removal of that node meanwhile must cancel it.
 */
class InterruptedRebuildTest {

  private static final Duration WAIT = Duration.ofSeconds(15);
  /** The node whose replica diverges: a follower (node 1 is made the leader). */
  private static final long BAD = 3;

  /**
   * A transport whose directory polls of node {@link #BAD} fail as unreachable while {@code held}
   * is set: the leader then never hears that node report its old replica gone. Everything else,
   * node {@link #BAD}'s own polls and hash reports included, passes.
   */
  private static final class HeldPolls extends ForwardingTransport {
    private final AtomicBoolean held;

    HeldPolls(RaftTransport inner, AtomicBoolean held) {
      super(inner);
      this.held = held;
    }

    /**
     * Has every node {@code b} builds (again at each restart) poll node {@link #BAD} through a
     * {@link HeldPolls}, except the nodes in {@code passing}, whose polls always pass.
     */
    static void install(KvNode.Builder b, AtomicBoolean held, Set<Long> passing) {
      b.overrides(o -> {
        Function<KvNodeConfig, RaftTransport> inner = o.transport;
        o.transport = cfg -> passing.contains(cfg.nodeId()) ? inner.apply(cfg) : new HeldPolls(inner.apply(cfg), held);
      });
    }

    @Override
    public CompletableFuture<byte[]> request(long toNode, byte[] payload, Duration deadline) {
      if (toNode == BAD && held.get() && Codec.decodeRequest(payload) instanceof KvRequest.Directory) {
        return CompletableFuture.failedFuture(new TransportException(TransportException.Reason.UNREACHABLE,
            "node " + toNode + "'s directory poll is held (test)"));
      }
      return inner.request(toNode, payload, deadline);
    }
  }

  /** The partition holding {@code key}, as node 1 routes it. */
  private static long partitionOf(MemoryCluster c, String key) {
    return c.node(1).runtime().routing().route(key.getBytes(StandardCharsets.UTF_8)).orElseThrow();
  }

  /** The leader of {@code p} as running node {@code via} sees it, if that node's replica leads. */
  private static long leaderAmong(MemoryCluster c, long p, long... via) {
    for (long id : via) {
      Replica r = c.node(id).runtime().replicas().get(p);
      if (r != null && r.isLeader()) {
        return id;
      }
    }
    return 0;
  }

  /** The three nodes' roles, and the replica of the node to rebuild before its removal. */
  private record Staged(long p, long leader, long bad, long good, Replica old) {}

  /** A cluster of three whose polls of node {@link #BAD} are held while {@code held} is set. */
  private static MemoryCluster cluster(long seed, AtomicBoolean held) {
    return cluster(seed, held, HashPartitioner.of(1), Set.of());
  }

  /**
   * As {@link #cluster(long, AtomicBoolean)}, with partitions of {@code partitioner}, and the polls
   * of node {@link #BAD} by the nodes in {@code passing} never held.
   */
  private static MemoryCluster cluster(long seed, AtomicBoolean held, Partitioner partitioner, Set<Long> passing) {
    return cluster(seed, held, partitioner, passing, 0);
  }

  /** As above, with replication factor {@code factor} (0: every node hosts every partition). */
  private static MemoryCluster cluster(long seed, AtomicBoolean held, Partitioner partitioner, Set<Long> passing,
      int factor) {
    return new MemoryCluster(3, partitioner, seed, b -> {
      b.balanceLeaders(false).replicationFactor(factor);
      HeldPolls.install(b, held, passing);
    });
  }

  /**
   * Has the leader's hash check find follower {@link #BAD}'s replica of the partition holding
   * {@code victim} (and the writer's keys {@code w0, w1, ...}) diverged, and waits until the
   * leader removed it to rebuild it.
   */
  private static Staged removeForRebuild(MemoryCluster c, Map<String, String> acked) throws InterruptedException {
    c.awaitLeaders(WAIT);
    long p = partitionOf(c, "victim");
    c.node(1).transferLeader(p, 1);
    MemoryCluster.await(WAIT, "node 1 to lead", () -> MemoryCluster.leaderOf(c, p) == 1);
    long leader = 1;
    long bad = BAD;
    long good = 2;
    try (ReplicaDivergenceTest.Writer w = new ReplicaDivergenceTest.Writer(c.node(good), acked)) {
      MemoryCluster.await(WAIT, "some writes before the check", () -> acked.size() >= 20);
    }
    ReplicaDivergenceTest.applyWrongValue(c.node(leader), c.node(bad));
    Replica old = c.node(bad).runtime().replicas().get(p);
    Replica l = c.node(leader).runtime().replicas().get(p);
    c.node(leader).runtime().checkReplicaHashes();
    MemoryCluster.await(WAIT, "the leader to remove node " + bad + " to rebuild it",
        () -> l.confState.voters().equals(Set.of(leader, good)) && l.rebuilding != null);
    return new Staged(p, leader, bad, good, old);
  }

  /** Crashes and restarts the leader, then stops and restarts both voters; waits for a leader among them. */
  private static void restartVoters(MemoryCluster c, Staged s) {
    c.crash(s.leader());
    c.restart(s.leader());
    MemoryCluster.await(WAIT, "a leader after node " + s.leader() + "'s crash",
        () -> leaderAmong(c, s.p(), s.leader(), s.good()) != 0);
    c.stop(s.good());
    c.stop(s.leader());
    c.restart(s.leader());
    c.restart(s.good());
    MemoryCluster.await(WAIT, "a leader after both voters restarted",
        () -> leaderAmong(c, s.p(), s.leader(), s.good()) != 0);
  }

  /** Puts {@code prefix0..9} through {@code via}, recording each acknowledged one (failures are retried). */
  static void write(MemoryCluster c, long via, String prefix, Map<String, String> acked) {
    for (int i = 0; i < 10; i++) {
      String key = prefix + i;
      MemoryCluster.await(WAIT, "the write of " + key + " to be acknowledged", () -> {
        try {
          c.node(via).put(key, "v-" + key);
          acked.put(key, "v-" + key);
          return true;
        } catch (KvException e) {
          return false;
        }
      });
    }
  }

  /**
   * The leader removes the diverged follower to rebuild it; the leader crashes and restarts, then
   * both voters restart, all before the leader heard that the node dropped its old replica. Once
   * its polls pass, whoever leads adds it back and promotes it: a new replica, a voter, hashing
   * like the others and serving every acknowledged write. Before, the rebuild was held in memory
   * (each replica's, as it applied the removal): after the restarts the partition stayed a voter
   * short.
   */
  @Test
  void aRebuildWhoseLeaderCrashedAndWhoseVotersAllRestartedIsFinished() throws Exception {
    AtomicBoolean held = new AtomicBoolean(true);
    try (MemoryCluster c = cluster(41, held).start()) {
      Map<String, String> acked = new ConcurrentHashMap<>();
      Staged s = removeForRebuild(c, acked);
      write(c, s.good(), "after-removal-", acked);
      restartVoters(c, s);
      write(c, s.good(), "after-restarts-", acked);

      held.set(false);
      ReplicaDivergenceTest.awaitRebuilt(c, s.p(), s.bad(), s.old());
      ReplicaDivergenceTest.awaitAgreeingHashes(c, s.p(), Set.of(1L, 2L, 3L));
      KvNode f = c.node(s.bad());
      assertEquals(0, f.runtime().replicas().get(s.p()).divergedAt, "the new replica is not fenced");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.FOLLOWER));
      for (Map.Entry<String, String> e : acked.entrySet()) {
        assertEquals(Optional.of(e.getValue()), f.get(e.getKey(), ReadConsistency.FOLLOWER), "acknowledged " + e.getKey());
      }
      for (long id = 1; id <= 3; id++) {
        assertNull(c.node(id).runtime().replicas().get(s.p()).rebuilding, "no rebuild left pending on node " + id);
      }
    }
  }

  /**
   * As above, but the operator removes the node being rebuilt while it is out (a removal of a node
   * no member, which the leader proposes all the same), and then both voters restart: the rebuild
   * is cancelled for good. The node drops its old replica, and once its polls pass it is not added
   * back, nor remembered as a member.
   */
  @Test
  void anOperatorRemovingTheNodeBeingRebuiltCancelsTheRebuildForGood() throws Exception {
    AtomicBoolean held = new AtomicBoolean(true);
    try (MemoryCluster c = cluster(42, held).start()) {
      Map<String, String> acked = new ConcurrentHashMap<>();
      Staged s = removeForRebuild(c, acked);
      c.node(s.good()).removeNode(s.bad()); // an operator's call: not "not a member", it cancels the rebuild
      MemoryCluster.await(WAIT, "the cancellation to apply on both voters",
          () -> c.node(s.leader()).runtime().replicas().get(s.p()).rebuilding == null
              && c.node(s.good()).runtime().replicas().get(s.p()).rebuilding == null);
      restartVoters(c, s);

      held.set(false);
      MemoryCluster.await(Duration.ofSeconds(60), "node " + s.bad() + " to drop its removed replica",
          () -> c.node(s.bad()).runtime().replicas().get(s.p()) == null);
      long l = leaderAmong(c, s.p(), s.leader(), s.good());
      assertNotNull(c.node(l).runtime().replicas().get(s.p()));
      long from = c.node(l).runtime().placement().rounds();
      MemoryCluster.await(Duration.ofSeconds(60), "5 more poll rounds at the leader",
          () -> c.node(l).runtime().placement().rounds() >= from + 5);
      Replica r = c.node(l).runtime().replicas().get(s.p());
      assertEquals(Set.of(s.leader(), s.good()), r.confState.voters(), "node " + s.bad() + " was not added back");
      assertEquals(Set.of(), r.confState.learners());
      assertNull(r.rebuilding);
      assertEquals("", c.node(l).runtime().memberAddress(s.bad()), "the removed node is forgotten");
      assertNull(c.node(s.bad()).runtime().replicas().get(s.p()), "no replica created again on node " + s.bad());
    }
  }

  /** Node {@code bad} serves {@code victim}'s right value and every acknowledged write from its own replicas. */
  private static void assertServedBy(MemoryCluster c, long bad, Map<String, String> acked) {
    KvNode f = c.node(bad);
    assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.FOLLOWER));
    for (Map.Entry<String, String> e : acked.entrySet()) {
      assertEquals(Optional.of(e.getValue()), f.get(e.getKey(), ReadConsistency.FOLLOWER), "acknowledged " + e.getKey());
    }
  }

  /** No replica of {@code p} on a running node has a rebuild pending. */
  private static void assertNoRebuildPending(MemoryCluster c, long p) {
    for (long id = 1; id <= 3; id++) {
      Replica r = c.node(id).runtime().replicas().get(p);
      assertNull(r == null ? null : r.rebuilding, "no rebuild of partition " + p + " left pending on node " + id);
    }
  }

  /**
   * The partition splits while the rebuild is pending (node {@link #BAD} removed, not added back
   * yet): the child starts with the parent's membership, without that node, and with the parent's
   * pending rebuild in its initial state, so its own leader adds the node back too once its polls
   * pass. Both partitions then have it as a voter, hashing like the others and serving every
   * acknowledged write of its keys. Before, the record stayed with the parent and the child stayed
   * a voter short (at replication factor 0, until an operator added the node).
   */
  @Test
  void aSplitWhileARebuildIsPendingHasTheChildFinishItToo() throws Exception {
    AtomicBoolean held = new AtomicBoolean(true);
    try (MemoryCluster c = cluster(43, held, RangePartitioner.single(), Set.of()).start()) {
      splitWhileRebuildPending(c, held);
    }
  }

  /**
   * As above with a replication factor of 3 and three nodes: no other node to move the replica
   * to, so it is rebuilt in place (the parent and the child then have two voters, under the
   * factor). Placement adding the node back to either partition would be refused (the repair
   * adds it, once its old replica is gone), and either's own leader adding it is the rebuild's
   * step, which does not cancel it: both end with the node a voter again, as above.
   */
  @Test
  void aSplitWhileARebuildWithAReplicationFactorIsPendingHasTheChildFinishItToo() throws Exception {
    AtomicBoolean held = new AtomicBoolean(true);
    try (MemoryCluster c = cluster(47, held, RangePartitioner.single(), Set.of(), 3).start()) {
      splitWhileRebuildPending(c, held);
    }
  }

  /** The body of the two tests above, on a cluster of three with a single range partition. */
  private static void splitWhileRebuildPending(MemoryCluster c, AtomicBoolean held) throws InterruptedException {
    Map<String, String> acked = new ConcurrentHashMap<>();
    Staged s = removeForRebuild(c, acked);
    write(c, s.good(), "a-after-removal-", acked);
    write(c, s.good(), "z-after-removal-", acked);

    long child = c.node(s.leader()).split("m".getBytes(StandardCharsets.UTF_8)); // victim and w... move to the child
    MemoryCluster.await(WAIT, "both voters to hold the child", () -> c.node(s.leader()).runtime().replicas()
        .containsKey(child) && c.node(s.good()).runtime().replicas().containsKey(child));
    assertNull(c.node(s.bad()).runtime().replicas().get(child), "node " + s.bad() + " was no member at the split");
    for (long id : new long[] {s.leader(), s.good()}) {
      Replica r = c.node(id).runtime().replicas().get(child);
      assertEquals(Set.of(s.leader(), s.good()), r.confState.voters(), "the parent's membership, on node " + id);
      assertEquals(c.node(id).runtime().replicas().get(s.p()).rebuilding, r.rebuilding,
          "the parent's rebuild pending, on node " + id);
      assertEquals(s.bad(), r.rebuilding == null ? 0 : r.rebuilding.node());
    }
    write(c, s.good(), "a-after-split-", acked);
    write(c, s.good(), "z-after-split-", acked);

    held.set(false);
    ReplicaDivergenceTest.awaitRebuilt(c, s.p(), s.bad(), s.old());
    ReplicaDivergenceTest.awaitRebuilt(c, child, s.bad(), null);
    ReplicaDivergenceTest.awaitAgreeingHashes(c, s.p(), Set.of(1L, 2L, 3L));
    ReplicaDivergenceTest.awaitAgreeingHashes(c, child, Set.of(1L, 2L, 3L));
    assertServedBy(c, s.bad(), acked);
    assertNoRebuildPending(c, s.p());
    assertNoRebuildPending(c, child);
  }

  /**
   * The right-hand neighbour is merged into the partition while its rebuild is pending: the merged
   * partition keeps the rebuild (the merge changes no membership), and its leader adds the node
   * back once its polls pass; the node's replica of the retired partition goes, as every merged
   * replica does. The node then holds both sides' keys in its new replica. The right-hand
   * partition is led by node 2, whose polls of the node pass: its leader waits for every member
   * (the node too) to report the freeze applied before the merge.
   */
  @Test
  void aMergeIntoAPartitionWithARebuildPendingKeepsTheRebuild() throws Exception {
    AtomicBoolean held = new AtomicBoolean(true);
    try (MemoryCluster c = cluster(44, held, RangePartitioner.of("x"), Set.of(2L)).start()) {
      Map<String, String> acked = new ConcurrentHashMap<>();
      Staged s = removeForRebuild(c, acked); // [, x): victim and w...
      long right = partitionOf(c, "y");
      c.node(s.good()).transferLeader(right, s.good());
      MemoryCluster.await(WAIT, "node " + s.good() + " to lead partition " + right,
          () -> MemoryCluster.leaderOf(c, right) == s.good());
      write(c, s.good(), "y-before-merge-", acked);

      assertEquals(s.p(), c.node(s.good()).merge("y".getBytes(StandardCharsets.UTF_8)));
      MemoryCluster.await(WAIT, "every node to drop its replica of partition " + right,
          () -> c.nodes().stream().allMatch(n -> n.runtime().replicas().get(right) == null));
      for (long id : new long[] {s.leader(), s.good()}) {
        ReplicaRepair.Rebuild b = c.node(id).runtime().replicas().get(s.p()).rebuilding;
        assertEquals(s.bad(), b == null ? 0 : b.node(), "the rebuild still pending after the merge, on node " + id);
      }
      write(c, s.good(), "y-after-merge-", acked);

      held.set(false);
      ReplicaDivergenceTest.awaitRebuilt(c, s.p(), s.bad(), s.old());
      ReplicaDivergenceTest.awaitAgreeingHashes(c, s.p(), Set.of(1L, 2L, 3L));
      assertServedBy(c, s.bad(), acked);
      assertNoRebuildPending(c, s.p());
    }
  }

  /**
   * A partition whose rebuild is pending is merged into its left-hand neighbour, of which the node
   * being rebuilt is still a voter: the rebuild ends with the retired partition, as nothing is left
   * to rebuild. The node's replica of the merged partition took the retired one's state from the
   * merge entry (the frozen state of a healthy leader, not its own diverged one), hashes like the
   * others and serves every acknowledged write; its diverged replica of the retired partition goes.
   */
  @Test
  void aMergeOfAPartitionWithARebuildPendingEndsTheRebuild() throws Exception {
    AtomicBoolean held = new AtomicBoolean(true);
    try (MemoryCluster c = cluster(45, held, RangePartitioner.of("b"), Set.of()).start()) {
      Map<String, String> acked = new ConcurrentHashMap<>();
      Staged s = removeForRebuild(c, acked); // [b, +inf): victim and w...
      long left = partitionOf(c, "a");
      write(c, s.good(), "a-before-merge-", acked);

      assertEquals(left, c.node(s.good()).merge("victim".getBytes(StandardCharsets.UTF_8)));
      MemoryCluster.await(WAIT, "every node to drop its replica of partition " + s.p(),
          () -> c.nodes().stream().allMatch(n -> n.runtime().replicas().get(s.p()) == null));
      write(c, s.good(), "z-after-merge-", acked);
      held.set(false);

      ReplicaDivergenceTest.awaitAgreeingHashes(c, left, Set.of(1L, 2L, 3L));
      for (KvNode n : c.nodes()) {
        assertEquals(Set.of(1L, 2L, 3L), n.runtime().replicas().get(left).confState.voters(),
            "node " + s.bad() + " still a voter of the merged partition, on " + n);
      }
      assertServedBy(c, s.bad(), acked);
      assertNoRebuildPending(c, left);
    }
  }

  /**
   * The split reaches the node being rebuilt: proposed right behind the rebuild's removal while
   * the leader's messages are held, both commit at once, and the leader tells that node so before
   * it applies the removal itself (from then on it no longer replicates to the node). The node's
   * applier is held meanwhile, so it applies the removal and then the split only after the child's
   * leader, which found no replica of the child there, added it back to the child as a learner.
   * The node is no member of the parent at the split: it must not create the child from its own
   * (diverged) copy of the parent's state, whose log would match the child leader's at the split's
   * initial index; it gets an empty replica and a snapshot, and its rebuilt replica of the child
   * holds the right value. Before, it created the child from the split, with the wrong value,
   * and was promoted so.
   */
  @Test
  void aNodeRemovedForARebuildDoesNotCreateTheChildOfALaterSplitFromItsDivergedState() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 46,
        b -> b.balanceLeaders(false).repairDivergedReplicas(false).electionTicks(50)).start()) {
      c.awaitLeaders(WAIT);
      long p = partitionOf(c, "victim");
      c.node(1).transferLeader(p, 1);
      MemoryCluster.await(WAIT, "node 1 to lead", () -> MemoryCluster.leaderOf(c, p) == 1);
      Map<String, String> acked = new ConcurrentHashMap<>();
      write(c, 2, "a-", acked);
      write(c, 2, "z-", acked);
      KvNode bad = c.node(BAD);
      ReplicaDivergenceTest.applyWrongValue(c.node(1), bad);
      Replica old = bad.runtime().replicas().get(p);

      CountDownLatch release = new CountDownLatch(1);
      AtomicBoolean badAppliedSplit = new AtomicBoolean();
      bad.runtime().overrides().beforeApply = g -> MemoryCluster.await(release);
      bad.runtime().overrides().applyData = (g, data) -> {
        if (data.length > 0 && Codec.decodeCommand(data).command() instanceof Command.Split) {
          badAppliedSplit.set(true);
        }
        return data;
      };
      long child = 4242;
      try {
        Replica l = c.node(1).runtime().replicas().get(p);
        long before = l.log.lastIndex();
        c.blockOneWay(1, 2);
        c.blockOneWay(1, BAD);
        long deadline = System.nanoTime() + WAIT.toNanos();
        // The removal a repair proposes (repairs are off: no hash check interferes), then the split.
        CompletableFuture<KvResponse> removal = c.node(1).runtime().commands().changeMember(l,
            new KvRequest.GroupCommand.ChangeMember(ConfChangeType.REMOVE, BAD,
                ReplicaRepair.REBUILD_CONTEXT + c.node(1).runtime().memberAddress(BAD), 2), deadline);
        CompletableFuture<PartitionStateMachine.Outcome> split = c.node(1).runtime().propose(l,
            new Command.Split("m".getBytes(StandardCharsets.UTF_8), child));
        MemoryCluster.await(WAIT, "the removal and the split to be in the leader's log",
            () -> l.log.lastIndex() >= before + 2);
        c.heal();
        assertInstanceOf(KvResponse.AdminDone.class, removal.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        assertInstanceOf(PartitionStateMachine.Outcome.Split.class, split.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        MemoryCluster.await(Duration.ofSeconds(60), "the child's leader to add node " + BAD + " back as a learner", () -> {
          Replica r = c.node(1).runtime().replicas().get(child);
          return r != null && NodeRuntime.isMember(r.confState, BAD);
        });
      } finally {
        release.countDown(); // also when the staging failed: the held applier must not outlive the test
      }
      MemoryCluster.await(WAIT, "node " + BAD + " to apply the split (it learned that it committed)", badAppliedSplit::get);
      bad.runtime().overrides().beforeApply = null;
      bad.runtime().overrides().applyData = null;

      ReplicaDivergenceTest.awaitRebuilt(c, child, BAD, null);
      assertEquals(Optional.of("right"), bad.runtime().replicas().get(child).sm.get("victim".getBytes(StandardCharsets.UTF_8))
          .map(v -> new String(v, StandardCharsets.UTF_8)), "node " + BAD + "'s replica of the child");
      ReplicaDivergenceTest.awaitRebuilt(c, p, BAD, old);
      ReplicaDivergenceTest.awaitAgreeingHashes(c, child, Set.of(1L, 2L, 3L));
      ReplicaDivergenceTest.awaitAgreeingHashes(c, p, Set.of(1L, 2L, 3L));
      assertServedBy(c, BAD, acked);
    }
  }
}
