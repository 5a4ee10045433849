package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The diverge nemesis's tool on a real node's data directory (one node, RocksDB, in this JVM):
 * {@link OfflineReplicas#rewrite} changes exactly the replica that holds the key, so that its hash
 * (as a check would compute it) differs from before and every other replica's does not, without
 * moving its applied index; the node then starts on it and serves the rotten value as its own.
 */
class OfflineReplicasTest {

  private static final String CLUSTER = "offline-replicas-test";
  private static final Partitioner PARTITIONER = HashPartitioner.of(3);

  @TempDir
  Path dir;

  private KvNode node(int port) {
    KvNode n = KvNode.builder().nodeId(1).advertisedAddress("127.0.0.1:" + port).dataDir(dir).clusterId(CLUSTER)
        .partitioner(PARTITIONER).build();
    n.start();
    return n;
  }

  @Test
  void aRewriteChangesTheHashOfTheReplicaHoldingTheKeyAndOfNoOther() throws IOException {
    int port = freePort();
    try (KvNode n = node(port)) {
      for (int i = 0; i < 8; i++) {
        n.put("canary/" + i, "planted-" + i);
      }
      // A put is answered at commit, before it is applied (AnswerAtCommit): a node closed just then
      // replays it from its log at the next start, but the offline tool reads the applied state.
      // A linearizable read waits for the apply. (Without these reads the test failed once, in the
      // module's short-profile run of 2026-11-28: "0 replicas hold \"canary/5\"".)
      for (int i = 0; i < 8; i++) {
        assertEquals(Optional.of("planted-" + i), n.get("canary/" + i, ReadConsistency.LINEARIZABLE));
      }
    }
    Map<Long, Long> before = hashes();
    assertEquals(3, before.size(), "three partitions: " + before);

    OfflineReplicas.Rewrite w = OfflineReplicas.rewrite(dir, CLUSTER, 1, PARTITIONER, "canary/5", "rotten");

    assertEquals(HashPartitioner.of(3).partitionOf("canary/5".getBytes()), w.partition());
    assertEquals("planted-5", w.before());
    assertEquals("rotten", w.after());
    assertTrue(w.appliedIndex() > 0, "a replica that applied the puts: " + w);
    Map<Long, Long> after = hashes();
    for (long p : before.keySet()) {
      if (p == w.partition()) {
        assertNotEquals(before.get(p), after.get(p), "the rotted replica's hash");
      } else {
        assertEquals(before.get(p), after.get(p), "partition " + p + "'s hash");
      }
    }
    // The node notices nothing: it starts at the same applied index and serves the value as its own.
    try (KvNode n = node(port)) {
      assertEquals(Optional.of("rotten"), n.get("canary/5", ReadConsistency.LINEARIZABLE));
      assertEquals(Optional.of("planted-4"), n.get("canary/4", ReadConsistency.LINEARIZABLE));
    }
  }

  @Test
  void aKeyNoReplicaHoldsIsRefused() throws IOException {
    try (KvNode n = node(freePort())) {
      n.put("canary/0", "planted-0");
      assertEquals(Optional.of("planted-0"), n.get("canary/0", ReadConsistency.LINEARIZABLE));
    }
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> OfflineReplicas.rewrite(dir, CLUSTER, 1, PARTITIONER, "never-written", "rotten"));
    assertTrue(e.getMessage().contains("0 replicas hold"), e.getMessage());
  }

  private Map<Long, Long> hashes() {
    Map<Long, Long> out = new TreeMap<>();
    for (long p : RoutingTable.initialSpans(PARTITIONER).keySet()) {
      out.put(p, OfflineReplicas.hash(dir, CLUSTER, 1, PARTITIONER, p));
    }
    return out;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
