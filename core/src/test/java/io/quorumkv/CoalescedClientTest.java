package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.testing.TestCluster;
import java.time.Duration;
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
}
