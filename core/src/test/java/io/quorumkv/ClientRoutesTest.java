package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The client's route table: which key goes to which leader, and when the table is refetched. */
class ClientRoutesTest {

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static KvRequest put(String key) {
    return new KvRequest.Write(1, 1, 1, new WriteOp.Put(b(key), b("v")));
  }

  private static KvRequest get(String key) {
    return new KvRequest.Get(b(key), ReadConsistency.LINEARIZABLE);
  }

  @Test
  void eachKeyGoesToTheLeaderOfItsHashSlot() {
    ClientRoutes routes = new ClientRoutes();
    List<KvResponse.Route> table = new ArrayList<>();
    for (long p = 1; p <= 3; p++) {
      table.add(new KvResponse.Route(p, new KeySpan.HashSlot(p, 3), p == 3 ? "" : "node" + p));
    }
    routes.maybeRefresh(() -> CompletableFuture.completedFuture(new KvResponse.RouteTable(table)));
    HashPartitioner h = HashPartitioner.of(3);
    for (int i = 0; i < 100; i++) {
      String key = "key" + i;
      long p = h.partitionOf(b(key));
      String want = p == 3 ? null : "node" + p; // partition 3 has no known leader
      assertEquals(want, routes.leaderFor(put(key)), key);
      assertEquals(want, routes.leaderFor(get(key)), key);
      assertEquals(want, routes.leaderFor(new KvRequest.Get(b(key), ReadConsistency.LEASE)), key);
      // Follower and stale reads stay on the node the client chose: they exist to spare the leader.
      assertNull(routes.leaderFor(new KvRequest.Get(b(key), ReadConsistency.FOLLOWER)), key);
      assertNull(routes.leaderFor(new KvRequest.Get(b(key), ReadConsistency.STALE)), key);
    }
    assertNull(routes.leaderFor(new KvRequest.Scan(b("a"), b("b"), 10, ReadConsistency.LEASE)));
    assertNull(routes.leaderFor(new KvRequest.Status()));
  }

  @Test
  void duringASplitTheNarrowerRangeWinsAndASuspectAddressIsAvoided() {
    ClientRoutes routes = new ClientRoutes();
    routes.maybeRefresh(() -> CompletableFuture.completedFuture(new KvResponse.RouteTable(List.of(
        new KvResponse.Route(1, new KeySpan.Range(new byte[0], new byte[0]), "parent"),
        new KvResponse.Route(2, new KeySpan.Range(b("m"), new byte[0]), "child")))));
    assertEquals("parent", routes.leaderFor(get("a")));
    assertEquals("child", routes.leaderFor(get("x")));
    routes.suspect("child");
    assertNull(routes.leaderFor(get("x")), "a suspect address is not routed to");
    assertEquals("parent", routes.leaderFor(get("a")));
  }

  @Test
  void oneFetchAtATimeAndAFailedOneIsRetriedAfterItsBackoff() throws Exception {
    ClientRoutes routes = new ClientRoutes();
    AtomicInteger fetches = new AtomicInteger();
    CompletableFuture<KvResponse> pending = new CompletableFuture<>();
    routes.maybeRefresh(() -> {
      fetches.incrementAndGet();
      return pending;
    });
    routes.markStale();
    routes.maybeRefresh(() -> {
      fetches.incrementAndGet();
      return new CompletableFuture<>();
    });
    assertEquals(1, fetches.get(), "a second fetch while one is in flight");
    pending.complete(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, "old node"));
    assertTrue(routes.table().isEmpty(), "a failed fetch keeps the old table");
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (fetches.get() == 1 && System.nanoTime() < deadline) {
      routes.maybeRefresh(() -> {
        fetches.incrementAndGet();
        return CompletableFuture.completedFuture(new KvResponse.RouteTable(List.of(
            new KvResponse.Route(1, new KeySpan.HashSlot(1, 1), "only"))));
      });
      Thread.sleep(5);
    }
    assertEquals(2, fetches.get(), "fetched again once the backoff passed");
    assertEquals("only", routes.leaderFor(get("anything")));
  }
}
