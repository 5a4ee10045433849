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

  /** A request of every kind, and of every variant a kind encodes differently (FormatTest names them by position). */
  static List<KvRequest> requestSamples() {
    WriteOp batch = new WriteOp.Batch(List.of(BatchOp.put("a", "1"), BatchOp.delete("b"),
        BatchOp.expect("c", "2"), BatchOp.expectAbsent("d")));
    return List.of(
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
        new KvRequest.Group(1, new KvRequest.GroupCommand.Absorb(2, b("seed"))),
        new KvRequest.CheckReplicas(1500),
        new KvRequest.Directory(7, 6));
  }

  @Test
  void everyRequestKindRoundTrips() {
    List<KvRequest> all = requestSamples();
    all.forEach(CodecTest::roundTripsRequest);
    KvRequest.Admin fault = (KvRequest.Admin) Codec.decodeRequest(Codec.encodeRequest(all.get(14)));
    assertEquals(new Fault.Partition(List.of(Set.of(1L, 2L), Set.of(3L))), ((AdminOp.InjectFault) fault.op()).fault());
  }

  /** A response of every kind, and of every variant a kind encodes differently (FormatTest names them by position). */
  static List<KvResponse> responseSamples() {
    return List.of(
        new KvResponse.Read(new ReadResult(Optional.of(b("v")), ReadConsistency.STALE, 3, 2, 99, Duration.ofMillis(5))),
        new KvResponse.Read(new ReadResult(Optional.empty(), ReadConsistency.LINEARIZABLE, 3, 2, 99, Duration.ZERO)),
        new KvResponse.Scanned(List.of(new KeyValue(b("a"), b("1")), new KeyValue(b("b"), b("2")))),
        new KvResponse.Written(true),
        new KvResponse.StatusReport(new ClusterStatus(1, Map.of(1L, "127.0.0.1:1", 2L, "127.0.0.1:2"),
            List.of(new PartitionStatus(1, "[a, b)", 2, 5, 10, 9, Set.of(1L, 2L), Set.of(3L))))),
        new KvResponse.AdminDone(42),
        new KvResponse.DirectoryReport(2, List.of(new KvResponse.ReplicaReport(1, PartitionStateMachine.encodeSpan(
            new KeySpan.Range(b("a"), new byte[0])), 2, 5, 17, 3, true, Set.of(1L, 2L), Set.of(4L),
            Set.of(7L, 9L))),
            Map.of(1L, "127.0.0.1:1")),
        new KvResponse.Failure(KvResponse.Code.NOT_LEADER, "no", 3, 2, "127.0.0.1:2", true),
        new KvResponse.RouteTable(List.of(
            new KvResponse.Route(1, new KeySpan.HashSlot(1, 3), "127.0.0.1:1"),
            new KvResponse.Route(2, new KeySpan.Range(b("a"), new byte[0]), ""))),
        new KvResponse.ReplicaCheck(new ReplicaHashes(2,
            List.of(new PartitionHashes(1, 77, 2, Set.of(1L, 2L, 3L), Map.of(1L, -5L, 2L, 9L), Set.of(1L),
                    Map.of(3L, "its log had not acknowledged the check entry (match index 70, PROBE)")),
                new PartitionHashes(3, 12, 2, Set.of(2L, 4L), Map.of(2L, 4L), Set.of())),
            Map.of(5L, "the check entry did not apply within 750 ms"), Map.of(1L, 77L, 4L, 3L))),
        new KvResponse.DirectoryUnchanged());
  }

  @Test
  void everyResponseKindRoundTrips() {
    List<KvResponse> all = responseSamples();
    for (KvResponse r : all) {
      byte[] once = Codec.encodeResponse(r);
      assertEquals(Arrays.toString(once), Arrays.toString(Codec.encodeResponse(Codec.decodeResponse(once))));
    }
    assertEquals(all.get(4), Codec.decodeResponse(Codec.encodeResponse(all.get(4))));
    assertEquals(all.get(7), Codec.decodeResponse(Codec.encodeResponse(all.get(7))));
    assertEquals(all.get(8), Codec.decodeResponse(Codec.encodeResponse(all.get(8))));
    assertEquals(all.get(9), Codec.decodeResponse(Codec.encodeResponse(all.get(9))));
  }

  @Test
  void aRouteTableNamesTheMembersAndMayComeWithoutThemFromAnOlderNode() {
    List<KvResponse.Route> routes = List.of(new KvResponse.Route(1, new KeySpan.HashSlot(1, 3), "127.0.0.1:3"));
    KvResponse.RouteTable table = new KvResponse.RouteTable(routes, Map.of(3L, "127.0.0.1:3", 4L, "127.0.0.1:4"));
    assertEquals(table, Codec.decodeResponse(Codec.encodeResponse(table)));
    // An older node's table ends after the routes: no members known.
    byte[] withNone = Codec.encodeResponse(new KvResponse.RouteTable(routes));
    byte[] old = Arrays.copyOf(withNone, withNone.length - 4);
    assertEquals(new KvResponse.RouteTable(routes, Map.of()), Codec.decodeResponse(old));
    // A count of members the bytes cannot hold is refused, as any other count.
    byte[] lying = Codec.encodeResponse(table);
    lying[old.length] = 0x7f;
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Codec.decodeResponse(lying)).getMessage()
        .contains("does not fit"));
  }

  @Test
  void theAnswersANodeSendsMostAreSizedExactlyBeforeTheyAreWritten() {
    List<KvResponse> one = List.of(
        new KvResponse.Read(new ReadResult(Optional.of(new byte[256]), ReadConsistency.LINEARIZABLE, 3, 2, 99, Duration.ofMillis(5))),
        new KvResponse.Read(new ReadResult(Optional.empty(), ReadConsistency.LEASE, 3, 2, 99, Duration.ZERO)),
        new KvResponse.Written(false),
        new KvResponse.Failure(KvResponse.Code.NOT_LEADER, "not the leader", 3, 2, "127.0.0.1:2", false),
        KvResponse.Failure.of(KvResponse.Code.TIMEOUT, "late"));
    List<KvResponse> all = new java.util.ArrayList<>(one);
    all.add(new KvResponse.Multi(one));
    for (KvResponse r : all) {
      assertEquals(Codec.encodeResponse(r).length, 1 + Codec.responseSize(r), r.toString());
    }
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

  /** A log command of every kind (FormatTest names them by position). */
  static List<Command> commandSamples() {
    return List.of(new Command.Write(5, 6, 4, new WriteOp.Put(b("k"), b("v"))),
        new Command.Split(b("m"), 77), new Command.CheckHash(), new Command.Freeze(3), new Command.Merge(4, b("seed")),
        new Command.SetNodeState(5, "127.0.0.1:7005", false), packed());
  }

  @Test
  void commandsRoundTrip() {
    for (Command c : commandSamples()) {
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
    assertEquals("malformed request at byte 1: unknown format version 9 (this node reads format 1: written by another version?)",
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

  private static KvRequest.Multi multi() {
    return new KvRequest.Multi(List.of(
        new KvRequest.Multi.Item(new KvRequest.Get(b("a"), ReadConsistency.LINEARIZABLE), 1000),
        new KvRequest.Multi.Item(new KvRequest.Write(7, 3, 2, new WriteOp.Put(b("k"), b("v"))), 250),
        new KvRequest.Multi.Item(new KvRequest.Get(b("b"), ReadConsistency.LEASE), 1),
        new KvRequest.Multi.Item(new KvRequest.Write(7, 4, 2, new WriteOp.Cas(b("k"), Optional.of(b("v")), b("w"))), 999),
        new KvRequest.Multi.Item(new KvRequest.Get(b("c"), ReadConsistency.FOLLOWER), 5),
        new KvRequest.Multi.Item(new KvRequest.Get(b("d"), ReadConsistency.STALE), 6)));
  }

  @Test
  void aMultiRoundTripsAndIsTheSameBytesWhenBuiltFromEncodedItems() {
    KvRequest.Multi m = multi();
    roundTripsRequest(m);
    KvRequest.Multi back = (KvRequest.Multi) Codec.decodeRequest(Codec.encodeRequest(m));
    assertEquals(List.of(1000L, 250L, 1L, 999L, 5L, 6L),
        back.items().stream().map(KvRequest.Multi.Item::timeoutMillis).toList());
    assertEquals(ReadConsistency.FOLLOWER, ((KvRequest.Get) back.items().get(4).request()).consistency());
    // The client's path: items encoded one by one on the callers' threads, then concatenated.
    List<byte[]> encoded = m.items().stream().map(i -> Codec.encodeRequest(i.request())).toList();
    long[] timeouts = m.items().stream().mapToLong(KvRequest.Multi.Item::timeoutMillis).toArray();
    assertEquals(Arrays.toString(Codec.encodeRequest(m)), Arrays.toString(Codec.encodeMulti(encoded, timeouts)));

    KvResponse.Multi answers = new KvResponse.Multi(List.of(
        new KvResponse.Read(new ReadResult(Optional.of(b("v")), ReadConsistency.LEASE, 3, 2, 99, Duration.ZERO)),
        new KvResponse.Written(false),
        new KvResponse.Failure(KvResponse.Code.NOT_LEADER, "no", 3, 2, "127.0.0.1:2", false),
        new KvResponse.Read(new ReadResult(Optional.empty(), ReadConsistency.STALE, 1, 1, 4, Duration.ofMillis(3)))));
    byte[] once = Codec.encodeResponse(answers);
    KvResponse back2 = Codec.decodeResponse(once);
    assertEquals(Arrays.toString(once), Arrays.toString(Codec.encodeResponse(back2)));
    assertEquals(answers.answers().get(2), ((KvResponse.Multi) back2).answers().get(2));
  }

  @Test
  void aMultiCarriesOnlyGetsAndWritesWithinItsBounds() {
    assertEquals("a multi carries only gets and writes, not Status[]", assertThrows(IllegalArgumentException.class,
        () -> new KvRequest.Multi.Item(new KvRequest.Status(), 10)).getMessage());
    assertThrows(IllegalArgumentException.class, () -> new KvRequest.Multi.Item(multi(), 10));
    assertThrows(IllegalArgumentException.class,
        () -> new KvRequest.Multi.Item(new KvRequest.Get(b("a"), ReadConsistency.STALE), 0));
    assertThrows(IllegalArgumentException.class, () -> new KvRequest.Multi(List.of()));
    assertThrows(IllegalArgumentException.class, () -> new KvResponse.Multi(List.of(new KvResponse.Multi(List.of()))));
    KvRequest.Multi.Item get = new KvRequest.Multi.Item(new KvRequest.Get(b("a"), ReadConsistency.STALE), 10);
    assertThrows(IllegalArgumentException.class, () -> new KvRequest.Multi(
        java.util.Collections.nCopies(KvRequest.Multi.MAX_ITEMS + 1, get)));
  }

  /** A multi's header (format, tag, count) followed by {@code items}, each: timeout, length, body. */
  private static byte[] rawMulti(int count, Object... items) {
    Codec.Writer w = new Codec.Writer().u8(Codec.FORMAT).u8(10).i32(count);
    for (int i = 0; i < items.length; i += 3) {
      byte[] body = (byte[]) items[i + 2];
      w.i32((Integer) items[i]).i32((Integer) items[i + 1]).raw(body, 0, body.length);
    }
    return w.toArray();
  }

  private static byte[] body(KvRequest r) {
    byte[] e = Codec.encodeRequest(r);
    return Arrays.copyOfRange(e, 1, e.length);
  }

  private static String refusal(byte[] bytes) {
    return assertThrows(IllegalArgumentException.class, () -> Codec.decodeRequest(bytes)).getMessage();
  }

  @Test
  void aMalformedOrOversizedMultiIsRefusedWithASpecificReason() {
    byte[] get = body(new KvRequest.Get(b("k"), ReadConsistency.LINEARIZABLE));
    byte[] status = body(new KvRequest.Status());
    byte[] nested = body(multi());
    assertEquals("malformed request at byte 14: item 0 of a multi is a nested multi",
        refusal(rawMulti(1, 10, nested.length, nested)));
    assertEquals("malformed request at byte 14: item 0 of a multi is not a get or a write (request tag 4)",
        refusal(rawMulti(1, 10, status.length, status)));
    assertEquals("malformed request at byte 6: a multi of 0 items (1 to 512 allowed)", refusal(rawMulti(0)));
    byte[] many = rawMulti(KvRequest.Multi.MAX_ITEMS + 1);
    byte[] padded = Arrays.copyOf(many, many.length + 9 * (KvRequest.Multi.MAX_ITEMS + 1));
    assertEquals("malformed request at byte 6: a multi of 513 items (1 to 512 allowed)", refusal(padded));
    assertEquals("malformed request at byte 10: item 0 of a multi has timeout 0 ms",
        refusal(rawMulti(1, 0, get.length, get)));
    assertEquals("malformed request at byte " + (14 + get.length) + ": item 0 of a multi took " + get.length
        + " bytes, its length says " + (get.length - 1), refusal(rawMulti(1, 10, get.length - 1, get)));
    assertTrue(refusal(rawMulti(2, 10, get.length, get)).contains("count 2 does not fit"));
    assertTrue(refusal(rawMulti(1, 10, 1 << 30, get)).contains("needs 1073741824 bytes"));
    byte[] huge = new byte[KvRequest.Multi.MAX_BYTES + 1];
    System.arraycopy(rawMulti(1), 0, huge, 0, 6);
    assertEquals("malformed request at byte 2: a multi of 4194305 bytes is over the limit of 4194304",
        refusal(huge));
    // Answers: a nested multi is refused too.
    byte[] answer = Codec.encodeResponse(new KvResponse.Multi(List.of(new KvResponse.Written(true))));
    answer[6] = 9;
    assertEquals("malformed response at byte 6: answer 0 of a multi is a nested multi",
        assertThrows(IllegalArgumentException.class, () -> Codec.decodeResponse(answer)).getMessage());
    // ... and so is a status or directory report (their optional last fields would read the next answer).
    answer[6] = 7;
    assertEquals("malformed response at byte 6: answer 0 of a multi is a status or directory report",
        assertThrows(IllegalArgumentException.class, () -> Codec.decodeResponse(answer)).getMessage());
    answer[6] = 8; // ... and a route table (its members are optional)
    assertEquals("malformed response at byte 6: answer 0 of a multi is a route table",
        assertThrows(IllegalArgumentException.class, () -> Codec.decodeResponse(answer)).getMessage());
  }

  @Test
  void preferredLeadersTravelInStatusAndDirectoryReportsAndMayBeAbsentFromAnOlderNodes() {
    ClusterStatus status = new ClusterStatus(1, Map.of(1L, "127.0.0.1:1"), List.of(), Set.of(1L, 3L),
        Map.of(2L, Set.of(2L), 3L, Set.of()));
    assertEquals(status, ((KvResponse.StatusReport) Codec.decodeResponse(
        Codec.encodeResponse(new KvResponse.StatusReport(status)))).status());
    KvResponse.DirectoryReport none = new KvResponse.DirectoryReport(2, List.of(), Map.of(), Optional.of(Set.of()));
    KvResponse.DirectoryReport some = new KvResponse.DirectoryReport(2, List.of(), Map.of(), Optional.of(Set.of(1L)));
    assertEquals(none, Codec.decodeResponse(Codec.encodeResponse(none)));
    assertEquals(some, Codec.decodeResponse(Codec.encodeResponse(some)));
    // An older node's answers end before these fields: no preference known, or none reported.
    byte[] old = Codec.encodeResponse(new KvResponse.DirectoryReport(2, List.of(), Map.of()));
    assertEquals(Optional.empty(), ((KvResponse.DirectoryReport) Codec.decodeResponse(old)).preferredLeaders());
    assertEquals(Codec.encodeResponse(none).length, old.length + 4, "an empty set is 4 bytes more than none");
    ClusterStatus plain = new ClusterStatus(1, Map.of(), List.of());
    byte[] withEmpty = Codec.encodeResponse(new KvResponse.StatusReport(plain));
    byte[] oldStatus = Arrays.copyOf(withEmpty, withEmpty.length - 8); // without the empty set and mismatch
    assertEquals(plain, ((KvResponse.StatusReport) Codec.decodeResponse(oldStatus)).status());
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
    Arbitrary<byte[]> writes = keys.flatMap(k -> keys.map(v -> Codec.encodeRequest(
        new KvRequest.Write(1, 2, 1, new WriteOp.Batch(List.of(new BatchOp.Put(k, v), new BatchOp.Delete(v)))))));
    Arbitrary<byte[]> multis = keys.flatMap(k -> keys.map(v -> Codec.encodeRequest(new KvRequest.Multi(List.of(
        new KvRequest.Multi.Item(new KvRequest.Get(k, ReadConsistency.LEASE), 100),
        new KvRequest.Multi.Item(new KvRequest.Write(1, 2, 1, new WriteOp.Put(k, v)), 200))))));
    return Arbitraries.oneOf(writes, multis);
  }
}
