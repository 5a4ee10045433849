package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.quorumkv.raft.Message;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.GroupHeartbeat;
import io.quorumkv.transport.proto.GroupMessage;
import io.quorumkv.transport.proto.HeartbeatBatch;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.Lane;
import io.quorumkv.transport.proto.RaftBatch;
import io.quorumkv.transport.proto.Request;
import io.quorumkv.transport.proto.SnapshotChunk;
import io.quorumkv.transport.proto.SnapshotOffer;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Throws random and mutated byte streams at a live node, then checks after every try that it
 * still serves a well-formed peer (a heartbeat from node 1 arrives) and a well-formed client (a
 * request is answered), and at the end that no buffer leaked.
 *
 * <p>Node 3 is the target. Node 1 is a real, well-behaved peer. Node 2 is configured but never
 * started: the fuzzer impersonates it, so that mutated Raft and snapshot lanes are accepted and
 * their frames reach the deepest parsing code.
 */
class GarbageFrameProperties {
  static {
    LeakWatch.install();
  }

  private static final long MARK_GROUP = 424242;

  private static NettyNodes cluster;
  private static TransportClient client;
  private static long round;

  @BeforeContainer
  static void start() {
    cluster = new NettyNodes(3, b -> b.handshakeTimeout(Duration.ofMillis(500))
        .snapshotFlow(4096, 2, Duration.ofMillis(500)));
    cluster.start(3).setRequestHandler((from, p) -> CompletableFuture.completedFuture(p));
    cluster.node(3).setSnapshotReceiver((from, group, m) -> new SnapshotChunkSink() {
      @Override
      public void write(long offset, ByteBuffer data) {}

      @Override
      public void complete() {}

      @Override
      public void abort(Throwable cause) {}
    });
    cluster.start(1);
    cluster.awaitConnected(1, 3);
    client = TransportClient.connect(cluster.addresses.get(3L), NettyNodes.CLUSTER);
  }

  @AfterContainer
  static void stop() throws Exception {
    try {
      assertStillServing(); // and a fresh client can still connect:
      try (TransportClient fresh =
          TransportClient.connect(cluster.addresses.get(3L), NettyNodes.CLUSTER)) {
        assertArrayEquals(new byte[] {7}, fresh.request(new byte[] {7}, Duration.ofSeconds(5))
            .get(5, TimeUnit.SECONDS));
      }
    } finally {
      client.close();
      cluster.close();
    }
    LeakWatch.assertNoLeaks();
  }

  @Property(tries = 300)
  void garbageNeverHurtsOtherConnections(@ForAll("attacks") byte[] attack) throws Exception {
    try (Socket s = new Socket("127.0.0.1", cluster.addresses.get(3L).getPort())) {
      s.setSoLinger(true, 0);
      OutputStream out = s.getOutputStream();
      try {
        out.write(attack);
        out.flush();
      } catch (IOException e) {
        // the node may close on us mid-write: that is the point
      }
    }
    assertStillServing();
  }

  private static void assertStillServing() throws Exception {
    long mark = ++round;
    cluster.node(1).send(3, MARK_GROUP, new Message.Heartbeat(1, 3, mark, 0, 0));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    boolean seen = false;
    while (!seen && System.nanoTime() < deadline) {
      Received r = cluster.inbox.get(3L).poll(100, TimeUnit.MILLISECONDS);
      seen = r != null && r.from() == 1 && r.group() == MARK_GROUP && r.message().term() == mark;
    }
    assertTrue(seen, "node 3 stopped hearing node 1");
    byte[] p = Long.toString(mark).getBytes();
    assertArrayEquals(p, client.request(p, Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS));
  }

  @Provide
  Arbitrary<byte[]> attacks() {
    Arbitrary<byte[]> random = Arbitraries.bytes().array(byte[].class).ofMaxSize(3000);
    Arbitrary<byte[]> valid = Arbitraries.of(validStreams());
    Arbitrary<List<Tuple.Tuple3<Integer, Integer, Byte>>> edits = Combinators.combine(
        Arbitraries.integers().between(0, 3), Arbitraries.integers().greaterOrEqual(0),
        Arbitraries.bytes()).as(Tuple::of).list().ofMinSize(1).ofMaxSize(6);
    Arbitrary<byte[]> mutated = Combinators.combine(valid, edits).as(GarbageFrameProperties::edit);
    Arbitrary<byte[]> badLength = Combinators.combine(Arbitraries.integers(), random)
        .as((len, body) -> concat(helloClient(), ByteBuffer.allocate(4).putInt(len).array(), body));
    return Arbitraries.frequencyOf(
        Tuple.of(2, random), Tuple.of(6, mutated), Tuple.of(1, badLength), Tuple.of(1, valid));
  }

  /** Applies byte edits: 0 flip, 1 truncate, 2 insert, 3 overwrite a length-sized field. */
  private static byte[] edit(byte[] valid, List<Tuple.Tuple3<Integer, Integer, Byte>> edits) {
    byte[] b = valid.clone();
    for (var e : edits) {
      if (b.length == 0) {
        break;
      }
      int at = e.get2() % b.length;
      switch (e.get1()) {
        case 0 -> b[at] ^= e.get3() == 0 ? 1 : e.get3();
        case 1 -> b = java.util.Arrays.copyOf(b, at);
        case 2 -> b = concat(java.util.Arrays.copyOf(b, at), new byte[] {e.get3()},
            java.util.Arrays.copyOfRange(b, at, b.length));
        default -> b[at] = (byte) 0xff;
      }
    }
    return b;
  }

  /** Well-formed conversations on each lane, which the edits then damage. */
  private static List<byte[]> validStreams() {
    byte[] raftHello = frame(Frame.newBuilder().setHello(hello(Lane.LANE_RAFT)).build());
    RaftBatch.Builder batch = RaftBatch.newBuilder();
    List<Message> all = Messages.oneOfEach(2, 3);
    for (int i = 0; i < all.size(); i++) {
      batch.addMessages(GroupMessage.newBuilder().setGroupId(i)
          .setMessage(RaftCodec.toProto(all.get(i))));
    }
    batch.setHeartbeats(HeartbeatBatch.newBuilder().addHeartbeats(GroupHeartbeat.newBuilder()
        .setGroupId(1).setFrom(2).setTo(3).setTerm(1)));
    byte[] raft = concat(raftHello, frame(Frame.newBuilder().setRaftBatch(batch).build()),
        frame(Frame.newBuilder().setRequest(Request.newBuilder().setId(1)
            .setPayload(ByteString.copyFromUtf8("x")).setTimeoutMillis(1000)).build()));

    byte[] data = new byte[3000];
    CRC32C crc = new CRC32C();
    crc.update(data);
    byte[] snapshot = concat(
        frame(Frame.newBuilder().setHello(hello(Lane.LANE_SNAPSHOT)).build()),
        frame(Frame.newBuilder().setSnapshotOffer(SnapshotOffer.newBuilder().setTransferId(99)
            .setGroupId(5).setMessage(RaftCodec.toProto(all.get(6)))).build()),
        frame(Frame.newBuilder().setSnapshotChunk(SnapshotChunk.newBuilder().setTransferId(99)
            .setOffset(0).setData(ByteString.copyFrom(data)).setCrc32C((int) crc.getValue())
            .setLast(true)).build()));

    byte[] clientLane = concat(helloClient(),
        frame(Frame.newBuilder().setRequest(Request.newBuilder().setId(5)
            .setPayload(ByteString.copyFromUtf8("hi")).setTimeoutMillis(1000)).build()));
    return List.of(raft, snapshot, clientLane);
  }

  private static Hello hello(Lane lane) {
    return Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
        .setClusterId(NettyNodes.CLUSTER).setNodeId(2).setLane(lane).build();
  }

  private static byte[] helloClient() {
    return frame(FakePeer.clientHello(NettyNodes.CLUSTER));
  }

  private static byte[] frame(Frame f) {
    return frame(f.toByteArray());
  }

  private static byte[] frame(byte[] payload) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try {
      new DataOutputStream(b).writeInt(payload.length);
      b.write(payload);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return b.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.write(p, 0, p.length);
    }
    return b.toByteArray();
  }
}
