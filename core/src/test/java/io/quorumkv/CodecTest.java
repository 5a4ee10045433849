package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** Every message survives a round trip, and malformed bytes are refused with a clear error. */
class CodecTest {

  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Byte arrays compare by identity in records; compare encodings instead. */
  private static void roundTripsRequest(KvRequest r) {
    byte[] once = Codec.encodeRequest(r);
    assertEquals(Arrays.toString(once), Arrays.toString(Codec.encodeRequest(Codec.decodeRequest(once))));
  }

  @Test
  void everyRequestKindRoundTrips() {
    WriteOp batch = new WriteOp.Batch(List.of(BatchOp.put("a", "1"), BatchOp.delete("b"),
        BatchOp.expect("c", "2"), BatchOp.expectAbsent("d")));
    List<KvRequest> all = List.of(
        new KvRequest.Get(b("k"), ReadConsistency.FOLLOWER),
        new KvRequest.Scan(b("a"), new byte[0], 10, ReadConsistency.STALE),
        new KvRequest.Write(1, 2, 3, new WriteOp.Put(b("k"), b("v"))),
        new KvRequest.Write(1, 2, 3, new WriteOp.Delete(b("k"))),
        new KvRequest.Write(-1, 2, 3, new WriteOp.Cas(b("k"), Optional.empty(), b("v"))),
        new KvRequest.Write(1, 2, 3, new WriteOp.Cas(b("k"), Optional.of(b("x")), b("v"))),
        new KvRequest.Write(1, 2, 3, batch),
        new KvRequest.Status(),
        new KvRequest.Routes(),
        new KvRequest.Admin(new AdminOp.TransferLeader(3, 2)),
        new KvRequest.Admin(new AdminOp.AddNode(4, "127.0.0.1:7004", true)),
        new KvRequest.Admin(new AdminOp.Promote(4)),
        new KvRequest.Admin(new AdminOp.RemoveNode(4)),
        new KvRequest.Admin(new AdminOp.Split(b("m"))),
        new KvRequest.Admin(new AdminOp.InjectFault(1, new Fault.Partition(List.of(Set.of(1L, 2L), Set.of(3L))))),
        new KvRequest.Admin(new AdminOp.InjectFault(1, new Fault.BlockOneWay(1, 2))),
        new KvRequest.Admin(new AdminOp.InjectFault(1, new Fault.DropRate(1, 2, 0.25))),
        new KvRequest.Admin(new AdminOp.InjectFault(1, new Fault.Delay(1, 2, Duration.ofMillis(150)))),
        new KvRequest.Admin(new AdminOp.InjectFault(1, new Fault.Heal())),
        new KvRequest.ForPartition(7, new KvRequest.Get(b("k"), ReadConsistency.LEASE)),
        new KvRequest.Directory(),
        new KvRequest.Admin(new AdminOp.Decommission(2)),
        new KvRequest.Admin(new AdminOp.Merge(b("m"))),
        new KvRequest.Group(1, new KvRequest.GroupCommand.ChangeMember(io.quorumkv.raft.ConfChangeType.REMOVE, 2, "", 3)),
        new KvRequest.Group(1, new KvRequest.GroupCommand.SetNodeState(4, "127.0.0.1:7004", true)),
        new KvRequest.Group(2, new KvRequest.GroupCommand.MergeInto(1)),
        new KvRequest.Group(1, new KvRequest.GroupCommand.Absorb(2, b("seed"))));
    all.forEach(CodecTest::roundTripsRequest);
    KvRequest.Admin fault = (KvRequest.Admin) Codec.decodeRequest(Codec.encodeRequest(all.get(14)));
    assertEquals(new Fault.Partition(List.of(Set.of(1L, 2L), Set.of(3L))), ((AdminOp.InjectFault) fault.op()).fault());
  }

  @Test
  void everyResponseKindRoundTrips() {
    List<KvResponse> all = List.of(
        new KvResponse.Read(new ReadResult(Optional.of(b("v")), ReadConsistency.STALE, 3, 2, 99, Duration.ofMillis(5))),
        new KvResponse.Read(new ReadResult(Optional.empty(), ReadConsistency.LINEARIZABLE, 3, 2, 99, Duration.ZERO)),
        new KvResponse.Scanned(List.of(new KeyValue(b("a"), b("1")), new KeyValue(b("b"), b("2")))),
        new KvResponse.Written(true),
        new KvResponse.StatusReport(new ClusterStatus(1, Map.of(1L, "127.0.0.1:1", 2L, "127.0.0.1:2"),
            List.of(new PartitionStatus(1, "[a, b)", 2, 5, 10, 9, Set.of(1L, 2L), Set.of(3L))))),
        new KvResponse.AdminDone(42),
        new KvResponse.DirectoryReport(2, List.of(new KvResponse.ReplicaReport(1, PartitionStateMachine.encodeSpan(
            new KeySpan.Range(b("a"), new byte[0])), 2, 5, 17, 3, true, Set.of(1L, 2L), Set.of(4L))),
            Map.of(1L, "127.0.0.1:1")),
        new KvResponse.Failure(KvResponse.Code.NOT_LEADER, "no", 3, 2, "127.0.0.1:2", true),
        new KvResponse.RouteTable(List.of(
            new KvResponse.Route(1, new KeySpan.HashSlot(1, 3), "127.0.0.1:1"),
            new KvResponse.Route(2, new KeySpan.Range(b("a"), new byte[0]), ""))));
    for (KvResponse r : all) {
      byte[] once = Codec.encodeResponse(r);
      assertEquals(Arrays.toString(once), Arrays.toString(Codec.encodeResponse(Codec.decodeResponse(once))));
    }
    assertEquals(all.get(4), Codec.decodeResponse(Codec.encodeResponse(all.get(4))));
    assertEquals(all.get(7), Codec.decodeResponse(Codec.encodeResponse(all.get(7))));
    assertEquals(all.get(8), Codec.decodeResponse(Codec.encodeResponse(all.get(8))));
  }

  @Test
  void writesAreEncodedIntoBuffersOfTheirExactSize() {
    for (WriteOp op : List.of(new WriteOp.Put(b("key"), b("value")), new WriteOp.Delete(b("k")),
        new WriteOp.Cas(b("k"), Optional.empty(), b("v")), new WriteOp.Cas(b("k"), Optional.of(b("old")), b("v")),
        new WriteOp.Batch(List.of(BatchOp.expect("a", "1"), BatchOp.expectAbsent("b"), BatchOp.put("b", "22"),
            BatchOp.delete("a"))))) {
      assertEquals(26 + Codec.opSize(op), Codec.encodeRequest(new KvRequest.Write(1, 2, 3, op)).length, op.toString());
      assertEquals(34 + Codec.opSize(op),
          Codec.encodeCommand(new Command.Stamped(9, new Command.Write(1, 2, 3, op))).length, op.toString());
    }
  }

  @Test
  void commandsRoundTrip() {
    for (Command c : List.of(new Command.Write(5, 6, 4, new WriteOp.Put(b("k"), b("v"))),
        new Command.Split(b("m"), 77), new Command.CheckHash(), new Command.Freeze(3), new Command.Merge(4, b("seed")),
        new Command.SetNodeState(5, "127.0.0.1:7005", false))) {
      byte[] once = Codec.encodeCommand(new Command.Stamped(123, c));
      Command.Stamped back = Codec.decodeCommand(once);
      assertEquals(123, back.stampMillis());
      assertEquals(Arrays.toString(once), Arrays.toString(Codec.encodeCommand(back)));
    }
  }

  private static Command.Writes packed() {
    return new Command.Writes(List.of(
        new Command.Write(5, 6, 4, new WriteOp.Put(b("k"), b("v"))),
        new Command.Write(7, 1, 1, new WriteOp.Delete(b("d"))),
        new Command.Write(5, 7, 4, new WriteOp.Cas(b("c"), Optional.of(b("old")), b("new"))),
        new Command.Write(8, 3, 2, new WriteOp.Batch(List.of(BatchOp.expect("a", "1"), BatchOp.put("b", "2"))))));
  }

  @Test
  void aPackedEntryRoundTripsWriteByWriteInOrder() {
    Command.Writes c = packed();
    byte[] once = Codec.encodeCommand(new Command.Stamped(123, c));
    Command.Stamped back = Codec.decodeCommand(once);
    assertEquals(123, back.stampMillis());
    Command.Writes ws = assertInstanceOf(Command.Writes.class, back.command());
    assertEquals(4, ws.writes().size());
    for (int i = 0; i < 4; i++) {
      Command.Write want = c.writes().get(i);
      Command.Write got = ws.writes().get(i);
      assertEquals(List.of(want.clientId(), want.seq(), want.ackedBelow()), List.of(got.clientId(), got.seq(), got.ackedBelow()));
      assertEquals(want.op().getClass(), got.op().getClass());
    }
    assertArrayEquals(b("new"), ((WriteOp.Cas) ws.writes().get(2).op()).value());
    assertEquals(Arrays.toString(once), Arrays.toString(Codec.encodeCommand(back)));
    // Tag 7, then the count: the persisted format documented in docs/storage.md.
    assertEquals(7, once[9]);
    assertEquals(4, once[13]);
  }

  @Test
  void aPackedEntryIsEncodedIntoABufferOfItsExactSize() {
    List<Command.Write> writes = List.of(new Command.Write(1, 2, 3, new WriteOp.Put(b("key"), b("value"))),
        new Command.Write(4, 5, 6, new WriteOp.Delete(b("k"))),
        new Command.Write(4, 6, 6, new WriteOp.Cas(b("k"), Optional.empty(), b("v"))),
        new Command.Write(4, 7, 6, new WriteOp.Batch(List.of(BatchOp.put("x", "1"), BatchOp.expect("y", "2")))));
    int size = Codec.WRITES_HEADER_BYTES;
    for (Command.Write w : writes) {
      size += Codec.writeSize(w);
    }
    assertEquals(size, Codec.encodeCommand(new Command.Stamped(9, new Command.Writes(writes))).length);
  }

  @Test
  void malformedPackedEntriesAreClearErrors() {
    byte[] good = Codec.encodeCommand(new Command.Stamped(123, packed()));
    // Every truncation fails with a clear error, never a hang or another exception.
    for (int n = 0; n < good.length; n++) {
      byte[] prefix = Arrays.copyOf(good, n);
      assertThrows(IllegalArgumentException.class, () -> Codec.decodeCommand(prefix), "prefix of " + n);
    }
    byte[] none = new Codec.Writer().u8(Codec.FORMAT).i64(1).u8(7).i32(0).toArray();
    assertEquals("malformed command at byte 14: a packed entry holds no write",
        assertThrows(IllegalArgumentException.class, () -> Codec.decodeCommand(none)).getMessage());
    byte[] huge = new Codec.Writer().u8(Codec.FORMAT).i64(1).u8(7).i32(Integer.MAX_VALUE).toArray();
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Codec.decodeCommand(huge)).getMessage()
        .contains("count 2147483647 does not fit"));
    byte[] negative = new Codec.Writer().u8(Codec.FORMAT).i64(1).u8(7).i32(-1).toArray();
    assertThrows(IllegalArgumentException.class, () -> Codec.decodeCommand(negative));
    byte[] badOp = good.clone();
    badOp[14 + 24] = 42; // the first write's operation tag
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Codec.decodeCommand(badOp)).getMessage()
        .contains("unknown write op tag 42"));
    byte[] trailing = Arrays.copyOf(good, good.length + 1);
    assertThrows(IllegalArgumentException.class, () -> Codec.decodeCommand(trailing));
  }

  @Property(tries = 200)
  void corruptedPackedEntriesNeverDecodeWithAnotherException(@ForAll int at, @ForAll byte flip) {
    byte[] corrupt = Codec.encodeCommand(new Command.Stamped(123, packed()));
    corrupt[Math.floorMod(at, corrupt.length)] ^= flip;
    try {
      Codec.decodeCommand(corrupt);
    } catch (IllegalArgumentException expected) {
      // a clear error: fine; any other exception type fails the property
    }
  }

  @Test
  void unknownFormatAndTrailingBytesAreRefused() {
    byte[] ok = Codec.encodeRequest(new KvRequest.Status());
    byte[] badFormat = ok.clone();
    badFormat[0] = 9;
    assertEquals("malformed request at byte 1: unknown format version 9",
        assertThrows(IllegalArgumentException.class, () -> Codec.decodeRequest(badFormat)).getMessage());
    byte[] trailing = Arrays.copyOf(ok, ok.length + 1);
    assertThrows(IllegalArgumentException.class, () -> Codec.decodeRequest(trailing));
  }

  @Test
  void aForwardedRequestCannotNest() {
    byte[] inner = Codec.encodeRequest(new KvRequest.ForPartition(1, new KvRequest.Get(b("k"), ReadConsistency.STALE)));
    Codec.Writer w = new Codec.Writer().u8(Codec.FORMAT).u8(6).i64(2);
    byte[] nested = new byte[w.toArray().length + inner.length - 1];
    System.arraycopy(w.toArray(), 0, nested, 0, w.toArray().length);
    System.arraycopy(inner, 1, nested, w.toArray().length, inner.length - 1);
    assertThrows(IllegalArgumentException.class, () -> Codec.decodeRequest(nested));
  }

  @Property(tries = 300)
  void truncatedOrCorruptedBytesNeverDecodeSilentlyWrong(@ForAll("encoded") byte[] good, @ForAll int cut, @ForAll byte flip) {
    // Any prefix either fails cleanly or (only the whole message) decodes.
    int n = Math.floorMod(cut, good.length);
    byte[] prefix = Arrays.copyOf(good, n);
    try {
      Codec.decodeRequest(prefix);
    } catch (IllegalArgumentException expected) {
      // a clear error: fine
    }
    byte[] corrupt = good.clone();
    corrupt[n] ^= flip;
    try {
      Codec.decodeRequest(corrupt);
    } catch (IllegalArgumentException expected) {
      // fine; any other exception type fails the property
    }
  }

  @Provide
  Arbitrary<byte[]> encoded() {
    Arbitrary<byte[]> keys = Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(20);
    return keys.flatMap(k -> keys.map(v -> Codec.encodeRequest(
        new KvRequest.Write(1, 2, 1, new WriteOp.Batch(List.of(new BatchOp.Put(k, v), new BatchOp.Delete(v))))))); 
  }
}
