package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfChangeType;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * An administrative call's answer says "certainly not done" only when nothing of it can have taken
 * effect. Each case drives one node's answer to an admin request ({@link NodeRuntime#execute}, what
 * a {@link KvClient} receives) through the node's forwarded requests, scripted per request
 * ({@link ScriptedRequests}), and checks the effect happened while the answer says unknown.
 * Node 3 is the node asked; it leads no partition.
 */
class AdminCallOutcomeTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long ASKED = 3;
  private static final String NEW_ADDRESS = "127.0.0.1:1";

  /** A transfer node 3 forwarded to the target node, which made it, and whose answer was lost. */
  @Test
  void aForwardedTransferWhoseAnswerWasLostIsUnknown() throws Exception {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(RangePartitioner.single(), t,
        req -> req instanceof KvRequest.Admin ? ScriptedRequests.Fate.LOST : ScriptedRequests.Fate.PASS)) {
      KvResponse.Failure f = failure(c, new AdminOp.TransferLeader(1, 2), Duration.ofSeconds(5));
      assertEquals(1, t.get().lostAfterSuccess.get(), "staging: node 2 did not answer the transfer");
      MemoryCluster.await(WAIT, "node 2 to lead partition 1", () -> MemoryCluster.leaderOf(c, 1) == 2);
      assertTrue(f.outcomeUnknown(), "node 2 took the leadership, yet the answer says it did not: " + f);
    }
  }

  /**
   * A transfer to node 3 that certainly failed (node 3 could not reach the leader) leaves no pin on
   * node 3: the call changed nothing, as its answer says.
   */
  @Test
  void aTransferThatCertainlyFailedLeavesNoPin() throws Exception {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(RangePartitioner.single(), t, req -> req instanceof KvRequest.Group g
        && g.command() instanceof KvRequest.GroupCommand.TransferLeader
        ? ScriptedRequests.Fate.UNREACHABLE : ScriptedRequests.Fate.PASS)) {
      KvResponse.Failure f = failure(c, new AdminOp.TransferLeader(1, ASKED), Duration.ofSeconds(1));
      assertTrue(t.get().interfered.get() > 0, "staging: the transfer reached the leader");
      assertFalse(f.outcomeUnknown(), "staging: the transfer never reached the leader, yet: " + f);
      assertEquals(1, MemoryCluster.leaderOf(c, 1), "staging: the leadership moved");
      assertFalse(c.node(ASKED).runtime().leaders().isPinned(1), "a transfer that changed nothing left a pin behind");
    }
  }

  /** A fault injection node 3 forwarded to node 2, which injected it, and whose answer was lost. */
  @Test
  void aForwardedFaultInjectionWhoseAnswerWasLostIsUnknown() throws Exception {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(RangePartitioner.single(), t,
        req -> req instanceof KvRequest.Admin ? ScriptedRequests.Fate.LOST : ScriptedRequests.Fate.PASS)) {
      KvResponse.Failure f = failure(c, new AdminOp.InjectFault(2, new Fault.Heal()), Duration.ofSeconds(5));
      assertEquals(1, t.get().lostAfterSuccess.get(), "staging: node 2 did not inject the fault");
      assertTrue(f.outcomeUnknown(), "node 2 injected the fault, yet the answer says it did not: " + f);
    }
  }

  /**
   * A membership change whose first forwarded request reached the leader (which made the change)
   * and was lost, and whose retries never reached it: the retries' certain failures must not make
   * the call's answer certain.
   */
  @Test
  void aMembershipChangeRetriedAfterALostAttemptStaysUnknown() throws Exception {
    AtomicInteger changes = new AtomicInteger();
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(RangePartitioner.single(), t, req -> !isChange(req, null)
        ? ScriptedRequests.Fate.PASS
        : changes.getAndIncrement() == 0 ? ScriptedRequests.Fate.LOST : ScriptedRequests.Fate.UNREACHABLE)) {
      KvResponse.Failure f = failure(c, new AdminOp.AddNode(4, NEW_ADDRESS, true), Duration.ofSeconds(2));
      assertTrue(changes.get() > 1, "staging: the change was not retried");
      MemoryCluster.await(WAIT, "node 4 to be a learner of partition 1", () -> isLearner(c, 1, 4));
      assertTrue(f.outcomeUnknown(), "node 4 was added, yet the answer says it was not: " + f);
    }
  }

  /** A change made in partition 1 and then failed in partition 2 was made in part. */
  @Test
  void aMembershipChangeThatFailsInALaterPartitionIsUnknown() throws Exception {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(RangePartitioner.of("m"), t, req -> req instanceof KvRequest.Group g
        && g.partitionId() == 2 && isChange(req, null) ? ScriptedRequests.Fate.UNREACHABLE : ScriptedRequests.Fate.PASS)) {
      KvResponse.Failure f = failure(c, new AdminOp.AddNode(4, NEW_ADDRESS, true), Duration.ofSeconds(2));
      assertTrue(isLearner(c, 1, 4), "staging: node 4 is not a learner of partition 1");
      assertFalse(isLearner(c, 2, 4), "staging: node 4 is a learner of partition 2");
      assertTrue(f.outcomeUnknown(), "node 4 was added to partition 1, yet the answer says it was not: " + f);
    }
  }

  /** An addition whose learner step was made everywhere and whose promotion failed was made in part. */
  @Test
  void anAdditionWhosePromotionFailsIsUnknown() throws Exception {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(RangePartitioner.single(), t, req -> isChange(req, ConfChangeType.ADD_VOTER)
        ? ScriptedRequests.Fate.UNREACHABLE : ScriptedRequests.Fate.PASS)) {
      KvResponse.Failure f = failure(c, new AdminOp.AddNode(4, NEW_ADDRESS, false), Duration.ofSeconds(2));
      assertTrue(isLearner(c, 1, 4), "staging: node 4 is not a learner of partition 1");
      assertTrue(f.outcomeUnknown(), "node 4 was added as a learner, yet the answer says nothing was done: " + f);
    }
  }

  /**
   * A merge whose freeze applied, and whose leader lost the leadership while waiting for a member
   * (cut off) to apply the freeze: the merge goes on under the next leader, so the answer is not
   * "certainly not merged". Partitions {@code [, k3)} (1) and {@code [k3, +inf)} (2); node 3 is cut off.
   */
  @Test
  void aMergeWhoseLeaderChangesAfterTheFreezeIsUnknown() throws Exception {
    try (io.quorumkv.testing.TestCluster c = io.quorumkv.testing.TestCluster.builder().nodes(3)
        .partitioner(RangePartitioner.of("k3")).seed(43).requestTimeout(Duration.ofSeconds(5)).build().start()) {
      c.awaitLeaders(WAIT);
      c.node(1).put("a", "1");
      c.node(1).put("m", "2");
      c.isolate(3);
      io.quorumkv.testing.TestCluster.await(WAIT, "node 1 or 2 to lead partition 2", () -> leaderAmong12(c, 2) != 0);
      long leader = leaderAmong12(c, 2);
      long other = 3 - leader;
      NodeRuntime rt = c.node(leader).runtime();
      var answer = rt.serveClient(Codec.encodeRequest(new KvRequest.Group(2, new KvRequest.GroupCommand.MergeInto(1))));
      io.quorumkv.testing.TestCluster.await(WAIT, "partition 2 to be frozen on node " + leader,
          () -> rt.replicas().get(2L).sm.frozenInto() == 1);
      c.node(other).transferLeader(2, other);
      KvResponse r = Codec.decodeResponse(answer.get(30, TimeUnit.SECONDS));
      KvResponse.Failure f = assertInstanceOf(KvResponse.Failure.class, r, "the merge answered " + r);
      c.heal();
      MergeLaggingReplicaTest.awaitMergedEverywhere(c);
      assertTrue(f.outcomeUnknown(), "the merge went on, yet its answer said it had not happened: " + f);
    }
  }

  private static long leaderAmong12(io.quorumkv.testing.TestCluster c, long partition) {
    for (long id = 1; id <= 2; id++) {
      Replica r = c.node(id).runtime().replicas().get(partition);
      if (r != null && r.isLeader()) {
        return id;
      }
    }
    return 0;
  }

  /** A three-node cluster whose node 3 sends its requests through {@code script}, with node 1 leading. */
  private static MemoryCluster cluster(Partitioner partitioner, AtomicReference<ScriptedRequests> transport,
      Function<KvRequest, ScriptedRequests.Fate> script) {
    MemoryCluster c = new MemoryCluster(3, partitioner, 71,
        b -> ScriptedRequests.install(b.balanceLeaders(false), ASKED, transport, script)).start();
    c.awaitLeaders(WAIT);
    for (PartitionStatus p : c.node(1).status().partitions()) {
      if (p.leader() != 1) {
        c.node(1).transferLeader(p.partitionId(), 1); // node 1 itself: no forwarded request
      }
    }
    assertNotNull(transport.get(), "staging: node 3's transport is not scripted");
    return c;
  }

  /** Node 3's answer to {@code op}, which must be a failure. */
  private static KvResponse.Failure failure(MemoryCluster c, AdminOp op, Duration deadline) throws Exception {
    KvResponse r = c.node(ASKED).runtime().execute(new KvRequest.Admin(op), System.nanoTime() + deadline.toNanos())
        .get(30, TimeUnit.SECONDS);
    return assertInstanceOf(KvResponse.Failure.class, r, "the call answered " + r);
  }

  /** Whether {@code req} is a membership change (of {@code type}, or of any when null). */
  private static boolean isChange(KvRequest req, ConfChangeType type) {
    return req instanceof KvRequest.Group g && g.command() instanceof KvRequest.GroupCommand.ChangeMember m
        && (type == null || m.type() == type);
  }

  private static boolean isLearner(MemoryCluster c, long partition, long node) {
    return MemoryCluster.partition(c.node(1), partition).learners().contains(node);
  }
}
