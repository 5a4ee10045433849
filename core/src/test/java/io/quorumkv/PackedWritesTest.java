package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * Entries of several client writes ({@link Command.Writes}) in the partition state machine: each
 * write has its own session, range check, frozen-partition refusal and result, exactly as if it had
 * an entry of its own.
 */
class PackedWritesTest {

  private static final long TIMEOUT_MS = 60_000;
  private static final KeySpan.Range ALL = new KeySpan.Range(new byte[0], new byte[0]);
  private static final long NOW = 1_000;

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static Command.Write put(long client, long seq, String key, String value) {
    return new Command.Write(client, seq, 1, new WriteOp.Put(b(key), b(value)));
  }

  private static Command.Write cas(long client, long seq, String key, String expected, String value) {
    return new Command.Write(client, seq, 1, new WriteOp.Cas(b(key),
        expected == null ? Optional.empty() : Optional.of(b(expected)), b(value)));
  }

  private static PartitionStateMachine.Outcome apply(PartitionStateMachine sm, long index, Command c) {
    return sm.apply(index, 1, Codec.encodeCommand(new Command.Stamped(NOW, c)));
  }

  private static List<PartitionStateMachine.Outcome> applyPacked(PartitionStateMachine sm, long index,
      Command.Write... writes) {
    PartitionStateMachine.Outcome o = apply(sm, index, new Command.Writes(List.of(writes)));
    List<PartitionStateMachine.Outcome> each = assertInstanceOf(PartitionStateMachine.Outcome.Writes.class, o).each();
    assertEquals(writes.length, each.size());
    return each;
  }

  private static PartitionStateMachine.Outcome written(boolean result) {
    return new PartitionStateMachine.Outcome.Written(result);
  }

  private static Optional<String> get(PartitionStateMachine sm, String key) {
    sm.flush();
    return sm.get(b(key)).map(v -> new String(v, StandardCharsets.UTF_8));
  }

  private static PartitionStateMachine open(KeySpan span) {
    return PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS, span);
  }

  @Test
  void eachWriteOfAnEntryHasItsOwnResultAndSeesTheWritesBeforeIt() {
    PartitionStateMachine sm = open(ALL);
    List<PartitionStateMachine.Outcome> each = applyPacked(sm, 1,
        cas(7, 1, "k", null, "a"),       // absent: applies
        cas(8, 1, "k", null, "b"),       // present now: mismatch
        cas(9, 1, "k", "a", "c"),        // sees the first write of its own entry
        put(7, 2, "x", "1"));
    assertEquals(List.of(written(true), written(false), written(true), written(true)), each);
    assertEquals(Optional.of("c"), get(sm, "k"));
    assertEquals(Optional.of("1"), get(sm, "x"));
    assertEquals(1, sm.appliedIndex());
  }

  @Test
  void aBlindRetryOfAPackedWriteAppliesOnceWhereverItLands() {
    PartitionStateMachine sm = open(ALL);
    applyPacked(sm, 1, cas(7, 1, "k", null, "a"), put(8, 1, "k", "other"));
    // Retried alone: the first result (true), and no second execution (the cas would now fail).
    assertEquals(written(true), apply(sm, 2, cas(7, 1, "k", null, "a")));
    // Retried inside another packed entry, next to a new write of the same client.
    List<PartitionStateMachine.Outcome> each = applyPacked(sm, 3, put(8, 1, "k", "other"), cas(7, 1, "k", null, "a"),
        cas(7, 2, "k", "other", "z"));
    assertEquals(List.of(written(true), written(true), written(true)), each);
    assertEquals(Optional.of("z"), get(sm, "k"));
    // The same write twice in one entry: the second is the first's retry.
    PartitionStateMachine other = open(ALL);
    assertEquals(List.of(written(true), written(true)),
        applyPacked(other, 1, cas(5, 1, "k", null, "a"), cas(5, 1, "k", null, "a")));
    assertEquals(List.of(written(false), written(false)),
        applyPacked(other, 2, cas(5, 2, "k", null, "b"), cas(5, 2, "k", null, "b")));
    assertEquals(Optional.of("a"), get(other, "k"));
  }

  @Test
  void aWriteAcknowledgedByAnEarlierWriteOfItsEntryIsRefused() {
    PartitionStateMachine sm = open(ALL);
    applyPacked(sm, 1, put(7, 1, "k", "1"));
    // (7, 3) acknowledges everything below 3 before (7, 1)'s retry comes in the same entry.
    List<PartitionStateMachine.Outcome> each = applyPacked(sm, 2,
        new Command.Write(7, 3, 3, new WriteOp.Put(b("k"), b("3"))), put(7, 1, "k", "1"));
    assertEquals(written(true), each.get(0));
    assertEquals(KvResponse.Code.SESSION_EXPIRED,
        assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, each.get(1)).code());
    assertEquals(Optional.of("3"), get(sm, "k"));
  }

  @Test
  void aWriteOutsideTheSpanIsRefusedAloneAndTheOthersApply() {
    PartitionStateMachine left = open(new KeySpan.Range(new byte[0], b("m")));
    List<PartitionStateMachine.Outcome> each = applyPacked(left, 1, put(7, 1, "a", "A"), put(7, 2, "z", "Z"),
        cas(8, 1, "b", null, "B"));
    assertEquals(written(true), each.get(0));
    assertEquals(KvResponse.Code.WRONG_PARTITION,
        assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, each.get(1)).code());
    assertEquals(written(true), each.get(2));
    assertEquals(Optional.of("A"), get(left, "a"));
    assertEquals(Optional.empty(), get(left, "z"));
    assertEquals(Optional.of("B"), get(left, "b"));
    // The refused write left no result in its session: retried where it belongs, it applies there.
    PartitionStateMachine right = open(new KeySpan.Range(b("m"), new byte[0]));
    assertEquals(written(true), apply(right, 1, put(7, 2, "z", "Z")));
  }

  @Test
  void aFrozenPartitionRefusesEveryWriteOfAnEntry() {
    PartitionStateMachine right = open(new KeySpan.Range(b("m"), new byte[0]));
    assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class, apply(right, 1, new Command.Freeze(1)));
    for (PartitionStateMachine.Outcome o : applyPacked(right, 2, put(7, 1, "n", "N"), put(8, 1, "o", "O"))) {
      assertEquals(KvResponse.Code.WRONG_PARTITION,
          assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, o).code());
    }
    assertEquals(Optional.empty(), get(right, "n"));
  }

  @Test
  void packedEntriesSurviveARestartWithTheirSessions() {
    MemoryPartitionStore store = new MemoryPartitionStore();
    PartitionStateMachine sm = PartitionStateMachine.open(1, store, 0, TIMEOUT_MS, ALL);
    applyPacked(sm, 1, cas(7, 1, "k", null, "a"), put(8, 1, "j", "J"));
    sm.flush();
    PartitionStateMachine reopened = PartitionStateMachine.open(1, store, 1, TIMEOUT_MS, ALL);
    assertEquals(written(true), apply(reopened, 2, cas(7, 1, "k", null, "a")));
    assertEquals(written(false), apply(reopened, 3, cas(7, 2, "k", null, "a")));
    reopened.flush();
    assertArrayEquals(b("a"), reopened.get(b("k")).orElseThrow());
  }

  /**
   * Packing changes nothing but the number of entries: the same writes (sessions, retries,
   * acknowledgements, conditions) applied in packed entries and one per entry give the same
   * outcome for every write and the same data and sessions.
   */
  @Property(tries = 200)
  void packedEntriesApplyAsTheSameWritesOnePerEntry(@ForAll("writes") List<Command.Write> writes,
      @ForAll("cuts") List<Integer> cuts) {
    PartitionStateMachine packed = open(new KeySpan.Range(new byte[0], b("d")));
    PartitionStateMachine single = open(new KeySpan.Range(new byte[0], b("d")));
    List<PartitionStateMachine.Outcome> viaPacked = new ArrayList<>();
    List<PartitionStateMachine.Outcome> viaSingle = new ArrayList<>();
    long index = 0;
    int from = 0;
    for (int i = 0; from < writes.size(); i++) {
      int n = Math.min(cuts.isEmpty() ? 1 : cuts.get(i % cuts.size()), writes.size() - from);
      List<Command.Write> group = writes.subList(from, from + n);
      PartitionStateMachine.Outcome o = apply(packed, ++index, new Command.Writes(group));
      viaPacked.addAll(assertInstanceOf(PartitionStateMachine.Outcome.Writes.class, o).each());
      from += n;
    }
    long singleIndex = 0;
    for (Command.Write w : writes) {
      viaSingle.add(apply(single, ++singleIndex, w));
    }
    assertEquals(viaSingle, viaPacked);
    assertEquals(data(single), data(packed));
    // The replica hash covers data, every live session (results, acknowledgements) and the span.
    long hashPacked = assertInstanceOf(PartitionStateMachine.Outcome.Hashed.class,
        apply(packed, ++index, new Command.CheckHash())).hash().hash();
    long hashSingle = assertInstanceOf(PartitionStateMachine.Outcome.Hashed.class,
        apply(single, ++singleIndex, new Command.CheckHash())).hash().hash();
    assertEquals(hashSingle, hashPacked);
  }

  private static String data(PartitionStateMachine sm) {
    sm.flush();
    StringBuilder out = new StringBuilder();
    for (KeyValue kv : sm.scan(new byte[0], new byte[0], 100)) {
      out.append(kv.keyString()).append('=').append(new String(kv.value(), StandardCharsets.UTF_8)).append(' ');
    }
    return out.toString();
  }

  @Provide
  Arbitrary<List<Command.Write>> writes() {
    Arbitrary<String> keys = Arbitraries.of("a", "b", "c", "e"); // "e" is outside the span
    Arbitrary<String> values = Arbitraries.of("1", "2", "3");
    Arbitrary<Long> clients = Arbitraries.longs().between(1, 3);
    Arbitrary<Long> seqs = Arbitraries.longs().between(1, 6);
    Arbitrary<WriteOp> ops = Arbitraries.oneOf(
        Combinators.combine(keys, values).as((k, v) -> (WriteOp) new WriteOp.Put(b(k), b(v))),
        keys.map(k -> (WriteOp) new WriteOp.Delete(b(k))),
        Combinators.combine(keys, values.injectNull(0.4), values)
            .as((k, e, v) -> (WriteOp) new WriteOp.Cas(b(k), e == null ? Optional.empty() : Optional.of(b(e)), b(v))));
    Arbitrary<Command.Write> write = Combinators.combine(clients, seqs, Arbitraries.longs().between(0, 3), ops)
        .as((c, s, acked, op) -> new Command.Write(c, s, acked, op));
    return write.list().ofMinSize(1).ofMaxSize(30);
  }

  @Provide
  Arbitrary<List<Integer>> cuts() {
    return Arbitraries.integers().between(1, 6).list().ofMaxSize(5);
  }
}
