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

  private void start(long id) {
    KvNode.Builder b = KvNode.builder()
        .nodeId(id)
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
      addresses.put(id, "127.0.0.1:" + NettyRocksClusterTest.freePort());
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
        // Balancing runs every 5 election timeouts (1 s here): it must leave the pinned leaders alone.
        Thread.sleep(2_500);
        assertEquals(3, nodes.get(3L).status().leaderCount(), nodes.get(3L).status().toString());
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
}
