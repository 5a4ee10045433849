package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Many threads through one {@link KvClient} of an in-memory cluster: the client coalesces their
 * gets and writes into multis, the nodes serve them item by item, and the history stays
 * linearizable, also when a leader crashes in the middle.
 */
class CoalescedClientTest {

  @Test
  void manyThreadsThroughOneClientUseMultisAndStayLinearizableThroughALeaderCrash() throws Exception {
    try (TestCluster cluster = TestCluster.builder().nodes(3).storage(StorageEngineType.MEMORY)
        .partitioner(HashPartitioner.of(3)).seed(11).requestTimeout(Duration.ofSeconds(3)).build().start()) {
      cluster.awaitLeaders(Duration.ofSeconds(20));
      KvClient client = cluster.client();
      CoalescedWorkload.Outcome o = CoalescedWorkload.run(client, "coalesced-memory", 24, 400, Duration.ofSeconds(4), 7,
          recording -> {
            long leader = cluster.leaderOf(cluster.partitions().iterator().next()).orElse(1L);
            recording.nemesis("crash", Long.toString(leader));
            cluster.crash(leader);
          });
      CoalescedWorkload.checkLinearizable(o);
      double[] served = CoalescedWorkload.multisServed(cluster.nodes());
      assertTrue(client.coalescer().multis() > 0 && served[0] > 0,
          "no multi was sent: client " + client.coalescer().multis() + ", nodes " + served[0]);
      assertTrue(served[1] >= 2 * served[0], "items per multi: " + served[1] / served[0]);
      System.out.printf("multis %.0f, items per multi %.1f, operations %d%n", served[0], served[1] / served[0], o.completed());
      assertTrue(o.completed() > 200, "only " + o.completed() + " operations completed");
    }
  }

  @Test
  void aNodeAnswersEachItemOfAMultiAndKeepsTheAnswerWithinItsByteBudget() throws Exception {
    try (TestCluster cluster = TestCluster.builder().nodes(3).storage(StorageEngineType.MEMORY)
        .partitioner(HashPartitioner.of(3)).seed(5).build().start()) {
      cluster.awaitLeaders(Duration.ofSeconds(20));
      KvClient client = cluster.client();
      byte[] mib = new byte[1 << 20]; // the default largest value
      int n = RequestRouter.MULTI_ANSWER_READ_BYTES / mib.length + 1;
      for (int i = 0; i < n; i++) {
        client.put(("big" + i).getBytes(StandardCharsets.UTF_8), mib);
      }
      KvNode node = cluster.node(1);
      // Every key, not the node's applied index against its commit index: a follower learns a
      // commit index with the next entries or heartbeat (benchmarks.md, finding 27), so its own
      // commit index may lag the leader's, and a partition's last put is not the others'.
      TestCluster.await(Duration.ofSeconds(10), "every put applied on node 1",
          () -> IntStream.range(0, n).allMatch(i -> node.get("big" + i, ReadConsistency.STALE).isPresent()));
      List<KvRequest.Multi.Item> items = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        items.add(new KvRequest.Multi.Item(new KvRequest.Get(("big" + i).getBytes(StandardCharsets.UTF_8),
            ReadConsistency.STALE), 5000));
      }
      items.add(new KvRequest.Multi.Item(new KvRequest.Get("absent".getBytes(StandardCharsets.UTF_8),
          ReadConsistency.STALE), 5000));
      KvResponse.Multi answer = (KvResponse.Multi) node.runtime().execute(new KvRequest.Multi(items), System.nanoTime() + TimeUnit.SECONDS.toNanos(10))
          .get(10, TimeUnit.SECONDS);
      assertEquals(n + 1, answer.answers().size());
      for (int i = 0; i < n - 1; i++) {
        KvResponse a = answer.answers().get(i);
        assertTrue(a instanceof KvResponse.Read r && r.result().value().orElseThrow().length == mib.length,
            "answer " + i + ": " + a);
      }
      KvResponse.Failure over = (KvResponse.Failure) answer.answers().get(n - 1);
      assertTrue(over.retryable() && over.message().contains("exceed"), over.toString());
      assertEquals(Optional.empty(), ((KvResponse.Read) answer.answers().get(n)).result().value(),
          "an empty read still fits");
    }
  }

  @Test
  void aLargeMultiOfGetsServedByTwoThreadsAnswersEachItemWithItsOwnKey() throws Exception {
    try (TestCluster cluster = TestCluster.builder().nodes(3).storage(StorageEngineType.MEMORY)
        .partitioner(HashPartitioner.of(3)).seed(9).build().start()) {
      cluster.awaitLeaders(Duration.ofSeconds(20));
      KvClient client = cluster.client();
      int n = RequestRouter.READS_SPLIT_FROM * 2 + 1;
      for (int i = 0; i < n; i += 2) { // odd keys stay absent
        client.put(("k" + i).getBytes(StandardCharsets.UTF_8), ("v" + i).getBytes(StandardCharsets.UTF_8));
      }
      ReadConsistency[] levels = {ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE};
      List<KvRequest.Multi.Item> items = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        items.add(new KvRequest.Multi.Item(new KvRequest.Get(("k" + i).getBytes(StandardCharsets.UTF_8),
            levels[i % levels.length]), 5000));
      }
      for (long id = 1; id <= 3; id++) { // leader of some partitions, follower of others
        KvResponse.Multi answer = (KvResponse.Multi) cluster.node(id).runtime()
            .execute(new KvRequest.Multi(items), System.nanoTime() + TimeUnit.SECONDS.toNanos(10)).get(10, TimeUnit.SECONDS);
        assertEquals(n, answer.answers().size());
        for (int i = 0; i < n; i++) {
          KvResponse a = answer.answers().get(i);
          Optional<String> expected = i % 2 == 0 ? Optional.of("v" + i) : Optional.empty();
          assertTrue(a instanceof KvResponse.Read r
              && r.result().value().map(v -> new String(v, StandardCharsets.UTF_8)).equals(expected),
              "node " + id + ", answer " + i + ": " + a);
        }
      }
    }
  }
}
