package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Each bad setting is refused with a message naming it. */
class NettyTransportConfigTest {
  static {
    LeakWatch.install(); // Peer is a Netty class: keep the leak watch first whatever the order
  }

  private static final InetSocketAddress ADDRESS = new InetSocketAddress("127.0.0.1", 7000);

  private static String error(long nodeId, UnaryOperator<NettyTransportConfig.Builder> change) {
    RuntimeException e = assertThrows(RuntimeException.class,
        () -> change.apply(NettyTransportConfig.builder(nodeId, 1).bindAddress(ADDRESS)).build());
    return e.getMessage();
  }

  @Test
  void defaultsAreValid() {
    NettyTransportConfig c = NettyTransportConfig.builder(1, 1).bindAddress(ADDRESS)
        .peer(2, new InetSocketAddress("127.0.0.1", 7001)).build();
    assertEquals(16 << 20, c.maxFrameBytes());
    assertTrue(c.tls().isEmpty());
    assertEquals(1, c.peers().size());
  }

  @Test
  void everyFieldIsCheckedByName() {
    assertTrue(error(0, b -> b).startsWith("nodeId must be positive"));
    assertTrue(error(1, b -> b.bindAddress(null)).startsWith("bindAddress is required"));
    assertTrue(error(1, b -> b.peer(-3, ADDRESS)).startsWith("peers: bad entry -3"));
    assertTrue(error(1, b -> b.maxFrameBytes(10)).startsWith("maxFrameBytes must be at least"));
    assertTrue(error(1, b -> b.outboundQueueLimit(0)).startsWith("outboundQueueLimit"));
    assertTrue(error(1, b -> b.reconnectBackoff(Duration.ZERO, Duration.ofSeconds(1)))
        .startsWith("reconnectBackoffMin must be positive"));
    assertTrue(error(1, b -> b.reconnectBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
        .startsWith("reconnectBackoffMax"));
    assertTrue(error(1, b -> b.connectTimeout(Duration.ofMillis(-1))).startsWith("connectTimeout"));
    assertTrue(error(1, b -> b.handshakeTimeout(Duration.ZERO)).startsWith("handshakeTimeout"));
    assertTrue(error(1, b -> b.peerTimeout(Duration.ZERO)).startsWith("peerTimeout"));
    assertTrue(error(1, b -> b.snapshotFlow(16 << 20, 4, Duration.ofSeconds(1)))
        .startsWith("snapshotChunkBytes must be in"));
    assertTrue(error(1, b -> b.snapshotFlow(1024, 0, Duration.ofSeconds(1)))
        .startsWith("snapshotWindow"));
    assertTrue(error(1, b -> b.snapshotFlow(1024, 1, Duration.ZERO))
        .startsWith("snapshotStallTimeout"));
    assertTrue(error(1, b -> b.ioThreads(-1)).startsWith("ioThreads"));
  }

  @Test
  void tlsFilesMustBeReadable() {
    Path missing = Path.of("no-such-cert.pem");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new TlsSettings(missing, missing, missing, true));
    assertTrue(e.getMessage().startsWith("tls.certificateChain: cannot read PEM file"));
    Path here = Path.of("pom.xml");
    IllegalArgumentException identity = assertThrows(IllegalArgumentException.class,
        () -> new TlsSettings(here, here, here, false, true));
    assertTrue(identity.getMessage().startsWith("tls.requireNodeIdentity needs"));
  }

  @Test
  void backoffGrowsExponentiallyWithJitterUpToTheCap() {
    Duration min = Duration.ofMillis(50);
    Duration max = Duration.ofSeconds(2);
    for (int attempt = 0; attempt < 40; attempt++) {
      long cap = Math.min(max.toNanos(), min.toNanos() << Math.min(attempt, 30));
      if (cap <= 0) {
        cap = max.toNanos();
      }
      for (int i = 0; i < 100; i++) {
        long d = Peer.backoffNanos(attempt, min, max);
        assertTrue(d >= cap / 2 && d <= cap, attempt + ": " + d + " outside [" + cap / 2 + ", "
            + cap + "]");
      }
    }
  }
}
