package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.GroupMessage;
import io.quorumkv.transport.proto.RaftBatch;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;

/** Every Raft message survives the whole wire path: codec, frame, buffer, parse, codec. */
class RaftCodecProperties {
  static {
    LeakWatch.install();
  }

  @AfterContainer
  static void noLeaks() throws InterruptedException {
    LeakWatch.assertNoLeaks();
  }

  @Property(tries = 500)
  void everyMessageRoundTrips(@ForAll("messages") Message m, @ForAll long groupId)
      throws Exception {
    Frame f = Frame.newBuilder().setRaftBatch(RaftBatch.newBuilder().addMessages(
        GroupMessage.newBuilder().setGroupId(groupId).setMessage(RaftCodec.toProto(m)))).build();
    ByteBuf buf = Wire.encode(PooledByteBufAllocator.DEFAULT, f);
    try {
      assertEquals(f.getSerializedSize(), buf.readInt());
      Frame parsed = Wire.decode(buf);
      GroupMessage g = parsed.getRaftBatch().getMessages(0);
      assertEquals(groupId, g.getGroupId());
      Messages.assertSameMessage(m, RaftCodec.fromProto(g.getMessage()));
    } finally {
      buf.release();
    }
  }

  /** The generator below must cover every kind the sealed interface permits. */
  @Property(tries = 1)
  void theGeneratorCoversEveryKind() {
    Set<Class<?>> permitted = Arrays.stream(Message.class.getPermittedSubclasses())
        .collect(Collectors.toSet());
    Set<Class<?>> generated = Messages.oneOfEach(1, 2).stream().map(Object::getClass)
        .collect(Collectors.toSet());
    assertEquals(permitted, generated);
    assertEquals(permitted.size(), kinds().length);
  }

  @Provide
  Arbitrary<Message> messages() {
    return Arbitraries.oneOf(Arrays.asList(kinds()));
  }

  @SuppressWarnings({"unchecked", "rawtypes"}) // a generic array for Arbitraries.oneOf
  private static Arbitrary<Message>[] kinds() {
    Arbitrary<Long> n = Arbitraries.longs();
    Arbitrary<Boolean> b = Arbitraries.of(true, false);
    Arbitrary<Entry> entry = Combinators.combine(n, n, Arbitraries.of(EntryType.class),
        Arbitraries.bytes().array(byte[].class).ofMaxSize(300)).as(Entry::new);
    Arbitrary<Set<Long>> ids = Arbitraries.longs().between(1, 9).set().ofMaxSize(5);
    Arbitrary<ConfState> conf = Combinators.combine(ids, ids, ids, ids, b).as(ConfState::new);
    Arbitrary<Snapshot> snapshot = Combinators.combine(n, n, conf,
        Arbitraries.bytes().array(byte[].class).ofMaxSize(100))
        .as((i, t, c, d) -> new Snapshot(new SnapshotMetadata(i, t, c), d));
    return new Arbitrary[] {
        Combinators.combine(n, n, n, n, n, entry.list().ofMaxSize(8), n)
            .as(Message.AppendEntries::new),
        Combinators.combine(n, n, n, b, n, n, n).as(Message.AppendEntriesResponse::new),
        Combinators.combine(n, n, n, b, n, n, b).as(Message.RequestVote::new),
        Combinators.combine(n, n, n, b, b).as(Message.RequestVoteResponse::new),
        Combinators.combine(n, n, n, n, n).as(Message.Heartbeat::new),
        Combinators.combine(n, n, n, n).as(Message.HeartbeatResponse::new),
        Combinators.combine(n, n, n, snapshot).as(Message.InstallSnapshot::new),
        Combinators.combine(n, n, n).as(Message.TimeoutNow::new),
        Combinators.combine(n, n, n, n).as(Message.ReadIndexRequest::new),
        Combinators.combine(n, n, n, n, n).as(Message.ReadIndexResponse::new),
        Combinators.combine(n, n, n, n).as(Message.TransferLeadershipRequest::new),
    };
  }
}
