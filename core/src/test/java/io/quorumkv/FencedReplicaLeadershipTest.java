package io.quorumkv;

import static io.quorumkv.FencedReplicaRestartTest.BAD;
import static io.quorumkv.FencedReplicaRestartTest.fenceBad;
import static io.quorumkv.FencedReplicaRestartTest.repairsOff;
import static io.quorumkv.ReplicaDivergenceTest.applyWrongValue;
import static io.quorumkv.ReplicaDivergenceTest.divergedAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.StateRole;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A fenced replica ({@link Replica#divergedAt}) does not lead its partition (its Raft core does not
 * campaign: {@link NodeRuntime#syncPromotable}) unless the partition could elect no one else, and a leader fenced while a client's write is
 * under way never answers it with the outcome computed on its diverged state
 * ({@link Replica.Proposal#answer}). Node {@link FencedReplicaRestartTest#BAD} diverges; node 1
 * leads. See also {@link FencedReplicaRestartTest}: a fenced replica restarted never leads either.
 */
class FencedReplicaLeadershipTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  /**
   * Watches node {@code n}'s replica of a partition at every tick of its loop, which runs after
   * every replica's tick: a campaign its election timeout started is seen at once. (One started
   * by TimeoutNow raises its term at once: {@link #assertTransferNotTaken} looks at that.)
   */
  static final class NeverLeads {
    private final AtomicReference<String> seen = new AtomicReference<>();
    private volatile boolean stopped;

    static NeverLeads watch(KvNode n, long p) {
      Replica r = n.runtime().replicas().get(p);
      NeverLeads w = new NeverLeads();
      assertTrue(n.runtime().post(() -> n.runtime().everyTick(() -> {
        if (r.role != StateRole.FOLLOWER) {
          w.seen.compareAndSet(null, r.role + " in term " + r.term);
        }
        return w.stopped;
      })));
      return w;
    }

    /** Watches {@code more}, then asserts the replica was a follower at every tick. */
    void assertNeverLed(Duration more) {
      MemoryCluster.sleep(more.toMillis());
      stopped = true;
      assertNull(seen.get(), "the fenced replica campaigned or led");
    }
  }

  /**
   * Has {@code leader}'s Raft core hand the leadership of {@code p} to {@code to} (past the
   * operator's refusal), and asserts that it stays put: {@code to} never campaigns (its term does
   * not move), {@code leader} leads throughout, and once the transfer is aborted (an election
   * timeout) it takes writes again.
   */
  static void assertTransferNotTaken(MemoryCluster mc, long p, long leader, long to) {
    Replica l = mc.node(leader).runtime().replicas().get(p);
    Replica t = mc.node(to).runtime().replicas().get(p);
    long term = t.term;
    assertEquals(l.term, term, "caught up with the leader's term");
    assertTrue(mc.node(leader).runtime().post(() -> l.raw.transferLeadership(to)));
    MemoryCluster.await(WAIT, "the transfer to start", () -> transferee(mc.node(leader), l) == to || t.term != term);
    for (int i = 0; i < 50; i++) { // five election timeouts
      assertTrue(l.isLeader(), "node " + leader + " lost the leadership");
      MemoryCluster.sleep(10);
    }
    assertEquals(term, t.term, "node " + to + " campaigned: TimeoutNow raised its term");
    assertFalse(t.isLeader());
    assertEquals(RaftConfig.NONE, transferee(mc.node(leader), l), "the transfer was aborted");
    mc.node(leader).put("after-transfer", "x");
  }

  /** {@code l}'s leadership transferee (read on its node's loop, which alone touches the core), or none. */
  private static long transferee(KvNode n, Replica l) {
    CompletableFuture<Long> f = new CompletableFuture<>();
    assertTrue(n.runtime().post(() -> f.complete(l.raw.status().leadTransferee())));
    try {
      return f.get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError("the loop did not answer", e);
    }
  }

  /**
   * Repairs off: node 3 is fenced as a follower. Node 1's power is cut: node 2 is elected, with
   * node 3's vote, and node 3 never campaigns. A transfer to it is refused by the operator's call,
   * and, made by node 2's core anyway, never taken up.
   */
  @Test
  void aFencedFollowerNeverLeadsWhenItsLeaderStopsNorWhenHandedTheLeadership() {
    try (MemoryCluster mc = repairsOff(81, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      NeverLeads watch = NeverLeads.watch(mc.node(BAD), p);
      mc.crash(1);
      MemoryCluster.await(WAIT, "node 2 to be elected", () -> mc.node(2).runtime().replicas().get(p).isLeader());
      MemoryCluster.await(WAIT, "node " + BAD + " to follow node 2",
          () -> mc.node(BAD).runtime().replicas().get(p).leader == 2);
      assertTransferNotTaken(mc, p, 2, BAD);
      watch.assertNeverLed(Duration.ofMillis(300));
      assertEquals(Optional.of("right"), mc.node(BAD).get("victim", ReadConsistency.STALE), "still fenced");
    }
  }

  /**
   * Repairs off: node 1 leads and applies {@code victim} with a wrong value (no check has run yet).
   * A client's compareAndSet of {@code victim} from "right" to "new" goes through node 1, which is
   * fenced just as it applies that entry (a hook stands in for a check's verdict arriving then):
   * node 1 computes false (it holds "wrong"), every other replica true. The client is told true,
   * by the clean replica that leads next, from the session entry that replica's apply recorded;
   * never node 1's false.
   */
  @Test
  void aCasAppliedByALeaderFencedMeanwhileIsAnsweredWithTheQuorumsOutcome() {
    try (MemoryCluster mc = repairsOff(82, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      mc.node(1).transferLeader(p, 1);
      MemoryCluster.await(WAIT, "node 1 to lead", () -> mc.node(1).runtime().replicas().get(p).isLeader());
      KvNode l = mc.node(1);
      applyWrongValue(l, l);
      Replica r = l.runtime().replicas().get(p);
      byte[] victim = "victim".getBytes(StandardCharsets.UTF_8);
      AtomicBoolean fenced = new AtomicBoolean();
      l.runtime().overrides().applyData = (g, data) -> {
        if (g == p && isCasOf(data, victim) && fenced.compareAndSet(false, true)) {
          r.divergedAt = r.appliedIndex + 1; // as ReplicaHashChecks#fence does
          l.runtime().syncPromotable(r);
        }
        return data;
      };
      // A client of node 1 (which forwards), following leader hints: node 1's leadership moves.
      assertTrue(mc.client(1).compareAndSet("victim", "right", "new"), "the clean replicas' outcome");
      assertTrue(fenced.get(), "node 1 was fenced as it applied the compareAndSet");
      assertNotEquals(0, divergedAt(l, p));
      long now = ReplicaDivergenceTest.leading(mc, p);
      assertTrue(now != 0 && now != 1, "node 1 handed its leadership away; leader: " + now);
      assertEquals(Optional.of("new"), mc.node(now).get("victim", ReadConsistency.LINEARIZABLE));
    }
  }

  /**
   * Repairs off: node 1 leads, and holds both followers diverged, so no voter is fit to take its
   * leadership. Fenced, it keeps leading (until a voter is fit), and refuses a client write as
   * certainly not applied ({@code NO_LEADER}) instead of proposing it: it could only answer it
   * from its own state.
   */
  @Test
  void aFencedLeaderThatCannotHandItsLeadershipAwayProposesNoClientWrite() throws Exception {
    try (MemoryCluster mc = repairsOff(83, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      mc.node(1).transferLeader(p, 1);
      MemoryCluster.await(WAIT, "node 1 to lead", () -> mc.node(1).runtime().replicas().get(p).isLeader());
      Replica r = mc.node(1).runtime().replicas().get(p);
      r.divergedFollowers.addAll(java.util.List.of(2L, 3L));
      r.divergedAt = r.appliedIndex; // as ReplicaHashChecks#fence does
      mc.node(1).runtime().syncPromotable(r);
      MemoryCluster.sleep(100); // ten ticks: the leadership stays, no voter being fit
      assertTrue(r.isLeader());
      long last = r.log.lastIndex();
      PartitionStateMachine.Outcome o = mc.node(1).runtime().propose(r, new Command.Write(77, 1, 0,
          new WriteOp.Put("refused".getBytes(StandardCharsets.UTF_8), new byte[] {1}))).get(5, TimeUnit.SECONDS);
      assertTrue(o instanceof PartitionStateMachine.Outcome.Rejected rj && rj.code() == KvResponse.Code.NO_LEADER,
          "refused, not proposed: " + o);
      MemoryCluster.sleep(50);
      assertEquals(last, r.log.lastIndex(), "nothing was appended");
    }
  }

  /**
   * Repairs off: node 3, fenced, is the only live voter holding the committed log. Node 2 is
   * crashed while node 1 leads and commits {@code k} with node 3; then node 1 crashes and node 2
   * restarts, behind. Node 3 refuses node 2 its vote (the log rule), so the partition could elect
   * no one if node 3 never campaigned. Having known no leader for
   * {@link NodeRuntime#FENCED_CAMPAIGN_AFTER_TIMEOUTS} election timeouts, it campaigns and leads,
   * brings node 2 up to date and hands it the leadership; writes go on, {@code k} kept.
   */
  @Test
  void aFencedReplicaLeadsWhenItAloneHoldsTheCommittedLogThenHandsOff() {
    try (MemoryCluster mc = repairsOff(84, HashPartitioner.of(1), b -> {})) {
      long p = ReplicaDivergenceTest.partition(mc);
      fenceBad(mc::node, p);
      mc.crash(2);
      mc.node(1).put("k", "v"); // committed by nodes 1 and 3
      long last = mc.node(1).runtime().replicas().get(p).log.lastIndex();
      MemoryCluster.await(WAIT, "node " + BAD + " to hold index " + last,
          () -> mc.node(BAD).runtime().replicas().get(p).log.lastIndex() >= last);
      mc.crash(1);
      Replica fenced = mc.node(BAD).runtime().replicas().get(p);
      AtomicBoolean led = new AtomicBoolean();
      assertTrue(mc.node(BAD).runtime().post(() -> mc.node(BAD).runtime().everyTick(() -> {
        led.compareAndSet(false, fenced.isLeader());
        return led.get();
      })));
      KvNode two = mc.restart(2);
      MemoryCluster.await(WAIT, "node 2 to lead, handed the leadership by node " + BAD,
          () -> two.runtime().replicas().get(p).isLeader());
      assertTrue(led.get(), "node " + BAD + ", fenced, led meanwhile");
      assertNotEquals(0, divergedAt(mc.node(BAD), p), "still fenced");
      two.put("after", "x");
      assertEquals(Optional.of("v"), two.get("k", ReadConsistency.LINEARIZABLE));
    }
  }

  /** Whether the log entry {@code data} holds a compareAndSet of {@code key}. */
  private static boolean isCasOf(byte[] data, byte[] key) {
    if (data.length == 0) {
      return false;
    }
    Command c = Codec.decodeCommand(data).command();
    java.util.List<Command.Write> writes = c instanceof Command.Writes ws ? ws.writes()
        : c instanceof Command.Write w ? java.util.List.of(w) : java.util.List.of();
    return writes.stream().anyMatch(w -> w.op() instanceof WriteOp.Cas cas && Arrays.equals(cas.key(), key));
  }
}
