package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The replicated KV semantics, applied entry by entry without any Raft around them. */
class PartitionStateMachineTest {

  private static final long TIMEOUT_MS = 60_000;
  private static final KeySpan.Range ALL = new KeySpan.Range(new byte[0], new byte[0]);

  private final MemoryPartitionStore store = new MemoryPartitionStore();
  private final PartitionStateMachine sm = PartitionStateMachine.open(1, store, 0, TIMEOUT_MS, ALL);
  private long index;
  private long now = 1_000;

  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A write by a client that has acknowledged nothing yet (so every result stays cached). */
  private PartitionStateMachine.Outcome write(long client, long seq, WriteOp op) {
    return sm.apply(++index, 1, Codec.encodeCommand(new Command.Stamped(now, new Command.Write(client, seq, 1, op))));
  }

  private boolean ok(PartitionStateMachine.Outcome o) {
    return assertInstanceOf(PartitionStateMachine.Outcome.Written.class, o).result();
  }

  private Optional<String> get(String key) {
    sm.flush();
    return sm.get(b(key)).map(v -> new String(v, StandardCharsets.UTF_8));
  }

  @Test
  void putGetDeleteReportPresence() {
    assertTrue(ok(write(7, 1, new WriteOp.Put(b("k"), b("v1")))));
    assertEquals(Optional.of("v1"), get("k"));
    assertTrue(ok(write(7, 2, new WriteOp.Delete(b("k")))));
    assertFalse(ok(write(7, 3, new WriteOp.Delete(b("k")))));
    assertEquals(Optional.empty(), get("k"));
  }

  @Test
  void compareAndSetAgainstValueAndAbsence() {
    assertTrue(ok(write(7, 1, new WriteOp.Cas(b("k"), Optional.empty(), b("a")))));
    assertFalse(ok(write(7, 2, new WriteOp.Cas(b("k"), Optional.empty(), b("b")))));
    assertFalse(ok(write(7, 3, new WriteOp.Cas(b("k"), Optional.of(b("x")), b("b")))));
    assertTrue(ok(write(7, 4, new WriteOp.Cas(b("k"), Optional.of(b("a")), b("b")))));
    assertEquals(Optional.of("b"), get("k"));
  }

  @Test
  void batchIsAllOrNothingAndSeesItsOwnBatchOfEntries() {
    // Two writes in the same apply batch (no flush between): the CAS sees the put.
    write(7, 1, new WriteOp.Put(b("a"), b("1")));
    assertTrue(ok(write(7, 2, new WriteOp.Cas(b("a"), Optional.of(b("1")), b("2")))));
    assertFalse(ok(write(7, 3, new WriteOp.Batch(List.of(
        BatchOp.put("b", "x"), BatchOp.expect("a", "1"), BatchOp.delete("a"))))));
    assertEquals(Optional.empty(), get("b"));
    assertEquals(Optional.of("2"), get("a"));
    assertTrue(ok(write(7, 4, new WriteOp.Batch(List.of(
        BatchOp.expect("a", "2"), BatchOp.expectAbsent("b"), BatchOp.put("b", "x"), BatchOp.delete("a"))))));
    assertEquals(Optional.of("x"), get("b"));
    assertEquals(Optional.empty(), get("a"));
  }

  @Test
  void aRetriedWriteAppliesOnceAndReturnsTheFirstResult() {
    assertTrue(ok(write(7, 1, new WriteOp.Cas(b("k"), Optional.empty(), b("a")))));
    write(8, 1, new WriteOp.Put(b("k"), b("other")));
    // The retry of (7, 1) must not apply again: it returns true, the value stays "other".
    assertTrue(ok(write(7, 1, new WriteOp.Cas(b("k"), Optional.empty(), b("a")))));
    assertEquals(Optional.of("other"), get("k"));
  }

  @Test
  void deduplicationSurvivesRestartFromTheStore() {
    write(7, 5, new WriteOp.Delete(b("k")));
    write(7, 6, new WriteOp.Put(b("k"), b("v")));
    sm.flush();
    PartitionStateMachine reopened = PartitionStateMachine.open(1, store, 0, TIMEOUT_MS, ALL);
    Outcome o = Outcome.of(reopened.apply(++index, 1, Codec.encodeCommand(
        new Command.Stamped(now, new Command.Write(7, 5, 1, new WriteOp.Delete(b("k")))))));
    assertFalse(o.result, "the retried delete returns its first result (absent) and deletes nothing");
    reopened.flush();
    assertArrayEquals(b("v"), reopened.get(b("k")).orElseThrow());
  }

  private record Outcome(boolean result) {
    static Outcome of(PartitionStateMachine.Outcome o) {
      return new Outcome(((PartitionStateMachine.Outcome.Written) o).result());
    }
  }

  @Test
  void acknowledgedResultsAreForgottenAndTheirRetriesRejected() {
    write(7, 1, new WriteOp.Put(b("k"), b("1")));
    sm.apply(++index, 1, Codec.encodeCommand(new Command.Stamped(now,
        new Command.Write(7, 3, 3, new WriteOp.Put(b("k"), b("3"))))));
    PartitionStateMachine.Outcome o = write(7, 1, new WriteOp.Put(b("k"), b("1")));
    assertEquals(KvResponse.Code.SESSION_EXPIRED,
        assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, o).code());
    assertEquals(Optional.of("3"), get("k"));
  }

  @Test
  void sessionsExpireByLogTimeNotByTheApplierClock() {
    write(7, 1, new WriteOp.Put(b("k"), b("1")));
    // Another client's entry stamped past the timeout (and the log time's rounding) expires client
    // 7's session...
    now += TIMEOUT_MS + PartitionStateMachine.logTimeGranuleMillis(TIMEOUT_MS);
    write(8, 1, new WriteOp.Put(b("x"), b("y")));
    // ...so a late retry of (7, 1) is a new write: exactly-once needs retries inside the timeout.
    write(9, 1, new WriteOp.Put(b("k"), b("2")));
    assertTrue(ok(write(7, 1, new WriteOp.Put(b("k"), b("1")))));
    assertEquals(Optional.of("1"), get("k"));
    // Within the timeout the same retry is deduplicated.
    write(9, 2, new WriteOp.Put(b("k"), b("2")));
    assertTrue(ok(write(7, 1, new WriteOp.Put(b("k"), b("1")))));
    assertEquals(Optional.of("2"), get("k"));
  }

  @Test
  void logTimeMovesByWholeGranulesSoItIsNotRewrittenWithEveryBatch() {
    long granule = PartitionStateMachine.logTimeGranuleMillis(TIMEOUT_MS);
    assertEquals(600, granule);
    now = 10 * granule + 1;
    write(7, 1, new WriteOp.Put(b("k"), b("1")));
    sm.flush();
    assertEquals(10 * granule, storedLogTime());
    // Later stamps inside the same granule write no log time.
    now = 11 * granule - 1;
    write(7, 2, new WriteOp.Put(b("k"), b("2")));
    sm.flush();
    assertEquals(10 * granule, storedLogTime());
    now = 11 * granule;
    write(7, 3, new WriteOp.Put(b("k"), b("3")));
    sm.flush();
    assertEquals(11 * granule, storedLogTime());
    // Rounding down delays an expiry by less than a granule, never advances one.
    now = 11 * granule + TIMEOUT_MS;
    write(8, 1, new WriteOp.Put(b("x"), b("y")));
    write(9, 1, new WriteOp.Put(b("k"), b("4")));
    assertTrue(ok(write(7, 3, new WriteOp.Put(b("k"), b("3")))));
    assertEquals(Optional.of("4"), get("k"), "a retry within the timeout is answered, not applied again");
  }

  private long storedLogTime() {
    byte[] v = store.get(PartitionStateMachine.META_LOG_TIME).orElseThrow();
    return new Codec.Reader(v, "log time").i64();
  }

  @Test
  void writesOutsideTheSpanAreRejectedWithoutEffect() {
    PartitionStateMachine left = PartitionStateMachine.open(2, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(new byte[0], b("m")));
    PartitionStateMachine.Outcome o = left.apply(1, 1, Codec.encodeCommand(new Command.Stamped(now,
        new Command.Write(7, 1, 1, new WriteOp.Put(b("z"), b("1"))))));
    assertEquals(KvResponse.Code.WRONG_PARTITION,
        assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, o).code());
    left.flush();
    assertEquals(Optional.empty(), left.get(b("z")));
  }

  @Test
  void splitMovesEveryKeyAtOrAboveTheSplitKeyExactlyOnce() {
    for (String k : List.of("a", "f", "m", "n", "z")) {
      write(7, index + 1, new WriteOp.Put(b(k), b(k.toUpperCase())));
    }
    PartitionStateMachine.Outcome o = sm.apply(++index, 1,
        Codec.encodeCommand(new Command.Stamped(now, new Command.Split(b("m"), 42))));
    PartitionStateMachine.Outcome.Split split = assertInstanceOf(PartitionStateMachine.Outcome.Split.class, o);
    assertEquals(42, split.newPartitionId());
    // Writes after the split in the same batch: keys >= m are refused here.
    PartitionStateMachine.Outcome late = write(7, index + 1, new WriteOp.Put(b("q"), b("Q")));
    assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, late);
    sm.flush();

    MemoryPartitionStore childStore = new MemoryPartitionStore();
    childStore.commit(new PartitionStore.Commit(PartitionStateMachine.seedMutations(split.seed()), 5, 5, null));
    PartitionStateMachine child = PartitionStateMachine.open(42, childStore, 5, TIMEOUT_MS, ALL);
    assertEquals(List.of("a", "f"), sm.scan(new byte[0], new byte[0], 100).stream().map(KeyValue::keyString).toList());
    assertEquals(List.of("m", "n", "z"), child.scan(new byte[0], new byte[0], 100).stream().map(KeyValue::keyString).toList());
    assertEquals("[m, +inf)", child.span().describe());
    assertEquals("[, m)", sm.span().describe());
    // Sessions went along: a retry of a write applied before the split is deduplicated there.
    PartitionStateMachine.Outcome retry = child.apply(6, 1, Codec.encodeCommand(new Command.Stamped(now,
        new Command.Write(7, 4, 1, new WriteOp.Put(b("n"), b("changed"))))));
    assertTrue(ok(retry));
    child.flush();
    assertArrayEquals(b("N"), child.get(b("n")).orElseThrow());
  }

  private PartitionStateMachine.Outcome command(PartitionStateMachine m, long at, Command c) {
    return m.apply(at, 1, Codec.encodeCommand(new Command.Stamped(now, c)));
  }

  @Test
  void aMergeHandsOverEveryKeyAndSessionOnceAndFencesTheRetiredPartition() {
    PartitionStateMachine left = PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(new byte[0], b("m")));
    PartitionStateMachine right = PartitionStateMachine.open(2, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(b("m"), new byte[0]));
    assertTrue(ok(command(left, 1, new Command.Write(7, 1, 1, new WriteOp.Put(b("a"), b("A"))))));
    assertTrue(ok(command(right, 1, new Command.Write(7, 2, 1, new WriteOp.Put(b("n"), b("N"))))));
    assertTrue(ok(command(right, 2, new Command.Write(8, 1, 1, new WriteOp.Put(b("z"), b("Z"))))));
    PartitionStateMachine.Outcome.Frozen frozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        command(right, 3, new Command.Freeze(1)));
    // From the freeze on, the retired partition changes nothing: a late write is refused, retryably.
    PartitionStateMachine.Outcome late = command(right, 4, new Command.Write(8, 2, 1, new WriteOp.Put(b("q"), b("Q"))));
    assertEquals(KvResponse.Code.WRONG_PARTITION, assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, late).code());
    right.flush();
    assertEquals(1L, right.frozenInto());
    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class, command(left, 2, new Command.Merge(2, frozen.seed())));
    // A write in the same batch as the merge sees the merged keys.
    assertTrue(ok(command(left, 3, new Command.Write(9, 1, 1, new WriteOp.Cas(b("n"), Optional.of(b("N")), b("N2"))))));
    // A merge applied again (a retried call) changes nothing.
    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class, command(left, 4, new Command.Merge(2, frozen.seed())));
    left.flush();
    assertEquals("[, +inf)", left.span().describe());
    assertEquals(List.of("a", "n", "z"), left.scan(new byte[0], new byte[0], 100).stream().map(KeyValue::keyString).toList());
    assertArrayEquals(b("N2"), left.get(b("n")).orElseThrow());
    // The session went along: a retry of the write the right partition applied is deduplicated.
    assertTrue(ok(command(left, 5, new Command.Write(8, 1, 1, new WriteOp.Put(b("z"), b("changed"))))));
    left.flush();
    assertArrayEquals(b("Z"), left.get(b("z")).orElseThrow());
  }

  @Test
  void theAbsorbingPartitionRecordsWhatItAbsorbedAndPassesItOnWhenItIsAbsorbedInTurn() {
    PartitionStateMachine left = PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(new byte[0], b("g")));
    PartitionStateMachine middle = PartitionStateMachine.open(3, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(b("g"), b("m")));
    PartitionStateMachine right = PartitionStateMachine.open(2, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(b("m"), new byte[0]));
    PartitionStateMachine.Outcome.Frozen frozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        command(right, 1, new Command.Freeze(3)));
    assertEquals(1, frozen.index());
    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class, command(middle, 1, new Command.Merge(2, frozen.seed())));
    middle.flush();
    assertEquals(Set.of(2L), middle.absorbed());
    // The middle one splits again where the right one began: a retried merge of the right one is
    // answered as done and changes nothing (its span alone would call it a neighbour again).
    assertInstanceOf(PartitionStateMachine.Outcome.Split.class, command(middle, 2, new Command.Split(b("m"), 4)));
    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class, command(middle, 3, new Command.Merge(2, frozen.seed())));
    middle.flush();
    assertEquals("[g, m)", middle.span().describe());
    // Absorbed in turn, the middle one hands its record on with its state.
    PartitionStateMachine.Outcome.Frozen middleFrozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        command(middle, 4, new Command.Freeze(1)));
    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class,
        command(left, 1, new Command.Merge(3, middleFrozen.seed())));
    left.flush();
    assertEquals(Set.of(2L, 3L), left.absorbed());
    assertEquals(Set.of(), right.absorbed());
  }

  @Test
  void aMergeOfANonNeighbourIsRefusedAndAThawedPartitionServesAgain() {
    PartitionStateMachine left = PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(new byte[0], b("g")));
    PartitionStateMachine right = PartitionStateMachine.open(2, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.Range(b("m"), new byte[0]));
    PartitionStateMachine.Outcome.Frozen frozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        command(right, 1, new Command.Freeze(1)));
    assertEquals(KvResponse.Code.INVALID_ARGUMENT, assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class,
        command(left, 1, new Command.Merge(2, frozen.seed()))).code());
    command(right, 2, new Command.Freeze(0));
    assertTrue(ok(command(right, 3, new Command.Write(7, 1, 1, new WriteOp.Put(b("n"), b("N"))))));
    right.flush();
    assertEquals(0L, right.frozenInto());
  }

  @Test
  void splitOutsideTheRangeOrOfAHashPartitionIsRefused() {
    PartitionStateMachine.Outcome o = sm.apply(++index, 1,
        Codec.encodeCommand(new Command.Stamped(now, new Command.Split(new byte[0], 42))));
    assertEquals(KvResponse.Code.INVALID_ARGUMENT,
        assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, o).code());
    PartitionStateMachine hashed = PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS,
        new KeySpan.HashSlot(1, 2));
    o = hashed.apply(1, 1, Codec.encodeCommand(new Command.Stamped(now, new Command.Split(b("m"), 42))));
    assertInstanceOf(PartitionStateMachine.Outcome.Rejected.class, o);
  }

  @Test
  void replicasWithTheSameHistoryHashTheSameAndADifferentOneDiffers() {
    PartitionStateMachine other = PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS, ALL);
    byte[] hashCmd = Codec.encodeCommand(new Command.Stamped(now, new Command.CheckHash()));
    for (int i = 1; i <= 3; i++) {
      byte[] cmd = Codec.encodeCommand(new Command.Stamped(now,
          new Command.Write(7, i, i, new WriteOp.Put(b("k" + i), b("v" + i)))));
      sm.apply(i, 1, cmd);
      other.apply(i, 1, cmd);
    }
    long h1 = ((PartitionStateMachine.Outcome.Hashed) sm.apply(4, 1, hashCmd)).hash().hash();
    long h2 = ((PartitionStateMachine.Outcome.Hashed) other.apply(4, 1, hashCmd)).hash().hash();
    assertEquals(h1, h2);
    other.apply(5, 1, Codec.encodeCommand(new Command.Stamped(now,
        new Command.Write(7, 4, 4, new WriteOp.Put(b("k1"), b("different"))))));
    sm.apply(5, 1, Codec.encodeCommand(new Command.Stamped(now,
        new Command.Write(7, 4, 4, new WriteOp.Put(b("k1"), b("v1"))))));
    long h3 = ((PartitionStateMachine.Outcome.Hashed) sm.apply(6, 1, hashCmd)).hash().hash();
    long h4 = ((PartitionStateMachine.Outcome.Hashed) other.apply(6, 1, hashCmd)).hash().hash();
    assertTrue(h3 != h4);
  }
  /**
   * A hash check's job hashes the state as of its entry however late it runs: writes applied
   * and flushed after the check are not in it. 2,500 records, so the job reads them in pages.
   */
  @Test
  void aHashComputedAfterLaterWritesIsTheHashOfTheStateAtItsEntry() {
    PartitionStateMachine other = PartitionStateMachine.open(1, new MemoryPartitionStore(), 0, TIMEOUT_MS, ALL);
    byte[] hashCmd = Codec.encodeCommand(new Command.Stamped(now, new Command.CheckHash()));
    int records = 2 * PartitionStateMachine.HashJob.PAGE_RECORDS + 452;
    for (int i = 1; i <= records; i++) {
      byte[] cmd = Codec.encodeCommand(new Command.Stamped(now,
          new Command.Write(7, i, i, new WriteOp.Put(b(String.format("k%05d", i)), b("v" + i)))));
      sm.apply(i, 1, cmd);
      other.apply(i, 1, cmd);
    }
    PartitionStateMachine.HashJob late =
        ((PartitionStateMachine.Outcome.Hashed) sm.apply(records + 1, 1, hashCmd)).job();
    long atEntry = ((PartitionStateMachine.Outcome.Hashed) other.apply(records + 1, 1, hashCmd)).hash().hash();
    for (int i = 1; i <= 3; i++) {
      sm.apply(records + 1 + i, 1, Codec.encodeCommand(new Command.Stamped(now,
          new Command.Write(7, records + i, records + i, new WriteOp.Put(b(String.format("k%05d", i)), b("later"))))));
    }
    sm.flush();
    assertTrue(sm.lastHash().isEmpty(), "not computed yet");
    int[] pages = {0};
    PartitionStateMachine.ReplicaHash h = late.compute(bytes -> ++pages[0] > 0);
    assertEquals(new PartitionStateMachine.ReplicaHash(records + 1, atEntry), h);
    assertEquals(2, pages[0], "paced between its three pages");
    assertEquals(Optional.of(h), sm.lastHash());
    assertSame(h, late.compute(), "computed once");
    assertSame(h, late.hashed().getNow(null));
  }

  @Test
  void aHashJobGivenUpReleasesItsViewAndComputesNothing() {
    byte[] hashCmd = Codec.encodeCommand(new Command.Stamped(now, new Command.CheckHash()));
    for (int i = 1; i <= PartitionStateMachine.HashJob.PAGE_RECORDS + 1; i++) {
      sm.apply(i, 1, Codec.encodeCommand(new Command.Stamped(now,
          new Command.Write(7, i, i, new WriteOp.Put(b("k" + i), b("v"))))));
    }
    PartitionStateMachine.HashJob job = ((PartitionStateMachine.Outcome.Hashed)
        sm.apply(PartitionStateMachine.HashJob.PAGE_RECORDS + 2, 1, hashCmd)).job();
    assertNull(job.compute(bytes -> false));
    assertNull(job.compute(), "given up for good");
    assertTrue(job.hashed().isCompletedExceptionally());
    assertTrue(sm.lastHash().isEmpty());
  }

  /** One membership change applied, {@code changes} as {@code (type, node)} pairs, leading to {@code cs}. */
  private void change(ConfState cs, String context, Object... changes) {
    List<ConfChange.Single> singles = new java.util.ArrayList<>();
    for (int i = 0; i < changes.length; i += 2) {
      singles.add(new ConfChange.Single((ConfChangeType) changes[i], (Long) changes[i + 1]));
    }
    sm.applyConfChange(++index, 1, cs, new ConfChange(singles, ConfChange.Transition.AUTO, b(context)));
  }

  /** What a restarted node reads back: the state machine opened again over the flushed store. */
  private ReplicaRepair.Rebuild reopenedRebuild() {
    sm.flush();
    return PartitionStateMachine.open(1, store, 1, TIMEOUT_MS, ALL).rebuild();
  }

  /**
   * A rebuild's removal is recorded in the partition's state, so a restarted node reads it back;
   * the repair's own steps (the node added as a learner, then promoted) carry it on, the promotion
   * ends it. An operator's later change ends it too: another node added, or the node being rebuilt
   * removed on purpose (while out: a removal of a node no member; or as a learner).
   */
  @Test
  void aRebuildPendingIsKeptWithTheMembershipUntilItsPromotionOrAnotherChange() {
    ReplicaRepair.Rebuild three = new ReplicaRepair.Rebuild(3, "127.0.0.1:7003");
    ConfState two = ConfState.ofVoters(Set.of(1L, 2L));
    ConfState learner = new ConfState(Set.of(1L, 2L), Set.of(3L), Set.of(), Set.of(), false);
    change(two, "rebuild:127.0.0.1:7003", ConfChangeType.REMOVE, 3L);
    assertEquals(three, sm.rebuild());
    assertEquals(three, reopenedRebuild(), "durable");
    change(learner, "127.0.0.1:7003", ConfChangeType.ADD_LEARNER, 3L);
    assertEquals(three, reopenedRebuild(), "the repair's own re-add carries it on");
    change(ConfState.ofVoters(Set.of(1L, 2L, 3L)), "127.0.0.1:7003", ConfChangeType.ADD_VOTER, 3L);
    assertNull(sm.rebuild(), "promoted: done");
    assertNull(reopenedRebuild());

    change(two, "rebuild:127.0.0.1:7003", ConfChangeType.REMOVE, 3L);
    change(ConfState.ofVoters(Set.of(1L, 2L, 4L)), "127.0.0.1:7004", ConfChangeType.ADD_VOTER, 4L);
    assertNull(reopenedRebuild(), "another node added: the operator's change overrides the repair");

    change(two, "rebuild:127.0.0.1:7004", ConfChangeType.REMOVE, 4L);
    assertEquals(new ReplicaRepair.Rebuild(4, "127.0.0.1:7004"), sm.rebuild(), "a later rebuild replaces it");
    change(two, "", ConfChangeType.REMOVE, 4L);
    assertNull(reopenedRebuild(), "the node removed on purpose while out (a no-op for Raft)");

    change(two, "rebuild:127.0.0.1:7003", ConfChangeType.REMOVE, 3L);
    change(learner, "127.0.0.1:7003", ConfChangeType.ADD_LEARNER, 3L);
    change(two, "", ConfChangeType.REMOVE, 3L);
    assertNull(reopenedRebuild(), "the node removed on purpose as a learner");
  }

  /**
   * A split while a rebuild is pending hands it to the child as well, in the child's initial state
   * (its seed): the child starts with the parent's membership, without the node, so the node is to
   * come back there too. A merge keeps the absorbing partition's own rebuild and takes none from
   * the retired one: the retired partition's keys join a partition whose membership is its own.
   */
  @Test
  void aRebuildPendingGoesToASplitsChildAndAMergeKeepsTheAbsorbingPartitionsOwn() {
    ReplicaRepair.Rebuild three = new ReplicaRepair.Rebuild(3, "127.0.0.1:7003");
    change(ConfState.ofVoters(Set.of(1L, 2L)), "rebuild:127.0.0.1:7003", ConfChangeType.REMOVE, 3L);
    assertTrue(ok(write(7, 1, new WriteOp.Put(b("n"), b("N")))));
    PartitionStateMachine.Outcome.Split split = assertInstanceOf(PartitionStateMachine.Outcome.Split.class,
        sm.apply(++index, 1, Codec.encodeCommand(new Command.Stamped(now, new Command.Split(b("m"), 42)))));
    MemoryPartitionStore childStore = new MemoryPartitionStore();
    childStore.commit(new PartitionStore.Commit(PartitionStateMachine.seedMutations(split.seed()), 5, 5, null));
    PartitionStateMachine child = PartitionStateMachine.open(42, childStore, 5, TIMEOUT_MS, ALL);
    assertEquals(three, child.rebuild(), "the child's, from its seed");
    assertEquals(three, reopenedRebuild(), "the parent keeps its own");

    PartitionStateMachine.Outcome.Frozen frozen = assertInstanceOf(PartitionStateMachine.Outcome.Frozen.class,
        command(child, 6, new Command.Freeze(9)));
    MemoryPartitionStore absorbingStore = new MemoryPartitionStore();
    PartitionStateMachine absorbing = PartitionStateMachine.open(9, absorbingStore, 0, TIMEOUT_MS,
        new KeySpan.Range(new byte[0], b("m")));
    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class, command(absorbing, 1, new Command.Merge(42, frozen.seed())));
    absorbing.flush();
    assertArrayEquals(b("N"), absorbing.get(b("n")).orElseThrow());
    assertNull(absorbing.rebuild(), "the retired partition's rebuild is not taken over");
    assertNull(PartitionStateMachine.open(9, absorbingStore, 1, TIMEOUT_MS, ALL).rebuild());

    assertInstanceOf(PartitionStateMachine.Outcome.Merged.class,
        command(sm, ++index, new Command.Merge(42, frozen.seed())));
    assertEquals(three, reopenedRebuild(), "the absorbing partition keeps its own");
  }
}
