package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class RemoteExecutorTest {

  private static final List<String> NODES = List.of("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3");

  /** Answers a status with the given partitions; records where every other request went. */
  private static final class FakeNodes implements RemoteExecutor.Connector {
    final List<PartitionStatus> partitions;
    final List<String> requestsTo = new ArrayList<>();
    int statusRequests;

    FakeNodes(List<PartitionStatus> partitions) {
      this.partitions = partitions;
    }

    @Override
    public CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout) {
      if (Codec.decodeRequest(request) instanceof KvRequest.Status) {
        statusRequests++;
        ClusterStatus s = new ClusterStatus(1, Map.of(1L, NODES.get(0), 2L, NODES.get(1), 3L, NODES.get(2)), partitions);
        return CompletableFuture.completedFuture(Codec.encodeResponse(new KvResponse.StatusReport(s)));
      }
      requestsTo.add(address);
      return CompletableFuture.completedFuture(Codec.encodeResponse(new KvResponse.AdminDone(0)));
    }

    @Override
    public void close() {}
  }

  private static PartitionStatus partition(long id, String keys, long leader) {
    return new PartitionStatus(id, keys, leader, 2, 10, 10, Set.of(1L, 2L, 3L), Set.of());
  }

  private static RemoteExecutor executor(FakeNodes nodes) {
    return new RemoteExecutor(new KvClient.Config(NODES, "c", Duration.ofSeconds(1), 1024, 1024), nodes);
  }

  private static KvRequest get(byte[] key) {
    return new KvRequest.Get(key, ReadConsistency.LINEARIZABLE);
  }

  @Test
  void firstAttemptsGoStraightToTheLeaderOfTheKeysHashPartition() {
    FakeNodes nodes = new FakeNodes(List.of(partition(1, "hash 1/3", 2), partition(2, "hash 2/3", 3),
        partition(3, "hash 3/3", 1)));
    RemoteExecutor ex = executor(nodes);
    try {
      ex.attempt(get(new byte[] {0}), System.nanoTime() + 1_000_000_000L, null).join(); // fetches the routes
      assertEquals(1, nodes.statusRequests);
      nodes.requestsTo.clear();
      HashPartitioner hp = HashPartitioner.of(3);
      Map<Long, String> leaderOf = Map.of(1L, NODES.get(1), 2L, NODES.get(2), 3L, NODES.get(0));
      for (int i = 0; i < 60; i++) {
        byte[] key = ("key-" + i).getBytes(StandardCharsets.UTF_8);
        ex.attempt(get(key), System.nanoTime() + 1_000_000_000L, null).join();
        assertEquals(leaderOf.get(hp.partitionOf(key)), nodes.requestsTo.get(i), "key-" + i);
      }
      assertEquals(3, Set.copyOf(nodes.requestsTo).size(), "every leader got some keys");
      assertEquals(1, nodes.statusRequests, "routes are reused while fresh");
    } finally {
      ex.close();
    }
  }

  @Test
  void aLeaderHintWinsOverTheRouteAndAFailureRefreshesTheRoutes() {
    FakeNodes nodes = new FakeNodes(List.of(partition(1, "hash 1/1", 1)));
    RemoteExecutor ex = executor(nodes);
    try {
      ex.attempt(get(new byte[] {1}), System.nanoTime() + 1_000_000_000L, null).join();
      KvResponse.Failure notLeader = KvResponse.Failure.notLeader(1, 3, NODES.get(2));
      ex.attempt(get(new byte[] {1}), System.nanoTime() + 1_000_000_000L, notLeader).join();
      assertEquals(NODES.get(2), nodes.requestsTo.get(nodes.requestsTo.size() - 1));
      assertEquals(2, nodes.statusRequests);
    } finally {
      ex.close();
    }
  }

  @Test
  void rangePartitionsAreServedThroughTheConfiguredNodes() {
    FakeNodes nodes = new FakeNodes(List.of(partition(1, "[, m)", 2), partition(2, "[m, +inf)", 3)));
    RemoteExecutor ex = executor(nodes);
    try {
      for (int i = 0; i < 5; i++) {
        ex.attempt(get(new byte[] {(byte) i}), System.nanoTime() + 1_000_000_000L, null).join();
      }
      assertTrue(nodes.requestsTo.stream().allMatch(NODES.get(0)::equals), nodes.requestsTo.toString());
    } finally {
      ex.close();
    }
  }

  @Test
  void aHashSlotDescriptionParsesBack() {
    KeySpan.HashSlot slot = new KeySpan.HashSlot(7, 12);
    assertEquals(slot, KeySpan.HashSlot.parse(slot.describe()).orElseThrow());
    assertTrue(KeySpan.HashSlot.parse("[a, b)").isEmpty());
    assertTrue(KeySpan.HashSlot.parse("hash x/3").isEmpty());
  }
}
