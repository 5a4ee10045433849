package io.quorumkv;

import static io.quorumkv.CodecTest.b;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.testkit.GoldenBytes;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The bytes of format {@link Codec#FORMAT}: the log commands and partition state records that
 * users' disks keep (a later version must read them), and the requests and answers nodes of one
 * version send each other (another format is refused as "unknown format version", so a change
 * there must come with a new format). The golden file holds what this format writes; any change,
 * down to an enum written by its ordinal being reordered, fails here.
 */
class FormatTest {

  private static final String GOLDEN = "format-" + Codec.FORMAT + ".txt";
  private static final long STAMP = 1_764_000_000_000L;
  private static final long SESSION_TIMEOUT_MS = 60_000;

  /** The state a fixed script of commands leaves in a partition, and the seed its freeze hands on. */
  private record Scripted(MemoryPartitionStore store, PartitionStateMachine sm, byte[] seed, long index) {}

  private static Scripted script() {
    MemoryPartitionStore store = new MemoryPartitionStore();
    PartitionStateMachine sm = PartitionStateMachine.open(1, store, 0, SESSION_TIMEOUT_MS,
        new KeySpan.Range(new byte[0], new byte[0]));
    List<Command> commands = List.of(
        new Command.Write(7, 1, 1, new WriteOp.Put(b("a"), b("1"))),
        new Command.Write(7, 2, 1, new WriteOp.Put(b("x"), b("on the other side of the split"))),
        new Command.Write(8, 1, 1, new WriteOp.Cas(b("b"), Optional.empty(), b("2"))),
        new Command.Write(8, 2, 2, new WriteOp.Batch(List.of(BatchOp.expect("a", "1"), BatchOp.put("c", "3"),
            BatchOp.delete("b")))),
        new Command.Write(7, 3, 2, new WriteOp.Delete(b("nothing"))),
        new Command.SetNodeState(4, "127.0.0.1:7004", false),
        new Command.SetNodeState(5, "127.0.0.1:7005", true),
        new Command.Split(b("m"), 77),
        new Command.CheckHash(),
        new Command.Freeze(9));
    long index = 0;
    byte[] seed = null;
    for (Command c : commands) {
      PartitionStateMachine.Outcome o = sm.apply(++index, 2, Codec.encodeCommand(new Command.Stamped(STAMP + index, c)));
      if (o instanceof PartitionStateMachine.Outcome.Frozen f) {
        seed = f.seed();
      }
    }
    // A rebuild's removal: the partition's state records the rebuild pending (ReplicaRepair#afterChange).
    sm.applyConfChange(++index, 2, ConfState.ofVoters(Set.of(1L, 2L)), new ConfChange(
        List.of(new ConfChange.Single(ConfChangeType.REMOVE, 3)), ConfChange.Transition.AUTO, b("rebuild:127.0.0.1:7003")));
    sm.flush();
    return new Scripted(store, sm, seed, index);
  }

  /** Every sample of this format, by a stable name; new samples get new names. */
  static Map<String, byte[]> samples() {
    Map<String, byte[]> s = new LinkedHashMap<>();
    List<Command> commands = CodecTest.commandSamples();
    for (int i = 0; i < commands.size(); i++) {
      s.put(name("command", i, commands.get(i)), Codec.encodeCommand(new Command.Stamped(STAMP, commands.get(i))));
    }
    Scripted state = script();
    for (KeyValue kv : state.store().scan(new byte[0], new byte[0], Integer.MAX_VALUE)) {
      s.put("state." + HexFormat.of().formatHex(kv.key()), kv.value());
    }
    s.put("seed", state.seed());
    s.put("span.range", PartitionStateMachine.encodeSpan(new KeySpan.Range(b("a"), b("m"))));
    s.put("span.range-to-the-end", PartitionStateMachine.encodeSpan(new KeySpan.Range(b("m"), new byte[0])));
    s.put("span.hash", PartitionStateMachine.encodeSpan(new KeySpan.HashSlot(3, 8)));
    List<KvRequest> requests = CodecTest.requestSamples();
    for (int i = 0; i < requests.size(); i++) {
      s.put(name("request", i, requests.get(i)), Codec.encodeRequest(requests.get(i)));
    }
    List<KvResponse> responses = CodecTest.responseSamples();
    for (int i = 0; i < responses.size(); i++) {
      s.put(name("response", i, responses.get(i)), Codec.encodeResponse(responses.get(i)));
    }
    return s;
  }

  private static String name(String kind, int i, Object sample) {
    return String.format("%s.%02d.%s", kind, i, sample.getClass().getSimpleName());
  }

  @Test
  void theBytesOfThisFormatAreTheGoldenOnes() {
    GoldenBytes.check(FormatTest.class, GOLDEN,
        "Codec.FORMAT " + Codec.FORMAT + ": log commands, partition state records (state.<key>), a merge seed,\n"
            + "spans, and the requests and answers between nodes.\n"
            + "Users' logs and state hold the command and state bytes: never edit a line; a new format gets\n"
            + "a new file, and the decoders keep reading this one.",
        samples(),
        "The bytes of format " + Codec.FORMAT + " changed. Logs and state on users' disks hold the old command "
            + "and state bytes, and nodes of the last release send and expect the old messages: keep the "
            + "encoding, or raise Codec.FORMAT, keep decoding format " + Codec.FORMAT + " where it is stored, "
            + "and add a golden file for the new format (docs/operations.md, \"Upgrades and formats\").");
  }

  @Test
  void everyGoldenCommandDecodesAndWritesTheSameBytesAgain() {
    Map<String, byte[]> golden = GoldenBytes.load(FormatTest.class, GOLDEN).orElseThrow();
    int commands = 0;
    for (Map.Entry<String, byte[]> e : golden.entrySet()) {
      if (e.getKey().startsWith("command.")) {
        Command.Stamped back = Codec.decodeCommand(e.getValue());
        assertEquals(STAMP, back.stampMillis(), e.getKey());
        assertArrayEquals(e.getValue(), Codec.encodeCommand(back), e.getKey());
        commands++;
      }
    }
    assertEquals(CodecTest.commandSamples().size(), commands);
    PartitionStateMachine.Seed seed = PartitionStateMachine.decodeSeed(golden.get("seed"));
    assertArrayEquals(golden.get("seed"), PartitionStateMachine.encodeSeed(seed));
  }

  @Test
  void aPartitionOpensFromTheGoldenStateAsTheScriptLeftIt() {
    Map<String, byte[]> golden = GoldenBytes.load(FormatTest.class, GOLDEN).orElseThrow();
    List<KeyValue> entries = new ArrayList<>();
    golden.forEach((name, value) -> {
      if (name.startsWith("state.")) {
        entries.add(new KeyValue(HexFormat.of().parseHex(name.substring("state.".length())), value));
      }
    });
    Scripted live = script();
    PartitionStateMachine fromGolden = PartitionStateMachine.open(1, new MemoryPartitionStore(entries, live.index()), 2,
        SESSION_TIMEOUT_MS, new KeySpan.Range(new byte[0], new byte[0]));
    assertEquals(live.sm().span(), fromGolden.span());
    assertEquals(9, fromGolden.frozenInto());
    assertEquals(live.sm().registeredNodes(), fromGolden.registeredNodes());
    assertEquals(2, fromGolden.registeredNodes().size());
    assertEquals(new ReplicaRepair.Rebuild(3, "127.0.0.1:7003"), fromGolden.rebuild());
    for (String key : List.of("a", "b", "c", "x")) {
      assertEquals(live.sm().get(b(key)).map(String::new), fromGolden.get(b(key)).map(String::new), key);
    }
    assertEquals(Optional.of("1"), fromGolden.get(b("a")).map(String::new));
    // Sessions, span and data came back exactly: both hash alike at the next entry.
    byte[] check = Codec.encodeCommand(new Command.Stamped(STAMP + 20, new Command.CheckHash()));
    PartitionStateMachine.HashJob want = assertInstanceOf(PartitionStateMachine.Outcome.Hashed.class,
        live.sm().apply(live.index() + 1, 2, check)).job();
    PartitionStateMachine.HashJob got = assertInstanceOf(PartitionStateMachine.Outcome.Hashed.class,
        fromGolden.apply(live.index() + 1, 2, check)).job();
    assertEquals(want.compute(), got.compute());
  }
}
