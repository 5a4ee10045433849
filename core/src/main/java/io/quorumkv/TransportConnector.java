package io.quorumkv;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** A {@link RemoteExecutor.Connector} over the transport's external client connection. */
final class TransportConnector implements RemoteExecutor.Connector {

  TransportConnector(KvClient.Config config) {
    // Wired once the transport module's TransportClient lands.
  }

  @Override
  public CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout) {
    return CompletableFuture.failedFuture(new UnsupportedOperationException(
        "the transport's client connection is not available yet"));
  }

  @Override
  public void close() {}
}
