package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's session of the examples' bug reports, over real Netty and RocksDB, with the
 * production defaults (leader balancing on) and a remote client as the {@code qkv} CLI uses.
 */
class NettyAdminScenariosTest {

  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir
  Path dir;

  private final Map<Long, String> addresses = new TreeMap<>();
  private final Map<Long, KvNode> nodes = new TreeMap<>();

  /** A loopback address on a free port that no node here has been given (a port freed once may come back). */
  private String freshAddress() throws java.io.IOException {
    for (int i = 0; i < 100; i++) {
      String a = "127.0.0.1:" + NettyRocksClusterTest.freePort();
      if (!addresses.containsValue(a)) {
        return a;
      }
    }
    throw new IllegalStateException("no fresh port in 100 tries");
  }

  private void start(long id) {
    start(id, false);
  }

  private void start(long id, boolean join) {
    KvNode.Builder b = KvNode.builder()
        .nodeId(id)
        .join(join)
        .advertisedAddress(addresses.get(id))
        .dataDir(dir.resolve("node-" + id))
        .clusterId("netty-admin")
        .partitioner(HashPartitioner.of(3))
        .tickInterval(Duration.ofMillis(20))
        .electionTicks(10)
        .requestTimeout(Duration.ofSeconds(5))
        .syncStallTimeout(Duration.ofSeconds(2));
    addresses.forEach((peer, a) -> {
      if (peer != id) {
        b.peer(peer, a);
      }
    });
    nodes.put(id, b.build().start());
  }

  @Test
  void transferStaysThenRemovalIsSeenEverywhereThenReadsFailAsUnavailable() throws Exception {
    for (long id = 1; id <= 3; id++) {
      addresses.put(id, freshAddress());
    }
    try {
      for (long id = 1; id <= 3; id++) {
        start(id);
      }
      MemoryCluster.await(WAIT, "every node ready", () -> nodes.values().stream().allMatch(KvNode::isReady));
      try (KvClient cli = KvClient.builder().addresses(new ArrayList<>(addresses.values()))
          .clusterId("netty-admin").requestTimeout(Duration.ofSeconds(5)).build()) {
        for (long p = 1; p <= 3; p++) {
          cli.transferLeader(p, 3);
        }
        io.micrometer.core.instrument.Counter balancedAway =
            nodes.get(3L).meterRegistry().get("quorumkv.leader.transfers.balancing").counter();
        double balancedBefore = balancedAway.count();
        Map<Long, Long> pinnedTerms = new TreeMap<>();
        nodes.get(3L).status().partitions().forEach(p -> pinnedTerms.put(p.partitionId(), p.term()));
        // Balancing runs every 5 election timeouts (1 s here): it must leave the pinned leaders
        // alone. An election may still move one on a loaded machine (200 ms without a heartbeat):
        // the pin does not stop elections, so only a leadership lost in the same term counts.
        Thread.sleep(2_500);
        ClusterStatus after = nodes.get(3L).status();
        assertEquals(balancedBefore, balancedAway.count(), "balancing handed a pinned leadership away: " + after);
        for (PartitionStatus p : after.partitions()) {
          assertTrue(p.leader() == 3 || p.term() > pinnedTerms.get(p.partitionId()),
              "partition " + p.partitionId() + " left node 3 without an election: " + after);
        }
        assertThrows(IllegalArgumentException.class, () -> cli.transferLeader(42, 1));
        assertThrows(IllegalArgumentException.class, () -> cli.removeNode(42));

        cli.removeNode(3);
        assertEquals(0, nodes.get(3L).status().leaderCount(), "the removed node still claims to lead");
        for (long id = 1; id <= 2; id++) {
          KvNode n = nodes.get(id);
          MemoryCluster.await(WAIT, "node " + id + " to see node 3 removed", () -> {
            ClusterStatus s = n.status();
            return s.members().keySet().equals(Set.of(1L, 2L)) && s.partitions().stream()
                .allMatch(p -> p.voters().equals(Set.of(1L, 2L)) && p.leader() != 0 && p.leader() != 3);
          });
        }
        ClusterStatus s3 = nodes.get(3L).status();
        assertEquals(Set.of(1L, 2L), s3.members().keySet(), s3.toString());
        assertFalse(nodes.get(3L).isReady());
        cli.put("after", "removal");
        Thread.sleep(1_000); // a few election timeouts: node 3 never comes back as a leader
        assertEquals(0, nodes.get(3L).status().leaderCount(), nodes.get(3L).status().toString());
      }
      List<KvNode> all = new ArrayList<>(nodes.values());
      nodes.clear();
      all.forEach(KvNode::close);
      try (KvClient cli = KvClient.builder().addresses(new ArrayList<>(addresses.values()))
          .clusterId("netty-admin").requestTimeout(Duration.ofMillis(600)).build()) {
        ClusterUnavailableException e = assertThrows(ClusterUnavailableException.class, () -> cli.get("after"));
        assertFalse(e.getMessage().contains("outcome unknown"), e.getMessage());
        assertTrue(e.getMessage().contains(addresses.get(1L)), e.getMessage());
      }
    } finally {
      nodes.values().forEach(KvNode::close);
    }
  }
  /**
   * The Jepsen suite's {@code membership-3} run (seed 1795900000205): the membership nemesis removed
   * every node the workloads' clients were configured with, and when the clients' last route table
   * had every leader on a configured node, they had no other address to try and failed every call
   * to the end of the run. Here nodes 4, 5 and 6 join, nodes 1 and 2 leave, every leader is moved
   * to node 3, and the client, configured with nodes 1, 2 and 3, refreshes its table then (leaders:
   * node 3 only). Node 3 leaves too: the client goes on through the members its table named.
   * Node 4 is first added as a learner and promoted in one partition: no table names it until it
   * is a voter of every partition.
   */
  @Test
  void aClientWhoseConfiguredNodesWereAllRemovedGoesOnThroughTheMembersItLearned() throws Exception {
    for (long id = 1; id <= 3; id++) {
      addresses.put(id, freshAddress());
    }
    List<String> configured = List.of(addresses.get(1L), addresses.get(2L), addresses.get(3L));
    try {
      for (long id = 1; id <= 3; id++) {
        start(id);
      }
      MemoryCluster.await(WAIT, "every node ready", () -> nodes.values().stream().allMatch(KvNode::isReady));
      try (KvClient cli = KvClient.builder().addresses(configured)
          .clusterId("netty-admin").requestTimeout(Duration.ofSeconds(5)).build()) {
        cli.put("before", "changes");
        // Node 4 joins as a learner, and is promoted in partition 1 only: no table names it until
        // it is a voter everywhere (its replicas, empty until caught up, would answer STALE reads
        // with nothing).
        addresses.put(4L, freshAddress());
        start(4, true);
        nodes.get(3L).addLearner(4, addresses.get(4L));
        nodes.get(3L).runtime().commands().groupCallRetrying(1, new KvRequest.GroupCommand.ChangeMember(
            io.quorumkv.raft.ConfChangeType.ADD_VOTER, 4, addresses.get(4L)), System.nanoTime() + WAIT.toNanos())
            .get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
        MemoryCluster.await(WAIT, "nodes 1-3 to see node 4 as a voter of partition 1 and a learner of 2 and 3",
            () -> LongStream.rangeClosed(1, 3).allMatch(id -> nodes.get(id).status().partitions().stream()
                .allMatch(p -> (p.partitionId() == 1 ? p.voters() : p.learners()).contains(4L))));
        KvResponse.RouteTable before = cli.routes().answer();
        MemoryCluster.await(WAIT, "the client's table refreshed", () -> {
          cli.put("learner", "joining");
          return cli.routes().answer() != before;
        });
        assertEquals(Set.of(1L, 2L, 3L), cli.routes().answer().members().keySet(), "a learner of some partition is not named");
        nodes.get(3L).promote(4);
        for (long id = 5; id <= 6; id++) {
          // Not a peer of the first three: they bootstrap alone and learn it from the change.
          addresses.put(id, freshAddress());
          start(id, true);
          nodes.get(3L).addNode(id, addresses.get(id));
        }
        for (long id = 1; id <= 2; id++) {
          nodes.get(3L).removeNode(id);
          nodes.remove(id).close();
        }
        MemoryCluster.await(WAIT, "the client's table to name node 3 as every leader, and the new members", () -> {
          // Pinned until the next membership change; moved again if an election (a slow machine) took it.
          for (PartitionStatus p : nodes.get(3L).status().partitions()) {
            if (p.leader() != 3) {
              try {
                nodes.get(3L).transferLeader(p.partitionId(), 3);
              } catch (KvException e) {
                // no leader to hand over right now: the next round tries again
              }
            }
          }
          cli.put("during", "changes"); // a call refreshes the table when it is due (every second)
          KvResponse.RouteTable t = cli.routes().answer();
          return t.routes().size() == 3 && t.routes().stream().allMatch(r -> r.leaderAddress().equals(configured.get(2)))
              && t.members().keySet().equals(Set.of(3L, 4L, 5L, 6L));
        });

        nodes.get(4L).removeNode(3);
        nodes.remove(3L).close();
        // Every configured node is gone: each call is refused by them and goes on to a learned member.
        for (int i = 0; i < 20; i++) {
          cli.put("after-" + i, "removal");
        }
        assertEquals(java.util.Optional.of("removal"), cli.get("after-19"));
        assertEquals(20, cli.scan("after-", "after-~", 100).size());
        // The members the cluster no longer has drop out of the client's table with its next refresh.
        MemoryCluster.await(WAIT, "the client's table to name the members 4, 5 and 6 only", () -> {
          cli.get("after-0");
          return cli.routes().answer().members().keySet().equals(Set.of(4L, 5L, 6L));
        });
      }
    } finally {
      nodes.values().forEach(KvNode::close);
    }
  }
}
