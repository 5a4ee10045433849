package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import io.quorumkv.transport.RaftTransport;
import io.quorumkv.transport.SnapshotChunkSource;
import io.quorumkv.transport.TransportException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * A replica whose state differs from a quorum's (a state machine that is not deterministic, a
 * flipped bit) is found by the periodic replica hash check, attributed by majority, and fenced: it
 * serves no read from its state, and a leader hands its leadership away, so no client reads the
 * wrong value from it. Then the partition's leader replaces it ({@link ReplicaRepair}): only when
 * every other voter is up, caught up and not diverged too, one repair at a time per node and per
 * check period; with the switch off the replica stays fenced. A range partition that splits while
 * a repair moves its diverged replica ends, parent and child, with sound voters only; the child's
 * replica made from a fenced one is fenced too.
 */
class ReplicaDivergenceTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  /** An apply hook that writes {@code wrong} wherever a log entry puts {@code key} (also ReplicaHashesTest's). */
  static BiFunction<Long, byte[], byte[]> rewritePutsOf(String key, String wrong) {
    byte[] k = key.getBytes(StandardCharsets.UTF_8);
    return (group, data) -> {
      if (data.length == 0) {
        return data; // a new leader's empty entry
      }
      Command.Stamped s = Codec.decodeCommand(data);
      if (s.command() instanceof Command.Writes ws) {
        List<Command.Write> rewritten = ws.writes().stream().map(w -> rewrite(w, k, wrong)).toList();
        return Codec.encodeCommand(new Command.Stamped(s.stampMillis(), new Command.Writes(rewritten)));
      }
      if (s.command() instanceof Command.Write w) {
        return Codec.encodeCommand(new Command.Stamped(s.stampMillis(), rewrite(w, k, wrong)));
      }
      return data;
    };
  }

  private static Command.Write rewrite(Command.Write w, byte[] key, String wrong) {
    if (w.op() instanceof WriteOp.Put p && Arrays.equals(p.key(), key)) {
      return new Command.Write(w.clientId(), w.seq(), w.ackedBelow(),
          new WriteOp.Put(key, wrong.getBytes(StandardCharsets.UTF_8)));
    }
    return w;
  }

  /** The first partition, as node 1 lists them. */
  static long partition(MemoryCluster c) {
    return c.node(1).status().partitions().get(0).partitionId();
  }

  private static long leaderOf(MemoryCluster c, long p) {
    return MemoryCluster.partition(c.node(1), p).leader();
  }

  /** Node {@code n}'s replica of {@code p}'s fence index ({@link Replica#divergedAt}), 0 when not fenced. */
  static long divergedAt(KvNode n, long p) {
    return n.runtime().replicas().get(p).divergedAt;
  }

  /**
   * A follower applies a put with another value. After the hash check it is fenced, and a
   * {@code STALE} read on it gets the leader's value instead of its own; the other follower is not
   * fenced. With repairs off, it stays so: a later check finds it diverged again (a replica
   * replaced meanwhile would not report), and nothing was repaired.
   */
  @Test
  void aFollowerWhoseStateDivergedIsFencedAndItsReadsGoToTheLeaderAndWithRepairsOffItStaysSo() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 31,
        b -> b.balanceLeaders(false).repairDivergedReplicas(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      long leader = leaderOf(c, p);
      long bad = leader == 3 ? 2 : 3;
      long good = 6 - leader - bad;
      KvNode f = c.node(bad);
      applyWrongValue(c.node(leader), f);

      c.node(leader).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "node " + bad + " to be fenced", () -> divergedAt(f, p) != 0);
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.STALE),
          "a fenced replica's read is served by the leader");
      assertEquals(0, divergedAt(c.node(good), p), "the healthy follower is not fenced");
      assertEquals(0, divergedAt(c.node(leader), p), "nor the leader");
      assertEquals(1, c.node(leader).runtime().replicaHashMismatches());
      assertEquals(1.0, f.meterRegistry().get("quorumkv.replicas.diverged").gauge().value(), "the fenced replica's gauge");
      c.node(leader).put("after", "fence");
      assertEquals(Optional.of("fence"), f.get("after", ReadConsistency.LINEARIZABLE));

      long first = divergedAt(f, p);
      c.node(leader).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "a later check to find node " + bad + " diverged again", () -> divergedAt(f, p) > first);
      assertTrue(MemoryCluster.partition(c.node(leader), p).voters().contains(bad), "still a voter");
      assertEquals(0.0, repairs(c, "quorumkv.replica.repairs"), "no repair started");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.STALE), "still fenced");
    }
  }

  /**
   * As above with repairs on (the default): the leader removes the diverged follower and adds its
   * node back, which rebuilds its replica (replication factor 0: every node already hosts the
   * partition), while a client writes. Then the replica is a new one, a voter, unfenced; a later
   * check finds every replica's hash equal; and it serves every acknowledged write with its value
   * from its own state (a {@code FOLLOWER} read is served locally once unfenced).
   */
  @Test
  void aFollowerWhoseStateDivergedIsRebuiltOnItsNodeAndServesReadsAgain() throws Exception {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 34, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      long leader = leaderOf(c, p);
      long bad = leader == 3 ? 2 : 3;
      long good = 6 - leader - bad;
      KvNode f = c.node(bad);
      applyWrongValue(c.node(leader), f);
      Replica old = f.runtime().replicas().get(p);

      Map<String, String> acked = new ConcurrentHashMap<>();
      try (Writer w = new Writer(c.node(good), acked)) {
        MemoryCluster.await(WAIT, "some writes before the check", () -> acked.size() >= 20);
        c.node(leader).runtime().checkReplicaHashes();
        awaitRebuilt(c, p, bad, old);
        int before = acked.size();
        MemoryCluster.await(WAIT, "some writes after the repair", () -> acked.size() >= before + 20);
      }
      assertTrue(repairs(c, "quorumkv.replica.repairs") >= 1.0, "a repair was counted");
      awaitAgreeingHashes(c, p, Set.of(1L, 2L, 3L));
      assertEquals(0, divergedAt(f, p), "the new replica is not fenced");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.FOLLOWER));
      for (Map.Entry<String, String> e : acked.entrySet()) {
        assertEquals(Optional.of(e.getValue()), f.get(e.getKey(), ReadConsistency.FOLLOWER), "acknowledged " + e.getKey());
      }
    }
  }

  /**
   * The leader applies a put with another value. Both followers report the same hash, which
   * outvotes the leader's: it fences itself and hands its leadership to one of them; a read on it
   * then gets the quorum's value.
   */
  @Test
  void aLeaderWhoseStateDivergedHandsItsLeadershipAwayAndServesNoRead() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 32,
        b -> b.balanceLeaders(false).repairDivergedReplicas(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      long bad = leaderOf(c, p);
      KvNode l = c.node(bad);
      applyWrongValue(l, l);

      l.runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "another node to lead partition " + p, () -> {
        long now = leaderOf(c, p);
        return now != 0 && now != bad;
      });
      assertNotEquals(0, divergedAt(l, p), "the old leader is fenced");
      long leader = leaderOf(c, p);
      assertEquals(0, divergedAt(c.node(leader), p), "the new leader is not");
      for (ReadConsistency level : List.of(ReadConsistency.STALE, ReadConsistency.LINEARIZABLE)) {
        assertEquals(Optional.of("right"), l.get("victim", level), level + " read on the old leader");
        assertEquals(Optional.of("right"), c.node(leader).get("victim", level), level + " read on the new leader");
      }
    }
  }

  /**
   * As above with repairs on: the fenced leader hands its leadership away; the next leader's check
   * finds it diverged as a follower, and replaces it (rebuilt on its node); every replica's hash
   * then agrees and it serves the quorum's value from its own state.
   */
  @Test
  void aLeaderWhoseStateDivergedIsRepairedAfterHandingItsLeadershipAway() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 35, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      long bad = leaderOf(c, p);
      KvNode l = c.node(bad);
      applyWrongValue(l, l);
      Replica old = l.runtime().replicas().get(p);
      l.runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "another node to lead partition " + p, () -> {
        long now = leaderOf(c, p);
        return now != 0 && now != bad;
      });
      c.node(leaderOf(c, p)).runtime().checkReplicaHashes();
      awaitRebuilt(c, p, bad, old);
      awaitAgreeingHashes(c, p, Set.of(1L, 2L, 3L));
      assertEquals(Optional.of("right"), l.get("victim", ReadConsistency.FOLLOWER));
    }
  }

  /**
   * Five voters; a follower diverges and the leader and three others outvote it, but no repair
   * starts while another voter is behind (the leader's messages to it dropped), nor while one is
   * down though caught up (it stopped right after reporting its hash), nor while one that reported
   * its hash fell behind again: the repair would take the partition closer to unavailability.
   * Once all are up and caught up, the diverged replica is rebuilt.
   */
  @Test
  void noRepairWhileAnotherVoterIsDownOrBehindThenOnceItCaughtUp() {
    try (MemoryCluster c = new MemoryCluster(5, HashPartitioner.of(1), 36, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      long leader = leaderOf(c, p);
      List<Long> followers = List.of(1L, 2L, 3L, 4L, 5L).stream().filter(id -> id != leader).toList();
      long bad = followers.get(0);
      long stopped = followers.get(1);
      long behind = followers.get(2);
      long lagging = followers.get(3);
      KvNode f = c.node(bad);
      Replica old = f.runtime().replicas().get(p);
      c.blockOneWay(leader, behind);
      applyWrongValue(c.node(leader), f);
      c.node(leader).runtime().checkReplicaHashes();
      awaitWaiting(c, p, "voter " + behind + " is not caught up");
      assertNoRepair(c, p, bad, old);

      // Node `stopped` reported its hash, and stops caught up (nothing is written meanwhile).
      MemoryCluster.await(WAIT, "node " + stopped + " to report the leader's hash", () -> c.node(leader).runtime()
          .replicas().get(p).hashReports.values().stream().anyMatch(m -> m.containsKey(stopped) && m.containsKey(lagging)));
      c.stop(stopped);
      awaitWaiting(c, p, "voter " + stopped + " is not up");
      c.heal();
      MemoryCluster.await(WAIT, "node " + behind + " to catch up and report its hash", () -> c.node(leader).runtime()
          .replicas().get(p).hashReports.values().stream().anyMatch(m -> m.containsKey(behind)));
      awaitWaiting(c, p, "voter " + stopped + " is not up");
      assertNoRepair(c, p, bad, old);

      // Node `lagging` reported its hash at the check, then falls behind.
      c.blockOneWay(leader, lagging);
      c.node(leader).put("more", "writes");
      c.restart(stopped);
      awaitWaiting(c, p, "voter " + lagging + " is not caught up");
      assertNoRepair(c, p, bad, old);

      c.heal();
      awaitRebuilt(c, p, bad, old);
      awaitAgreeingHashes(c, p, Set.of(1L, 2L, 3L, 4L, 5L));
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.FOLLOWER));
      assertEquals(Optional.of("writes"), f.get("more", ReadConsistency.FOLLOWER));
    }
  }

  private static void assertNoRepair(MemoryCluster c, long p, long bad, Replica old) {
    assertEquals(0.0, repairs(c, "quorumkv.replica.repairs"), "no repair started");
    assertEquals(old, c.node(bad).runtime().replicas().get(p), "the diverged replica is still there");
    assertTrue(MemoryCluster.partition(c.node(leaderOf(c, p)), p).voters().contains(bad), "still a voter");
  }

  /**
   * Five voters, two followers diverge alike: the leader and the two others outvote both, and
   * both are fenced, but neither is repaired: two at once point to something systematic, and
   * rebuilding replicas would not fix it.
   */
  @Test
  void twoFollowersDivergedAtOnceAreFencedButNotRepaired() {
    try (MemoryCluster c = new MemoryCluster(5, HashPartitioner.of(1), 37, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      long leader = leaderOf(c, p);
      List<Long> bad = List.of(1L, 2L, 3L, 4L, 5L).stream().filter(id -> id != leader).limit(2).toList();
      for (long id : bad) {
        c.node(id).runtime().overrides().applyData = rewritePutsOf("victim", "wrong");
      }
      c.node(leader).put("victim", "right");
      MemoryCluster.await(WAIT, "nodes " + bad + " to apply the wrong value", () -> bad.stream()
          .allMatch(id -> c.node(id).get("victim", ReadConsistency.STALE).equals(Optional.of("wrong"))));
      bad.forEach(id -> c.node(id).runtime().overrides().applyData = null);
      c.node(leader).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "nodes " + bad + " to be fenced",
          () -> bad.stream().allMatch(id -> divergedAt(c.node(id), p) != 0));
      awaitWaiting(c, p, "voter " + bad.get(1) + " did not report this leader's hash at index");
      assertEquals(0.0, repairs(c, "quorumkv.replica.repairs"), "no repair started");
      assertTrue(MemoryCluster.partition(c.node(leader), p).voters().containsAll(bad), "both still voters");
    }
  }

  /**
   * Node 1 leads both partitions and node 2 diverged in both: one repair at a time, and the next
   * only a check period ({@link ReplicaRepair#SPACING_TICKS}) after the first started, so a hashing
   * bug that blamed a node's every replica could not churn them all at once. Both end repaired.
   */
  @Test
  void oneNodeStartsAtMostOneRepairAtATimeAndOnePerCheckPeriod() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 38, b -> b.balanceLeaders(false)).start()) {
      c.awaitLeaders(WAIT);
      List<Long> partitions = c.node(1).status().partitions().stream().map(s -> s.partitionId()).toList();
      for (long p : partitions) {
        c.node(1).transferLeader(p, 1);
      }
      MemoryCluster.await(WAIT, "node 1 to lead both partitions",
          () -> partitions.stream().allMatch(p -> leaderOf(c, p) == 1));
      KvNode f = c.node(2);
      Map<Long, Replica> old = new java.util.HashMap<>(f.runtime().replicas());
      divergeOnTenKeys(c, f);
      c.node(1).runtime().checkReplicaHashes();
      ReplicaRepair repairs = c.node(1).runtime().repairs();
      MemoryCluster.await(WAIT, "one partition repaired, the other waiting for the check period", () -> {
        long repaired = partitions.stream().filter(p -> {
          Replica now = f.runtime().replicas().get(p);
          return now != null && now != old.get(p) && now.divergedAt == 0;
        }).count();
        return repaired == 1 && partitions.stream().anyMatch(p -> String.valueOf(repairs.waitingFor(p))
            .startsWith("this node started a repair"));
      });
      assertEquals(1.0, repairs(c, "quorumkv.replica.repairs"), "one repair started");
      for (long p : partitions) {
        awaitRebuilt(c, p, 2, old.get(p));
      }
      assertEquals(2.0, repairs(c, "quorumkv.replica.repairs.done"), "both repairs done");
    }
  }

  /**
   * With a replication factor and a node that hosts no replica of the partition (node 4, joined
   * and registered after the start), the diverged replica is moved there: a learner first, then
   * one joint change promotes it and removes the diverged one, so the partition never has fewer
   * than three voters; the leader counts it done.
   */
  @Test
  void withAReplicationFactorADivergedReplicaIsMovedToAnotherNode() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 39,
        b -> b.balanceLeaders(false).replicationFactor(3)).start()) {
      MoveStaged m = awaitMoveTarget(c);
      long p = m.p();
      long leader = m.leader();
      Replica lr = c.node(leader).runtime().replicas().get(p);
      Set<Long> voters = Set.of(1L, 2L, 3L);
      long bad = m.bad();
      KvNode f = c.node(bad);
      applyWrongValue(c.node(leader), f);
      Set<Integer> voterCounts = ConcurrentHashMap.newKeySet();
      c.node(leader).runtime().checkReplicaHashes();
      Set<Long> expected = new java.util.TreeSet<>(voters);
      expected.remove(bad);
      expected.add(4L);
      MemoryCluster.await(Duration.ofSeconds(60), "the replica moved from node " + bad + " to node 4", () -> {
        voterCounts.add(lr.confState.voters().size());
        return lr.isLeader() && lr.confState.voters().equals(expected) && lr.confState.learners().isEmpty()
            && !lr.confState.isJoint();
      });
      assertEquals(1.0, c.node(leader).meterRegistry().get("quorumkv.replica.repairs.done").counter().count(),
          "the move was counted by its leader");
      assertTrue(voterCounts.stream().allMatch(n -> n >= 3), "never fewer than three voters: " + voterCounts);
      awaitAgreeingHashes(c, p, expected);
      assertEquals(Optional.of("right"), c.node(4).get("victim", ReadConsistency.FOLLOWER));
      MemoryCluster.await(WAIT, "node " + bad + " to drop its replica", () -> f.runtime().replicas().get(p) == null);
    }
  }

  /** A cluster's one partition, its leader, the follower to diverge and the other, with node 4 a move's target. */
  record MoveStaged(long p, long leader, long bad, long good) {}

  /**
   * In a cluster of three started with a replication factor of 3 and one partition: starts node 4
   * and registers it, and waits until the partition's leader would move a replica there.
   */
  static MoveStaged awaitMoveTarget(MemoryCluster c) {
    c.awaitLeaders(WAIT);
    long p = partition(c);
    c.startNode(4, true);
    c.node(1).addNode(4, c.address(4)); // registered: placement may move replicas onto it
    long leader = leaderOf(c, p);
    Replica lr = c.node(leader).runtime().replicas().get(p);
    MemoryCluster.await(WAIT, "node 4 to be a target for a move",
        () -> c.node(leader).runtime().repairs().moveTarget(lr).equals(java.util.OptionalLong.of(4)));
    assertEquals(Set.of(1L, 2L, 3L), lr.confState.voters());
    long bad = lr.confState.voters().stream().filter(id -> id != leader).sorted().findFirst().orElseThrow();
    return new MoveStaged(p, leader, bad, 6 - leader - bad);
  }

  /**
   * As above, but the target held a replica of the partition before (four initial voters, one
   * removed by placement): the learner created again there starts a term past its tombstone and
   * deposes the leader, which forgets the move. Placement finishes it: it promotes the learner,
   * then removes the fenced voter first (its node reports it fenced), not another.
   */
  @Test
  void aMoveWhoseLeaderChangedIsFinishedByPlacementRemovingTheFencedVoter() {
    try (MemoryCluster c = new MemoryCluster(4, HashPartitioner.of(1), 40,
        b -> b.balanceLeaders(false).replicationFactor(3)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      // The leader a voter too: placement may remove the leader's own replica (it then hands the
      // leadership away), and until it has, it leads three voters without itself.
      MemoryCluster.await(Duration.ofSeconds(60), "placement to settle at three voters", () -> {
        long l = leaderOf(c, p);
        Replica r = l == 0 ? null : c.node(l).runtime().replicas().get(p);
        return r != null && r.isLeader() && r.confState.voters().size() == 3 && r.confState.voters().contains(l)
            && r.confState.learners().isEmpty() && !r.confState.isJoint();
      });
      long leader = leaderOf(c, p);
      Set<Long> voters = Set.copyOf(c.node(leader).runtime().replicas().get(p).confState.voters());
      long bad = voters.stream().filter(id -> id != leader).findFirst().orElseThrow();
      long spare = List.of(1L, 2L, 3L, 4L).stream().filter(id -> !voters.contains(id)).findFirst().orElseThrow();
      MemoryCluster.await(WAIT, "node " + spare + " to be a target for a move (its removed replica gone)",
          () -> c.node(leader).runtime().repairs().moveTarget(c.node(leader).runtime().replicas().get(p))
              .equals(java.util.OptionalLong.of(spare)));
      KvNode f = c.node(bad);
      applyWrongValue(c.node(leader), f);
      c.node(leader).runtime().checkReplicaHashes();
      Set<Long> expected = new java.util.TreeSet<>(voters);
      expected.remove(bad);
      expected.add(spare);
      MemoryCluster.await(Duration.ofSeconds(60), "the replica moved from node " + bad + " to node " + spare, () -> {
        long l = leaderOf(c, p);
        Replica r = l == 0 ? null : c.node(l).runtime().replicas().get(p);
        return r != null && r.isLeader() && r.confState.voters().equals(expected) && r.confState.learners().isEmpty()
            && !r.confState.isJoint();
      });
      assertEquals(1.0, repairs(c, "quorumkv.replica.repairs.done"), "the move was counted");
      awaitAgreeingHashes(c, p, expected);
      assertEquals(Optional.of("right"), c.node(spare).get("victim", ReadConsistency.FOLLOWER));
    }
  }

  /**
   * A transport that drops the Raft messages (snapshots too) its node sends to another while that
   * link, {@code List.of(from, to)}, is in {@code held}; requests (the placement driver's polls)
   * pass, so a node whose messages are held still counts as alive and as a target for a move.
   */
  private static final class HeldRaftMessages extends ForwardingTransport {
    private final long from;
    private final Set<List<Long>> held;

    HeldRaftMessages(RaftTransport inner, long from, Set<List<Long>> held) {
      super(inner);
      this.from = from;
      this.held = held;
    }

    /** Has every node {@code b} builds send through a {@link HeldRaftMessages} over {@code held}. */
    static void install(KvNode.Builder b, Set<List<Long>> held) {
      b.overrides(o -> {
        java.util.function.Function<KvNodeConfig, RaftTransport> inner = o.transport;
        o.transport = cfg -> new HeldRaftMessages(inner.apply(cfg), cfg.nodeId(), held);
      });
    }

    @Override
    public void send(long toNode, long groupId, Message m) {
      if (!held.contains(List.of(from, toNode))) {
        inner.send(toNode, groupId, m);
      }
    }

    @Override
    public CompletableFuture<Void> sendSnapshot(long toNode, long groupId, Message.InstallSnapshot message,
        SnapshotChunkSource source) {
      if (held.contains(List.of(from, toNode))) {
        return CompletableFuture.failedFuture(new TransportException(TransportException.Reason.UNREACHABLE,
            "node " + from + "'s Raft messages to node " + toNode + " are held (test)"));
      }
      return inner.sendSnapshot(toNode, groupId, message, source);
    }
  }

  /** Where the tests of splits during a move split: {@code victim}, {@code w...} and {@code z...} go to the child. */
  private static final byte[] SPLIT_KEY = "m".getBytes(StandardCharsets.UTF_8);

  /**
   * A range partition splits while a repair moves its diverged replica (replication factor 3):
   * node 4 was added as the move's learner, but cannot catch up (the leader's messages to it are
   * dropped), so the joint change is not proposed yet. The child starts with the parent's
   * membership, node 4 a learner, and node {@code bad}'s replica of the child is created from its
   * diverged copy of the parent (the wrong value is in the child's keys). Once node 4 is reachable
   * again, both partitions end with three voters, none of them a diverged replica, their replicas
   * hashing alike, and every acknowledged write readable.
   */
  @Test
  void aSplitWhileAMovesLearnerCatchesUpLeavesBothPartitionsWithThreeSoundVoters() {
    Set<List<Long>> held = ConcurrentHashMap.newKeySet();
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 47,
        b -> HeldRaftMessages.install(b.balanceLeaders(false).replicationFactor(3), held)).start()) {
      MoveStaged m = awaitMoveTarget(c);
      Map<String, String> acked = new ConcurrentHashMap<>();
      Replica old = startMoveWithLearnerHeld(c, m, held, acked);
      KvNode f = c.node(m.bad());

      long child = c.node(m.leader()).split(SPLIT_KEY);
      MemoryCluster.await(WAIT, "nodes 1 to 3 to hold the child",
          () -> List.of(1L, 2L, 3L).stream().allMatch(id -> c.node(id).runtime().replicas().containsKey(child)));
      ConfStateView start = ConfStateView.of(c.node(m.leader()).runtime().replicas().get(child));
      assertEquals(new ConfStateView(Set.of(1L, 2L, 3L), Set.of(4L), false), start, "the child starts as the parent was");
      Replica oldChild = f.runtime().replicas().get(child);
      assertNotEquals(0, oldChild.divergedAt, "node " + m.bad() + "'s replica of the child, created from its fenced "
          + "replica of the parent, is fenced too");
      assertEquals(Optional.of("right"), f.get("victim", ReadConsistency.STALE),
          "a read on node " + m.bad() + " is served by the child's leader, not from its diverged state");
      InterruptedRebuildTest.write(c, m.good(), "a-after-split-", acked);
      InterruptedRebuildTest.write(c, m.good(), "z-after-split-", acked);

      held.clear();
      awaitSettled(c, m.p(), m.bad(), old, acked);
      awaitSettled(c, child, m.bad(), oldChild, acked);
    }
  }

  /**
   * As above, but the split lands while the move is joint: node 4 caught up, and the leader's
   * messages to the two followers are dropped, so the joint change (promoting node 4, removing
   * node {@code bad}) stays uncommitted; the split is proposed right behind it, and both commit
   * together once the followers are reachable again. The child starts in the joint configuration,
   * and its leader leaves it (as Raft's leader of a joint configuration with auto-leave does once
   * it applied the entering). Both partitions end as above.
   */
  @Test
  void aSplitWhileAMoveIsJointLeavesBothPartitionsWithThreeSoundVoters() throws Exception {
    Set<List<Long>> held = ConcurrentHashMap.newKeySet();
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 48,
        b -> HeldRaftMessages.install(b.balanceLeaders(false).replicationFactor(3).electionTicks(50), held)).start()) {
      MoveStaged m = awaitMoveTarget(c);
      Map<String, String> acked = new ConcurrentHashMap<>();
      Replica old = startMoveWithLearnerHeld(c, m, held, acked);
      KvNode f = c.node(m.bad());
      Replica lr = c.node(m.leader()).runtime().replicas().get(m.p());
      // Nothing commits past the learner's addition while the followers are cut off; node 4 then
      // catches up to the commit index, and the leader proposes the joint change, which waits.
      held.add(List.of(m.leader(), m.bad()));
      held.add(List.of(m.leader(), m.good()));
      held.remove(List.of(m.leader(), 4L));
      MemoryCluster.await(WAIT, "the leader to propose the move's joint change", () -> {
        long last = lr.log.lastIndex();
        List<Entry> e = lr.log.entries(last, last + 1, Long.MAX_VALUE);
        return !e.isEmpty() && e.get(0).type() == EntryType.CONF_CHANGE && last > lr.commitIndex;
      });
      long joint = lr.log.lastIndex();
      long child = 4848;
      CompletableFuture<PartitionStateMachine.Outcome> split = c.node(m.leader()).runtime().propose(lr,
          new Command.Split(SPLIT_KEY, child));
      MemoryCluster.await(WAIT, "the split to be in the leader's log right behind the joint change",
          () -> lr.log.lastIndex() >= joint + 1);
      assertEquals(EntryType.NORMAL, lr.log.entries(joint + 1, joint + 2, Long.MAX_VALUE).get(0).type());
      held.clear();
      assertInstanceOf(PartitionStateMachine.Outcome.Split.class, split.get(WAIT.toSeconds(), TimeUnit.SECONDS));
      MemoryCluster.await(WAIT, "the leader to hold the child", () -> c.node(m.leader()).runtime().replicas()
          .containsKey(child));
      ConfStateView start = ConfStateView.of(c.node(m.leader()).runtime().replicas().get(child).smStore.confState());
      assertTrue(start.joint(), "the child starts joint, as the parent was at the split: " + start);
      Replica oldChild = f.runtime().replicas().get(child);
      InterruptedRebuildTest.write(c, m.good(), "a-after-split-", acked);
      InterruptedRebuildTest.write(c, m.good(), "z-after-split-", acked);

      awaitSettled(c, m.p(), m.bad(), old, acked);
      awaitSettled(c, child, m.bad(), oldChild, acked);
    }
  }

  /**
   * Writes {@code a-before-0..9} and {@code z-before-0..9}, has node {@code m.bad()} apply
   * {@code victim} with a wrong value, holds the leader's Raft messages to node 4 and has the
   * leader check hashes; waits until the repair added node 4 as its move's learner (which cannot
   * catch up: the move waits before its joint change) and node {@code m.bad()} is fenced. Returns
   * that node's diverged replica.
   */
  private static Replica startMoveWithLearnerHeld(MemoryCluster c, MoveStaged m, Set<List<Long>> held,
      Map<String, String> acked) {
    InterruptedRebuildTest.write(c, m.good(), "a-before-", acked);
    InterruptedRebuildTest.write(c, m.good(), "z-before-", acked);
    applyWrongValue(c.node(m.leader()), c.node(m.bad()));
    Replica old = c.node(m.bad()).runtime().replicas().get(m.p());
    Replica lr = c.node(m.leader()).runtime().replicas().get(m.p());
    held.add(List.of(m.leader(), 4L));
    c.node(m.leader()).runtime().checkReplicaHashes();
    MemoryCluster.await(WAIT, "node 4 to be added as the move's learner", () -> lr.confState.learners().contains(4L));
    MemoryCluster.await(WAIT, "node " + m.bad() + " to be fenced", () -> old.divergedAt != 0);
    return old;
  }

  /**
   * The fence a split's child takes from its parent replica is lifted by the child's own check
   * when the diverged keys stayed with the parent: repairs off, node {@code bad} diverged on
   * {@code victim}, the split at {@code x} keeps {@code victim} in the parent. Its replica of the
   * child starts fenced, and a check of the child that finds it hashing like the others unfences
   * it (the fence is set at the child's initial index, below any index the child checks at); its
   * replica of the parent stays fenced.
   */
  @Test
  void aChildMadeFromAFencedReplicaIsUnfencedByAMatchingCheckOfTheChild() {
    try (MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 49,
        b -> b.balanceLeaders(false).repairDivergedReplicas(false)).start()) {
      c.awaitLeaders(WAIT);
      long p = partition(c);
      c.node(1).transferLeader(p, 1);
      MemoryCluster.await(WAIT, "node 1 to lead", () -> leading(c, p) == 1);
      KvNode f = c.node(3);
      applyWrongValue(c.node(1), f);
      c.node(1).put("z", "right");
      c.node(1).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "node 3 to be fenced", () -> divergedAt(f, p) != 0);

      long child = c.node(1).split("x".getBytes(StandardCharsets.UTF_8));
      MemoryCluster.await(WAIT, "node 3 to hold the child", () -> f.runtime().replicas().containsKey(child));
      assertNotEquals(0, divergedAt(f, child), "made from a fenced replica, the child starts fenced");
      MemoryCluster.await(WAIT, "a leader of the child", () -> leading(c, child) != 0);
      c.node(leading(c, child)).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "node 3's replica of the child to be unfenced by the child's check",
          () -> divergedAt(f, child) == 0);
      assertEquals(Optional.of("right"), f.get("z", ReadConsistency.FOLLOWER), "served from its own replica again");
      assertNotEquals(0, divergedAt(f, p), "its replica of the parent, which holds the diverged key, stays fenced");
    }
  }

  /** A membership, as the tests compare it. */
  private record ConfStateView(Set<Long> voters, Set<Long> learners, boolean joint) {
    static ConfStateView of(Replica r) {
      return of(r.confState);
    }

    static ConfStateView of(io.quorumkv.raft.ConfState cs) {
      return new ConfStateView(Set.copyOf(cs.voters()), Set.copyOf(cs.learners()), cs.isJoint());
    }
  }

  /** The running node whose replica of {@code p} leads, or 0. */
  static long leading(MemoryCluster c, long p) {
    for (KvNode n : c.nodes()) {
      Replica r = n.runtime().replicas().get(p);
      if (r != null && r.isLeader()) {
        return n.nodeId();
      }
    }
    return 0;
  }

  /**
   * Waits until partition {@code p} has three voters, no learner and no joint configuration, none
   * of them node {@code bad}'s replica {@code old} (a new replica of that node may be one, unfenced),
   * then until its replicas hash alike; and reads every acknowledged write of its keys at
   * {@code LINEARIZABLE}, {@code victim}'s right value too if it is {@code p}'s.
   */
  private static void awaitSettled(MemoryCluster c, long p, long bad, Replica old, Map<String, String> acked) {
    io.quorumkv.testing.TestCluster.await(Duration.ofSeconds(90), () -> "partition " + p + " to settle at three voters without node " + bad
        + "'s diverged replica; now led by node " + leading(c, p) + " with " + describe(c, p), () -> {
          long l = leading(c, p);
          Replica r = l == 0 ? null : c.node(l).runtime().replicas().get(p);
          if (r == null || r.confState.voters().size() != 3 || !r.confState.learners().isEmpty() || r.confState.isJoint()) {
            return false;
          }
          Replica b = c.node(bad).runtime().replicas().get(p);
          return !r.confState.voters().contains(bad) || (b != null && b != old && b.divergedAt == 0);
        });
    long l = leading(c, p);
    Set<Long> voters = Set.copyOf(c.node(l).runtime().replicas().get(p).confState.voters());
    awaitAgreeingHashes(c, p, voters);
    KeySpan span = c.node(l).runtime().replicas().get(p).sm.span();
    Map<String, String> mine = new java.util.TreeMap<>();
    acked.forEach((k, v) -> {
      if (span.owns(k.getBytes(StandardCharsets.UTF_8))) {
        mine.put(k, v);
      }
    });
    if (span.owns("victim".getBytes(StandardCharsets.UTF_8))) {
      mine.put("victim", "right");
    }
    assertTrue(mine.size() >= 20, "partition " + p + " holds acknowledged writes: " + mine.keySet());
    for (long id : voters) {
      for (Map.Entry<String, String> e : mine.entrySet()) {
        assertEquals(Optional.of(e.getValue()), c.node(id).get(e.getKey(), ReadConsistency.LINEARIZABLE),
            "acknowledged " + e.getKey() + ", read through node " + id);
      }
    }
  }

  /** The membership each running node's replica of {@code p} has (for a failing wait's message). */
  private static String describe(MemoryCluster c, long p) {
    StringBuilder sb = new StringBuilder();
    for (KvNode n : c.nodes()) {
      Replica r = n.runtime().replicas().get(p);
      sb.append(" node ").append(n.nodeId()).append(": ").append(r == null ? "none"
          : ConfStateView.of(r) + (r.divergedAt != 0 ? " fenced" : "") + (r.isLeader() ? " leader" : ""));
    }
    return sb.toString();
  }

  /** Waits until {@code p}'s leader says a diverged follower is not repaired because of {@code why} (a prefix). */
  static void awaitWaiting(MemoryCluster c, long p, String why) {
    MemoryCluster.await(WAIT, "the repair to wait: " + why, () -> {
      long l = leaderOf(c, p);
      return l != 0 && String.valueOf(c.node(l).runtime().repairs().waitingFor(p)).startsWith(why);
    });
  }

  /**
   * Leader balancing does not hand a leadership to a follower the leader found diverged: node 1
   * leads both partitions, more than its share with preferred leaders {1, 2}, and node 2 is fenced
   * in both. Balancing would hand one leadership to node 2, which as a fenced leader hands it on at
   * its next tick, and so again every round; instead node 1 keeps both.
   */
  @Test
  void leaderBalancingHandsNoLeadershipToAFollowerFoundDiverged() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 33,
        b -> b.preferredLeaders(Set.of(1L, 2L)).electionTicks(10).repairDivergedReplicas(false)).start()) {
      c.awaitLeaders(WAIT);
      List<Long> partitions = c.node(1).status().partitions().stream().map(s -> s.partitionId()).toList();
      assertEquals(2, partitions.size());
      for (long p : partitions) {
        c.node(1).transferLeader(p, 1); // pinned here: balancing leaves it until unpinned below
      }
      MemoryCluster.await(WAIT, "node 1 to lead both partitions",
          () -> partitions.stream().allMatch(p -> leaderOf(c, p) == 1));
      KvNode f = c.node(2);
      divergeOnTenKeys(c, f);
      c.node(1).runtime().checkReplicaHashes();
      MemoryCluster.await(WAIT, "node 2 to be fenced in both partitions, by node 1's account too",
          () -> partitions.stream().allMatch(p -> divergedAt(f, p) != 0
              && c.node(1).runtime().replicas().get(p).divergedFollowers.contains(2L)));

      double before = balancedAway(c.node(1));
      for (long p : partitions) {
        c.node(1).runtime().leaders().unpin(p);
      }
      long from = c.node(1).runtime().leaders().balancingRounds();
      MemoryCluster.await(Duration.ofSeconds(60), "3 balancing rounds of node 1",
          () -> c.node(1).runtime().leaders().balancingRounds() >= from + 3);
      assertEquals(before, balancedAway(c.node(1)),
          "balancing handed a leadership to node 2, which node 1 found diverged");
      assertTrue(partitions.stream().noneMatch(p -> leaderOf(c, p) == 2), "node 2 leads no partition");
    }
  }

  private static double balancedAway(KvNode n) {
    return n.meterRegistry().get("quorumkv.leader.transfers.balancing").counter().count();
  }

  /**
   * Has node 1 put {@code victim-0} to {@code victim-9} (spread over the partitions) while {@code f}
   * applies each with another value, and waits until it did.
   */
  private static void divergeOnTenKeys(MemoryCluster c, KvNode f) {
      BiFunction<Long, byte[], byte[]> wrong = (g, data) -> data;
      for (int i = 0; i < 10; i++) {
        BiFunction<Long, byte[], byte[]> before = wrong;
        BiFunction<Long, byte[], byte[]> one = rewritePutsOf("victim-" + i, "wrong");
        wrong = (g, data) -> one.apply(g, before.apply(g, data));
      }
      f.runtime().overrides().applyData = wrong;
      for (int i = 0; i < 10; i++) {
        c.node(1).put("victim-" + i, "right");
      }
      MemoryCluster.await(WAIT, "node 2 to apply the wrong values", () -> {
        for (int i = 0; i < 10; i++) {
          if (!f.get("victim-" + i, ReadConsistency.STALE).equals(Optional.of("wrong"))) {
            return false;
          }
        }
        return true;
      });
      f.runtime().overrides().applyData = null;
  }

  /** Has {@code writer} put {@code victim} while {@code f} applies it with another value, and waits until it did. */
  static void applyWrongValue(KvNode writer, KvNode f) {
    f.runtime().overrides().applyData = rewritePutsOf("victim", "wrong");
    writer.put("victim", "right");
    MemoryCluster.await(WAIT, "the diverging replica to apply the wrong value",
        () -> f.get("victim", ReadConsistency.STALE).equals(Optional.of("wrong")));
    f.runtime().overrides().applyData = null;
  }

  /** The counter {@code name} summed over the running nodes. */
  static double repairs(MemoryCluster c, String name) {
    return c.nodes().stream().mapToDouble(n -> n.meterRegistry().get(name).counter().count()).sum();
  }

  /**
   * Waits until node {@code bad} hosts a replica of {@code p} other than {@code old}, a voter (as
   * the partition's leader sees it), unfenced, and no repair is left under way.
   */
  static void awaitRebuilt(MemoryCluster c, long p, long bad, Replica old) {
    MemoryCluster.await(Duration.ofSeconds(60), "node " + bad + "'s replica of partition " + p + " to be rebuilt", () -> {
      Replica now = c.node(bad).runtime().replicas().get(p);
      long leader = leaderOf(c, p);
      if (now == null || now == old || now.divergedAt != 0 || leader == 0 || leader == bad) {
        return false;
      }
      Replica l = c.node(leader).runtime().replicas().get(p);
      return l != null && l.isLeader() && l.confState.voters().contains(bad) && !l.confState.isJoint()
          && l.rebuilding == null;
    });
  }

  /** Waits until a check by {@code p}'s leader finds every one of {@code members} with the same hash. */
  static void awaitAgreeingHashes(MemoryCluster c, long p, Set<Long> members) {
    MemoryCluster.await(Duration.ofSeconds(60), "every replica of partition " + p + " to hash alike", () -> {
      long leader = leading(c, p); // not node 1's view: node 1 may hold no replica of p
      if (leader == 0) {
        return false;
      }
      try (KvClient client = c.client(leader)) {
        Optional<PartitionHashes> h = client.replicaHashes().checked().stream()
            .filter(x -> x.partitionId() == p).findFirst();
        return h.isPresent() && h.get().hashes().keySet().equals(members) && h.get().agree();
      } catch (KvException e) {
        return false;
      }
    });
  }

  /** Puts {@code w0, w1, ...} through one node until closed (at most 100,000), recording the acknowledged ones. */
  static final class Writer implements AutoCloseable {
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Thread thread;

    Writer(KvNode via, Map<String, String> acked) {
      thread = new Thread(() -> {
        for (int i = 0; i < 100_000 && !stop.get(); i++) {
          try {
            via.put("w" + i, "v" + i);
            acked.put("w" + i, "v" + i);
          } catch (KvException e) {
            // not acknowledged (an election, a membership change): not checked
          }
        }
      }, "divergence-writer");
      thread.start();
    }

    @Override
    public void close() throws InterruptedException {
      stop.set(true);
      thread.join(30_000);
    }
  }
}
