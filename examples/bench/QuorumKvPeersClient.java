package io.quorumkv.examples.bench;

import io.quorumkv.KvClient;
import io.quorumkv.ReadConsistency;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * QuorumKV behind the peers harness's driver interface ({@code peers.KvClient}, in
 * ../shared/peers/driver), so that {@code peers.Bench --system class:io.quorumkv.examples.bench.QuorumKvPeersClient}
 * drives QuorumKV exactly as it drives etcd and RheaKV. Compiled by bench-all.sh against the
 * driver's classes; it is not part of the Maven build, so the examples module does not depend on
 * the driver.
 *
 * <p>System properties: {@code quorumkv.clusterId} (default {@code quorumkv}),
 * {@code quorumkv.read} (read consistency, default LINEARIZABLE, the level the peers measure),
 * {@code quorumkv.timeoutMs} (per-call deadline, default 10000 like the driver's own timeout).
 */
public final class QuorumKvPeersClient implements peers.KvClient {

  private final List<KvClient> clients = new ArrayList<>();
  private final AtomicInteger next = new AtomicInteger();
  private final ReadConsistency readConsistency;
  private final String endpoints;

  /**
   * @param endpoints comma-separated {@code host:port} of the nodes
   * @param conns     how many {@link KvClient} instances (each with its own connections) to spread requests over
   */
  public QuorumKvPeersClient(String endpoints, int conns) {
    this.endpoints = endpoints;
    this.readConsistency = ReadConsistency.valueOf(
        System.getProperty("quorumkv.read", "LINEARIZABLE").toUpperCase(Locale.ROOT));
    Duration timeout = Duration.ofMillis(Long.getLong("quorumkv.timeoutMs", 10_000));
    for (int i = 0; i < Math.max(1, conns); i++) {
      clients.add(KvClient.builder().addresses(endpoints.split(","))
          .clusterId(System.getProperty("quorumkv.clusterId", "quorumkv")).requestTimeout(timeout).build());
    }
  }

  private KvClient pick() {
    return clients.get(Math.floorMod(next.getAndIncrement(), clients.size()));
  }

  @Override
  public CompletableFuture<Void> put(byte[] key, byte[] value) {
    return pick().putAsync(key, value);
  }

  @Override
  public CompletableFuture<Boolean> get(byte[] key) {
    return pick().getAsync(key, readConsistency).thenApply(Optional::isPresent);
  }

  @Override
  public String describe() {
    return "quorumkv KvClient x" + clients.size() + ", reads " + readConsistency + ", endpoints " + endpoints;
  }

  @Override
  public void close() {
    clients.forEach(KvClient::close);
  }
}
