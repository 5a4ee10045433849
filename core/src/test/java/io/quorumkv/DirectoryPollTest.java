package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import io.quorumkv.transport.RequestHandler;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The directory polls between nodes ({@link PlacementDriver#answerDirectory}): a poll is answered
 * {@link KvResponse.DirectoryUnchanged} only when the asker holds, by its own account, the very
 * report the answering node would send now; any change, a lost answer, another asker or a client
 * gets the full report, and a peer's changed report replaces the one a node held.
 */
class DirectoryPollTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  /** Askers that are no member: the members' own polls (every election timeout) do not interleave. */
  private static final long ASKER = 8;
  private static final long OTHER_ASKER = 9;

  private static TestCluster cluster(int partitions) {
    return TestCluster.builder().nodes(3).partitioner(HashPartitioner.of(partitions)).seed(25)
        .configure(b -> b.balanceLeaders(false)).build().start();
  }

  private static KvResponse answer(PlacementDriver p, long from, long round, long heldRound) {
    return Codec.decodeResponse(p.answerDirectory(from, new KvRequest.Directory(round, heldRound)));
  }

  @Test
  void aPollIsAnsweredUnchangedOnlyWhenItsAskerHoldsThatVeryReport() {
    try (TestCluster c = cluster(2)) {
      c.awaitLeaders(WAIT);
      PlacementDriver p = c.node(1).runtime().placement();
      // Elections done and their entries applied everywhere: the report stays as it is without writes.
      byte[][] last = {new byte[0]};
      TestCluster.await(WAIT, "node 1's report to stay the same for a second", () -> {
        byte[] now = p.answerDirectory(RequestHandler.EXTERNAL_CLIENT, new KvRequest.Directory());
        boolean same = Arrays.equals(now, last[0]);
        last[0] = now;
        if (!same) {
          sleep(1000);
        }
        return same;
      });

      KvResponse first = answer(p, ASKER, 1, 0);
      assertInstanceOf(KvResponse.DirectoryReport.class, first, "nothing held: the full report");
      assertInstanceOf(KvResponse.DirectoryUnchanged.class, answer(p, ASKER, 2, 1), "holds round 1's report");
      assertInstanceOf(KvResponse.DirectoryUnchanged.class, answer(p, ASKER, 3, 1), "still holds it");
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, ASKER, 4, 0),
          "says it holds nothing (restarted): the full report");
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, ASKER, 5, 1),
          "round 4's answer was sent since: the asker never got it, so round 1's is not what it holds");
      assertInstanceOf(KvResponse.DirectoryUnchanged.class, answer(p, ASKER, 6, 5), "holds round 5's report");
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, OTHER_ASKER, 7, 5),
          "another asker's rounds are its own");
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, RequestHandler.EXTERNAL_CLIENT, 8, 7),
          "a client keeps no report");
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, ASKER, 0, 5), "no round: the full report");
      assertInstanceOf(KvResponse.DirectoryUnchanged.class, answer(p, ASKER, 9, 5),
          "an answer to a poll without a round is not one the asker holds by number");

      c.client().put("k", "v"); // a partition's applied index moves on every node
      TestCluster.await(WAIT, "node 1 to apply the write", () -> !Arrays.equals(last[0],
          p.answerDirectory(RequestHandler.EXTERNAL_CLIENT, new KvRequest.Directory())));
      KvResponse changed = answer(p, ASKER, 10, 5);
      assertInstanceOf(KvResponse.DirectoryReport.class, changed, "the report changed: the full report");
      assertTrue(!changed.equals(first));
      assertArrayEquals(Codec.encodeResponse(changed),
          p.answerDirectory(RequestHandler.EXTERNAL_CLIENT, new KvRequest.Directory()));
      assertInstanceOf(KvResponse.DirectoryUnchanged.class, answer(p, ASKER, 11, 10), "holds round 10's report");
    }
  }

  @Test
  void aPeersChangedReportReplacesTheOneANodeHolds() {
    try (TestCluster c = cluster(1)) {
      c.awaitLeaders(WAIT);
      long leader = c.leaderOf(1).orElseThrow();
      // Quiet polls are answered unchanged, on every node.
      for (long id = 1; id <= 3; id++) {
        KvNode n = c.node(id);
        TestCluster.await(WAIT, "node " + id + " to answer a poll unchanged", () -> unchanged(n) > 0);
      }
      long to = leader % 3 + 1;
      c.node(leader).transferLeader(1, to);
      // Each node's view of the leader comes from its peers' reports (its own replica aside).
      for (long id = 1; id <= 3; id++) {
        PlacementDriver p = c.node(id).runtime().placement();
        TestCluster.await(WAIT, "node " + to + " to lead partition 1 in the reports node " + id + " holds",
            () -> p.leaderOfReported(1) == to);
      }
      // And it stays so while the quiet polls that follow are answered unchanged: an unchanged
      // answer stands for the report held, it does not drop it.
      for (long id = 1; id <= 3; id++) {
        KvNode n = c.node(id);
        double before = unchanged(n);
        TestCluster.await(WAIT, "node " + id + " to answer three more polls unchanged", () -> unchanged(n) >= before + 3);
      }
      for (long id = 1; id <= 3; id++) {
        assertEquals(to, c.node(id).runtime().placement().leaderOfReported(1), "the leader in node " + id + "'s reports");
      }
      assertEquals(to, c.leaderOf(1).orElseThrow());
    }
  }

  @Test
  void anAskerThatStoppedPollingIsForgottenAndGetsTheFullReportIfItComesBack() {
    try (TestCluster c = cluster(1)) {
      c.awaitLeaders(WAIT);
      PlacementDriver p = c.node(1).runtime().placement();
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, ASKER, 1, 0));
      assertTrue(p.remembersReportSentTo(ASKER));
      // The members go on polling each other; the asker (say, a node removed since) does not.
      TestCluster.await(Duration.ofSeconds(60), "node 1 to forget the report it sent node " + ASKER,
          () -> !p.remembersReportSentTo(ASKER));
      assertTrue(p.remembersReportSentTo(2) && p.remembersReportSentTo(3), "the members that poll are kept");
      assertInstanceOf(KvResponse.DirectoryReport.class, answer(p, ASKER, 2, 1),
          "the report it holds is no longer known here: the full report");
    }
  }

  @Test
  void aReportFindsEachReplicaWhateverOrderItWasBuiltIn() {
    java.util.List<KvResponse.ReplicaReport> replicas = new java.util.ArrayList<>();
    for (long p : new long[] {7, 3, 12, 1, 9}) {
      replicas.add(new KvResponse.ReplicaReport(p, new byte[0], 2, p, p * 10, 0, false,
          java.util.Set.of(1L, 2L), java.util.Set.of(), java.util.Set.of()));
    }
    KvResponse.DirectoryReport d = new KvResponse.DirectoryReport(2, replicas, java.util.Map.of());
    for (long p : new long[] {1, 3, 7, 9, 12}) {
      assertEquals(p * 10, d.replica(p).orElseThrow().appliedIndex());
    }
    for (long p : new long[] {0, 2, 8, 13}) {
      assertTrue(d.replica(p).isEmpty(), "partition " + p);
    }
    assertTrue(new KvResponse.DirectoryReport(2, java.util.List.of(), java.util.Map.of()).replica(1).isEmpty());
  }

  private static double unchanged(KvNode n) {
    return n.meterRegistry().counter("quorumkv.directory.answers", "node", Long.toString(n.nodeId()),
        "kind", "unchanged").count();
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
