package io.quorumkv;

import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.transport.MemoryNetwork;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The test kit's ({@code io.quorumkv.testing}) only way into core's package-private test hooks:
 * simulated disks and the in-memory network, abrupt crashes, and clients that call nodes in this
 * JVM directly. It ships in the core test-jar because the kit needs it; user code should use
 * {@code io.quorumkv.testing.TestCluster} instead. It disappears once core offers these hooks
 * publicly.
 */
public final class TestKitHooks {

  private TestKitHooks() {}

  /**
   * Makes {@code builder} a {@link StorageEngineType#MEMORY} node whose log lives on {@code disk}
   * (kept across restarts, losing unsynced writes on a crash) and whose transport is
   * {@code network}'s.
   */
  public static KvNode.Builder inMemory(KvNode.Builder builder, MemoryDisk disk, MemoryNetwork network) {
    return builder.storageEngine(StorageEngineType.MEMORY).overrides(o -> {
      o.disk = disk;
      o.transport = c -> network.transport(c.nodeId());
    });
  }

  /** Stops {@code node} at once, without handing its leaderships away (a process crash). */
  public static void crash(KvNode node) {
    node.crash();
  }

  /**
   * Makes {@code builder}'s client call the nodes of this JVM directly, as if over the transport's
   * client connection: {@code nodeAt} maps an address to the node serving it, or empty while that
   * node is down (the call then fails as a refused connection would).
   */
  public static KvClient.Builder inProcess(KvClient.Builder builder, Function<String, Optional<KvNode>> nodeAt) {
    // One thread stands for the client's I/O thread: attempts queued while it is busy share a multi.
    java.util.concurrent.ExecutorService io = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "quorumkv-inprocess-client");
      t.setDaemon(true);
      return t;
    });
    return builder.connector(new RemoteExecutor.Connector() {
      @Override
      public void execute(Runnable task) {
        io.execute(task);
      }

      @Override
      public CompletableFuture<byte[]> send(String address, byte[] request, Duration timeout) {
        return nodeAt.apply(address)
            .map(n -> n.runtime().serveClient(request))
            .orElseGet(() -> CompletableFuture.failedFuture(new IOException(address + " is down")));
      }

      @Override
      public void close() {
        io.shutdownNow();
      }
    });
  }
}
