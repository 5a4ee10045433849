package io.quorumkv.storage;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.LogCompactedException;
import io.quorumkv.raft.LogUnavailableException;
import io.quorumkv.raft.RaftStorage;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The storage contract, run against every engine (see the subclasses). Each test names the
 * promise it checks; together they cover every public method of the SPI.
 */
abstract class StorageContractTest {

  static final String CLUSTER = "test-cluster";
  static final long G = 7;

  /** Every engine a test opened, closed after it. */
  private final List<StorageEngine> opened = new ArrayList<>();

  /** Opens the engine under test on this test's (possibly existing) data. */
  abstract StorageEngine openEngine(String clusterId, StorageOptions options);

  /** A second, independent data location (another node). */
  abstract StorageEngine openOtherNode(StorageOptions options);

  /**
   * Ends {@code engine} the hard way and reopens: memory drops unsynced writes; RocksDB (whose
   * real crash test is {@link CrashRecoveryTest}) is closed without any flush of its own.
   */
  abstract StorageEngine crashAndReopen(StorageEngine engine);

  /** Whether a sync costs real time (a disk), so concurrent batches must share syncs. */
  boolean syncsTakeTime() {
    return true;
  }

  StorageEngine open() {
    return track(openEngine(CLUSTER, StorageOptions.defaults(1).withSnapshotChunkBytes(1024)));
  }

  StorageEngine track(StorageEngine e) {
    opened.add(e);
    return e;
  }

  StorageEngine reopen(StorageEngine e) {
    e.close();
    return open();
  }

  @AfterEach
  void closeAll() {
    for (StorageEngine e : opened) {
      e.close();
    }
  }

  static Entry entry(long index, long term) {
    return Entry.normal(index, term, ("e" + index + "@" + term).getBytes(UTF_8));
  }

  static List<Entry> entries(long from, long to, long term) {
    List<Entry> out = new ArrayList<>();
    for (long i = from; i <= to; i++) {
      out.add(entry(i, term));
    }
    return out;
  }

  static byte[] b(String s) {
    return s.getBytes(UTF_8);
  }

  static String s(byte[] b) {
    return new String(b, UTF_8);
  }

  // ------------------------------------------------------------------ log

  @Test
  void aNewGroupHasAnEmptyLog() {
    LogStore log = open().log(G);
    assertEquals(1, log.firstIndex());
    assertEquals(0, log.lastIndex());
    assertEquals(0, log.term(0));
    assertEquals(new RaftStorage.InitialState(HardState.EMPTY, ConfState.EMPTY),
        log.initialState());
    assertEquals(Snapshot.EMPTY, log.snapshot());
    assertEquals(List.of(), log.entries(1, 1, 100));
    assertThrows(LogUnavailableException.class, () -> log.term(1));
    assertThrows(LogUnavailableException.class, () -> log.entries(1, 2, 100));
    assertEquals(G, log.groupId());
  }

  @Test
  void appendedEntriesReadBackInOrderWithTheirTerms() {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 5, 1));
    log.append(entries(6, 8, 2));
    assertEquals(8, log.lastIndex());
    assertEquals(entries(1, 5, 1), log.entries(1, 6, Long.MAX_VALUE));
    assertEquals(entries(3, 8, 1).subList(0, 3), log.entries(3, 6, Long.MAX_VALUE));
    assertEquals(1, log.term(5));
    assertEquals(2, log.term(6));
    assertEquals(2, log.term(8));
    Entry conf = new Entry(9, 2, EntryType.CONF_CHANGE, new byte[] {1, 2, 3});
    Entry noop = Entry.normal(10, 3, Entry.EMPTY);
    log.append(List.of(conf, noop));
    assertEquals(List.of(conf, noop), log.entries(9, 11, Long.MAX_VALUE));
    List<Entry> all = log.entries(1, 11, Long.MAX_VALUE);
    LogStore after = reopen(e).log(G);
    assertEquals(10, after.lastIndex());
    assertEquals(all, after.entries(1, 11, Long.MAX_VALUE));
    assertEquals(3, after.term(10));
  }

  @Test
  void entriesStopBeforePassingTheByteLimitButReturnAtLeastOne() {
    LogStore log = open().log(G);
    log.append(entries(1, 10, 1));
    long size = entry(1, 1).sizeBytes(); // all entries 1..9 have the same size
    assertEquals(1, log.entries(1, 10, 0).size());
    assertEquals(1, log.entries(1, 10, size).size());
    assertEquals(2, log.entries(1, 10, 2 * size).size());
    assertEquals(2, log.entries(1, 10, 3 * size - 1).size());
    assertEquals(9, log.entries(1, 10, Long.MAX_VALUE).size());
  }

  @Test
  void readsOutsideTheLogFailWithTheRaftExceptions() {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 10, 1));
    assertThrows(LogUnavailableException.class, () -> log.entries(5, 12, 100));
    assertThrows(LogUnavailableException.class, () -> log.term(11));
    Snapshot snap = applyAndSnapshot(e, 4);
    log.compact(snap);
    assertThrows(LogCompactedException.class, () -> log.entries(4, 6, 100));
    assertThrows(LogCompactedException.class, () -> log.term(3));
    assertEquals(1, log.term(4));
    assertEquals(entries(5, 6, 1), log.entries(5, 7, 1000));
  }

  @Test
  void anAppendBeforeTheEndReplacesTheConflictingSuffix() {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 10, 1));
    log.append(entries(6, 7, 2));
    assertEquals(7, log.lastIndex());
    assertEquals(entries(6, 7, 2), log.entries(6, 8, 1000));
    assertThrows(LogUnavailableException.class, () -> log.term(8));
    log.append(entries(8, 12, 2)); // and the log grows again from there
    LogStore after = reopen(e).log(G);
    assertEquals(12, after.lastIndex());
    assertEquals(entries(1, 5, 1), after.entries(1, 6, 10_000));
    assertEquals(entries(6, 12, 2), after.entries(6, 13, 10_000));
    // a longer overwrite also works
    after.append(entries(3, 20, 3));
    assertEquals(20, after.lastIndex());
    assertEquals(1, after.term(2));
    assertEquals(3, after.term(3));
  }

  @Test
  void invalidAppendsAreRefusedAndNothingOfTheirBatchIsWritten() {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 5, 2));
    assertThrows(IllegalArgumentException.class, () -> log.append(entries(7, 8, 2))); // gap
    assertThrows(IllegalArgumentException.class, () -> log.append(entries(6, 6, 1))); // term back
    assertThrows(IllegalArgumentException.class,
        () -> new LogBatch().append(G, List.of(entry(6, 2), entry(8, 2)))); // not consecutive
    LogBatch mixed = new LogBatch()
        .append(G + 1, entries(1, 3, 1))
        .hardState(G + 1, new HardState(1, 0, 3))
        .append(G, entries(9, 9, 2));
    assertThrows(IllegalArgumentException.class, () -> e.write(mixed));
    assertEquals(0, e.log(G + 1).lastIndex());
    assertEquals(HardState.EMPTY, e.log(G + 1).hardState());
    assertEquals(5, log.lastIndex());
  }

  @Test
  void hardStateIsDurableAndNeverGoesBackInTerm() {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 3, 1));
    HardState hs = new HardState(4, 2, 3);
    log.setHardState(hs);
    assertEquals(hs, log.hardState());
    assertThrows(IllegalArgumentException.class, () -> log.setHardState(new HardState(3, 1, 3)));
    assertThrows(IllegalArgumentException.class, () -> log.setHardState(new HardState(4, 2, 4)),
        "commit past the last index");
    assertThrows(IllegalArgumentException.class, () -> log.setHardState(new HardState(4, 3, 3)),
        "a second vote in the same term");
    log.setHardState(new HardState(5, 3, 3)); // a new term, a new vote
    LogStore after = reopen(e).log(G);
    assertEquals(new HardState(5, 3, 3), after.hardState());
    assertEquals(new HardState(5, 3, 3), after.initialState().hardState());
  }

  @Test
  void oneBatchMakesSeveralGroupsDurableTogether() {
    StorageEngine e = open();
    LogBatch batch = e.newLogBatch();
    for (long g = 1; g <= 3; g++) {
      batch.append(g, entries(1, g * 2, g)).hardState(g, new HardState(g, g, g));
    }
    assertEquals(12, batch.entryCount());
    long syncsBefore = e.syncMonitor().syncCount();
    e.write(batch);
    assertEquals(syncsBefore + 1, e.syncMonitor().syncCount(), "one sync for the whole batch");
    StorageEngine after = crashAndReopen(e);
    assertEquals(Set.of(1L, 2L, 3L), after.groups());
    for (long g = 1; g <= 3; g++) {
      assertEquals(entries(1, g * 2, g), after.log(g).entries(1, g * 2 + 1, 10_000));
      assertEquals(new HardState(g, g, g), after.log(g).hardState());
    }
  }

  @Test
  void syncedLogWritesSurviveACrash() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 50, 1));
    e.log(G).setHardState(new HardState(1, 1, 50));
    StorageEngine after = crashAndReopen(e);
    assertEquals(50, after.log(G).lastIndex());
    assertEquals(entries(1, 50, 1), after.log(G).entries(1, 51, Long.MAX_VALUE));
    assertTrue(after.stateMachine(G).appliedIndex() <= after.log(G).lastIndex());
  }

  // ------------------------------------------------------------------ group commit

  @Test
  void theGroupCommitWriterMakesEveryBatchDurableAndFailsInvalidOnesAlone() throws Exception {
    StorageEngine e = open();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      List<CompletableFuture<Void>> done = new ArrayList<>();
      for (long g = 1; g <= 20; g++) {
        done.add(writer.submit(new LogBatch().append(g, entries(1, 3, 1))));
      }
      CompletableFuture<Void> bad = writer.submit(new LogBatch().append(99, entries(5, 5, 1)));
      for (CompletableFuture<Void> f : done) {
        f.get();
      }
      Exception ex = assertThrows(Exception.class, bad::get);
      assertTrue(ex.getCause() instanceof IllegalArgumentException, ex.toString());
      assertTrue(writer.pendingBatches() >= 0);
    }
    for (long g = 1; g <= 20; g++) {
      assertEquals(3, e.log(g).lastIndex());
    }
    assertEquals(0, e.log(99).lastIndex());
  }

  /**
   * Multi-raft: 64 groups in one engine (one database), 64 concurrent submitters; their batches
   * share syncs, and every group's log comes back whole.
   */
  @Test
  void sixtyFourGroupsShareOneEngineAndTheirConcurrentBatchesShareSyncs() throws Exception {
    StorageEngine e = open();
    int groups = 64;
    int rounds = 10;
    long syncsBefore = e.syncMonitor().syncCount();
    try (GroupCommitLogWriter writer = new GroupCommitLogWriter(e)) {
      List<Thread> threads = new ArrayList<>();
      java.util.concurrent.atomic.AtomicReference<Throwable> failure =
          new java.util.concurrent.atomic.AtomicReference<>();
      for (long g = 1; g <= groups; g++) {
        long group = g;
        Thread t = new Thread(() -> {
          try {
            for (long i = 1; i <= rounds; i++) {
              writer.submit(new LogBatch().append(group, List.of(entry(i, 1)))
                  .hardState(group, new HardState(1, 0, i))).get();
            }
          } catch (Exception ex) {
            failure.compareAndSet(null, ex);
          }
        });
        threads.add(t);
        t.start();
      }
      for (Thread t : threads) {
        t.join(60_000);
      }
      assertEquals(null, failure.get());
    }
    long syncs = e.syncMonitor().syncCount() - syncsBefore;
    // an instant (in-memory) sync leaves nothing to group; a disk sync always does
    assertTrue(!syncsTakeTime() || syncs <= groups * rounds / 2,
        syncs + " syncs for " + groups * rounds + " batches: group commit did not group");
    StorageEngine after = crashAndReopen(e);
    assertEquals(groups, after.groups().size());
    for (long g = 1; g <= groups; g++) {
      assertEquals(entries(1, rounds, 1), after.log(g).entries(1, rounds + 1, 100_000));
      assertEquals(rounds, after.log(g).hardState().commit());
    }
  }

  @Test
  void aClosedWriterRefusesNewBatches() {
    StorageEngine e = open();
    GroupCommitLogWriter writer = new GroupCommitLogWriter(e);
    writer.close();
    CompletableFuture<Void> f = writer.submit(new LogBatch().append(G, entries(1, 1, 1)));
    Exception ex = assertThrows(Exception.class, f::get);
    assertTrue(ex.getCause() instanceof IllegalStateException);
  }

  // ------------------------------------------------------------------ state machine

  @Test
  void applyWritesDataAndTheAppliedIndexTogether() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 5, 2));
    StateMachineStore sm = e.stateMachine(G);
    sm.apply(1, 2, List.of(KvMutation.put(b("a"), b("1")), KvMutation.put(b("b"), b("2")),
        KvMutation.put(b("c"), b("3")), KvMutation.put(b("d"), b("4"))));
    sm.apply(2, 2, List.of(KvMutation.delete(b("a"))));
    sm.apply(3, 2, List.of(KvMutation.deleteRange(b("b"), b("c"))));
    assertEquals(3, sm.appliedIndex());
    assertEquals(2, sm.appliedTerm());
    assertTrue(sm.get(b("a")).isEmpty());
    assertTrue(sm.get(b("b")).isEmpty());
    assertEquals("3", s(sm.get(b("c")).orElseThrow()));
    assertEquals(List.of(new KeyValue(b("c"), b("3")), new KeyValue(b("d"), b("4"))),
        sm.scan(b(""), b("z"), 10));
    assertEquals(List.of(new KeyValue(b("c"), b("3"))), sm.scan(b(""), b("z"), 1));
    assertEquals(List.of(), sm.scan(b("d1"), b("z"), 10));
    assertEquals(List.of(), sm.scan(b("a"), b("z"), 0));
    StateMachineStore after = reopen(e).stateMachine(G);
    assertEquals(3, after.appliedIndex());
    assertEquals(2, after.appliedTerm());
    assertEquals("4", s(after.get(b("d")).orElseThrow()));
  }

  /**
   * Entries and values are sealed into one reused scratch buffer per thread, direct up to
   * {@link Scratch#MAX_DIRECT_BYTES} and a heap array above: records of both kinds and of growing
   * sizes, several in one write, each read back intact after a restart (a batch that kept a
   * reference to the scratch instead of a copy would hold the last record under every key).
   */
  @Test
  void recordsOfEverySizeWrittenTogetherReadBackIntact() {
    StorageEngine e = open();
    int[] sizes = {0, 1, 300, 5000, Scratch.MAX_DIRECT_BYTES - 13, Scratch.MAX_DIRECT_BYTES + 1, 700, 9000};
    List<Entry> written = new ArrayList<>();
    List<KvMutation> puts = new ArrayList<>();
    for (int i = 0; i < sizes.length; i++) {
      byte[] data = new byte[sizes[i]];
      java.util.Arrays.fill(data, (byte) ('a' + i));
      written.add(Entry.normal(i + 1, 1, data));
      puts.add(KvMutation.put(b("k" + i), data));
    }
    e.log(G).append(written);
    e.stateMachine(G).apply(1, 1, puts);
    StorageEngine after = reopen(e);
    assertEquals(written, after.log(G).entries(1, sizes.length + 1, Long.MAX_VALUE));
    for (int i = 0; i < sizes.length; i++) {
      assertArrayEquals(written.get(i).data(), after.stateMachine(G).get(b("k" + i)).orElseThrow(),
          "value of k" + i + " (" + sizes[i] + " bytes)");
    }
  }

  /** Whether the engine holds every record in memory, so {@link StateMachineStore#getInMemory} always answers. */
  boolean holdsEverythingInMemory() {
    return false;
  }

  @Test
  void aReadFromMemoryAnswersAsGetDoesOrSaysItNeedsTheDisk() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 2, 1));
    StateMachineStore sm = e.stateMachine(G);
    sm.apply(1, 1, List.of(KvMutation.put(b("a"), b("1")), KvMutation.put(b("b"), b("2"))));
    sm.apply(2, 1, List.of(KvMutation.delete(b("a"))));
    for (String k : List.of("a", "b", "never")) {
      MemoryRead m = sm.getInMemory(b(k));
      if (m instanceof MemoryRead.Found f) {
        assertEquals(sm.get(b(k)).map(StorageContractTest::s), f.value().map(StorageContractTest::s), k);
      } else {
        assertFalse(holdsEverythingInMemory(), "an in-memory engine needed the disk for " + k);
      }
    }
    // just written: in the memtable of every engine
    assertEquals("2", s(((MemoryRead.Found) sm.getInMemory(b("b"))).value().orElseThrow()));
    assertTrue(e.stateMachine(G + 1).getInMemory(b("b")) instanceof MemoryRead.Found f && f.value().isEmpty(),
        "another group's key space");
  }

  @Test
  void aViewShowsTheStateAsOfItsOpeningWhileAppliesGoOn() throws Exception {
    StorageEngine e = open();
    e.log(G).append(entries(1, 4, 1));
    e.log(G + 1).append(entries(1, 1, 1));
    StateMachineStore sm = e.stateMachine(G);
    sm.apply(1, 1, List.of(KvMutation.put(b("a"), b("1")), KvMutation.put(b("b"), b("2")),
        KvMutation.put(b("c"), b("3"))));
    try (StateView view = sm.openView()) {
      sm.apply(2, 1, List.of(KvMutation.put(b("a"), b("changed")), KvMutation.delete(b("b")),
          KvMutation.put(b("d"), b("4"))));
      sm.apply(3, 1, List.of(KvMutation.deleteRange(b("a"), b("z"))));
      e.stateMachine(G + 1).apply(1, 1, List.of(KvMutation.put(b("a"), b("other group"))));
      assertEquals(1, view.appliedIndex());
      // read from another thread, paged as a background reader reads it
      List<KeyValue> seen = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        List<KeyValue> out = new ArrayList<>(view.scan(b(""), b("z"), 2));
        byte[] next = java.util.Arrays.copyOf(out.get(out.size() - 1).key(), out.get(out.size() - 1).key().length + 1);
        out.addAll(view.scan(next, b("z"), 2));
        return out;
      }).get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(List.of(new KeyValue(b("a"), b("1")), new KeyValue(b("b"), b("2")), new KeyValue(b("c"), b("3"))),
          seen);
      assertEquals(List.of(), view.scan(b("a"), b("z"), 0));
    }
    assertEquals(List.of(), sm.scan(b(""), b("z"), 10), "the store itself moved on");
  }

  @Test
  void aViewLeftOpenWhenTheEngineClosesRefusesToReadAndClosesQuietly() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 1, 1));
    StateMachineStore sm = e.stateMachine(G);
    sm.apply(1, 1, List.of(KvMutation.put(b("a"), b("1"))));
    StateView view = sm.openView();
    e.close();
    assertThrows(IllegalStateException.class, () -> view.scan(b(""), b("z"), 10));
    view.close();
    view.close();
  }

  @Test
  void applyNeverGoesBackNorRunsAheadOfTheDurableLog() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 3, 1));
    StateMachineStore sm = e.stateMachine(G);
    sm.apply(2, 1, List.of());
    assertThrows(IllegalArgumentException.class, () -> sm.apply(2, 1, List.of()));
    assertThrows(IllegalArgumentException.class, () -> sm.apply(1, 1, List.of()));
    assertThrows(IllegalArgumentException.class, () -> sm.apply(4, 1, List.of()));
    assertEquals(2, sm.appliedIndex());
  }

  // ------------------------------------------------------------------ apply batches

  /** Groups 1 and 2 with logs to 5, each with "k" = "v0" applied at 1. */
  StorageEngine twoAppliedGroups() {
    StorageEngine e = open();
    for (long g = 1; g <= 2; g++) {
      e.log(g).append(entries(1, 5, 1));
      e.stateMachine(g).apply(1, 1, List.of(KvMutation.put(b("k"), b("v0"))));
    }
    e.log(1).setHardState(new HardState(1, 0, 1)); // synced: the applies so far are durable
    return e;
  }

  static String valueIn(StorageEngine e, long g) {
    return e.stateMachine(g).get(b("k")).map(StorageContractTest::s).orElse("(none)");
  }

  @Test
  void anApplyBatchWritesSeveralGroupsAtOnceAndShowsNothingBeforeItsCommit() throws Exception {
    StorageEngine e = twoAppliedGroups();
    try (ApplyBatch batch = e.newApplyBatch()) {
      assertTrue(batch.isEmpty());
      for (long g = 1; g <= 2; g++) {
        e.stateMachine(g).apply(batch, 3, 1, List.of(KvMutation.put(b("k"), b("v" + g))), null);
      }
      assertFalse(batch.isEmpty());
      long stamp1 = e.stateMachine(1).stateLock().tryOptimisticRead();
      long stamp2 = e.stateMachine(2).stateLock().tryOptimisticRead();
      for (long g = 1; g <= 2; g++) {
        long group = g;
        // another thread, as a reader would: the old value and applied index
        assertEquals("v0", CompletableFuture.supplyAsync(() -> valueIn(e, group)).get());
        assertEquals(1, CompletableFuture.supplyAsync(() -> e.stateMachine(group).appliedIndex()).get());
        assertEquals(List.of(new KeyValue(b("k"), b("v0"))), e.stateMachine(g).scan(b(""), b("z"), 10));
      }
      assertTrue(e.stateMachine(1).stateLock().validate(stamp1), "nothing visible changed while staged");
      batch.commit();
      // a reader that read the index and the state under those stamps must read again
      assertFalse(e.stateMachine(1).stateLock().validate(stamp1), "the commit changed group 1's state under the lock");
      assertFalse(e.stateMachine(2).stateLock().validate(stamp2), "the commit changed group 2's state under the lock");
      assertTrue(e.stateMachine(1).stateLock().validate(e.stateMachine(1).stateLock().tryOptimisticRead()),
          "the lock is released after the commit");
      assertTrue(batch.isEmpty(), "a committed batch is empty and can be staged into again");
      for (long g = 1; g <= 2; g++) {
        assertEquals("v" + g, valueIn(e, g));
        assertEquals(3, e.stateMachine(g).appliedIndex());
        assertEquals(1, e.stateMachine(g).appliedTerm());
      }
      e.stateMachine(1).apply(batch, 4, 1, List.of(KvMutation.delete(b("k"))), null);
      batch.commit();
      assertEquals("(none)", valueIn(e, 1));
      assertEquals(4, e.stateMachine(1).appliedIndex());
    }
    StorageEngine after = crashAndReopen(e);
    // unsynced: some prefix of the applies survives, never one group of a batch without the other
    long applied1 = after.stateMachine(1).appliedIndex();
    long applied2 = after.stateMachine(2).appliedIndex();
    assertEquals(applied1 == 1 ? 1 : 3, applied2, "group 1 at " + applied1);
    assertEquals(applied2 == 1 ? "v0" : "v2", valueIn(after, 2));
  }

  @Test
  void anApplyBatchIsDurableWithTheNextSyncedWriteAndComesBackWhole() {
    StorageEngine e = twoAppliedGroups();
    try (ApplyBatch batch = e.newApplyBatch()) {
      ConfState members = ConfState.ofVoters(Set.of(1L, 2L));
      e.stateMachine(1).apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("a"))), members);
      e.stateMachine(2).apply(batch, 4, 1, List.of(KvMutation.put(b("k"), b("b"))), null);
      batch.commit();
    }
    e.log(3).append(entries(1, 1, 1)); // synced: makes every write before it durable
    StorageEngine after = crashAndReopen(e);
    assertEquals(2, after.stateMachine(1).appliedIndex());
    assertEquals(ConfState.ofVoters(Set.of(1L, 2L)), after.stateMachine(1).confState());
    assertEquals(4, after.stateMachine(2).appliedIndex());
    assertEquals("a", valueIn(after, 1));
    assertEquals("b", valueIn(after, 2));
  }

  @Test
  void aGroupStagedTwiceInOneBatchFollowsItsOwnStagedState() {
    StorageEngine e = twoAppliedGroups();
    StateMachineStore sm = e.stateMachine(1);
    ConfState members = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    try (ApplyBatch batch = e.newApplyBatch()) {
      sm.apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("a")), KvMutation.put(b("x"), b("1"))),
          members);
      assertThrows(IllegalArgumentException.class, () -> sm.apply(batch, 2, 1, List.of(), null),
          "2 is staged: not after the applied index as of the batch");
      sm.apply(batch, 3, 2, List.of(KvMutation.deleteRange(b("a"), b("z")), KvMutation.put(b("k"), b("b"))),
          null);
      assertEquals(1, sm.appliedIndex());
      assertEquals(ConfState.EMPTY, sm.confState());
      batch.commit();
    }
    assertEquals(3, sm.appliedIndex());
    assertEquals(2, sm.appliedTerm());
    assertEquals(members, sm.confState(), "the membership staged at 2 is kept by the stage at 3");
    assertEquals(List.of(new KeyValue(b("k"), b("b"))), sm.scan(b(""), b("z"), 10),
        "the stages are written in order: the range delete, then the put after it");
    assertEquals(members, reopen(e).stateMachine(1).confState());
  }

  @Test
  void aRefusedStageAddsNothingAndTheRestOfTheBatchStillCommits() {
    StorageEngine e = twoAppliedGroups();
    try (ApplyBatch batch = e.newApplyBatch()) {
      e.stateMachine(1).apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("a"))), null);
      assertThrows(IllegalArgumentException.class, () -> e.stateMachine(2).apply(batch, 6, 1,
          List.of(KvMutation.put(b("k"), b("past the log"))), null));
      assertThrows(IllegalArgumentException.class, () -> e.stateMachine(2).apply(batch, 1, 1,
          List.of(KvMutation.put(b("k"), b("already applied"))), null));
      assertEquals(1, e.stateMachine(2).appliedIndex());
      batch.commit();
    }
    assertEquals("a", valueIn(e, 1));
    assertEquals(2, e.stateMachine(1).appliedIndex());
    assertEquals("v0", valueIn(e, 2));
    assertEquals(1, e.stateMachine(2).appliedIndex());
  }

  @Test
  void aBatchWhoseGroupChangedAfterItWasStagedWritesNothing() {
    StorageEngine e = twoAppliedGroups();
    try (ApplyBatch batch = e.newApplyBatch()) {
      e.stateMachine(1).apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("a"))), null);
      e.stateMachine(2).apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("b"))), null);
      e.stateMachine(2).apply(3, 1, List.of(KvMutation.put(b("k"), b("outside"))));
      assertThrows(IllegalStateException.class, batch::commit);
      assertTrue(batch.isEmpty());
      batch.commit(); // nothing left to write
    }
    assertEquals("v0", valueIn(e, 1));
    assertEquals(1, e.stateMachine(1).appliedIndex());
    assertEquals("outside", valueIn(e, 2));
    assertEquals(3, e.stateMachine(2).appliedIndex());
  }

  @Test
  void aClosedBatchOrAnotherEnginesIsRefusedAndItsStagesDiscarded() {
    StorageEngine e = twoAppliedGroups();
    StorageEngine other = track(openOtherNode(StorageOptions.defaults(1)));
    ApplyBatch batch = e.newApplyBatch();
    e.stateMachine(1).apply(batch, 2, 1, List.of(KvMutation.put(b("k"), b("a"))), null);
    batch.close();
    assertThrows(IllegalStateException.class, batch::commit);
    assertThrows(IllegalStateException.class,
        () -> e.stateMachine(2).apply(batch, 2, 1, List.of(), null));
    assertEquals("v0", valueIn(e, 1));
    assertEquals(1, e.stateMachine(1).appliedIndex());
    other.log(1).append(entries(1, 2, 1));
    try (ApplyBatch mine = e.newApplyBatch()) {
      assertThrows(IllegalArgumentException.class,
          () -> other.stateMachine(1).apply(mine, 2, 1, List.of(), null));
    }
  }

  @Test
  void groupsHaveSeparateKeySpaces() {
    StorageEngine e = open();
    for (long g : new long[] {1, 2}) {
      e.log(g).append(entries(1, 1, 1));
      e.stateMachine(g).apply(1, 1, List.of(KvMutation.put(b("k"), b("v" + g))));
    }
    assertEquals("v1", s(e.stateMachine(1).get(b("k")).orElseThrow()));
    assertEquals("v2", s(e.stateMachine(2).get(b("k")).orElseThrow()));
    e.log(1).append(entries(2, 2, 1));
    e.stateMachine(1).apply(2, 1, List.of(KvMutation.deleteRange(b(""), b("z"))));
    assertTrue(e.stateMachine(1).get(b("k")).isEmpty());
    assertEquals("v2", s(e.stateMachine(2).get(b("k")).orElseThrow()));
  }

  @Test
  void membershipIsRecordedWithTheAppliedIndexAndGivenToTheCoreAtRestart() {
    StorageEngine e = open();
    ConfState initial = ConfState.ofVoters(Set.of(1L, 2L, 3L));
    e.bootstrap(G, initial);
    assertThrows(IllegalStateException.class, () -> e.bootstrap(G, initial));
    assertEquals(initial, e.log(G).initialState().confState());
    assertEquals(initial, e.stateMachine(G).confState());
    e.log(G).append(entries(1, 2, 1));
    ConfState joint = new ConfState(Set.of(1L, 2L, 4L), Set.of(5L), Set.of(1L, 2L, 3L),
        Set.of(3L), true);
    e.stateMachine(G).apply(2, 1, List.of(), joint);
    LogStore after = reopen(e).log(G);
    assertEquals(joint, after.initialState().confState());
  }

  @Test
  void groupsAreListedAndCanBeDeleted() {
    StorageEngine e = open();
    assertEquals(Set.of(), e.groups());
    e.log(3).append(entries(1, 2, 1));
    e.bootstrap(5, ConfState.ofVoters(Set.of(1L)));
    assertEquals(Set.of(3L, 5L), e.groups());
    e.stateMachine(3).apply(1, 1, List.of(KvMutation.put(b("k"), b("v"))));
    e.deleteGroup(3);
    assertEquals(Set.of(5L), e.groups());
    assertEquals(0, e.log(3).lastIndex());
    assertTrue(e.stateMachine(3).get(b("k")).isEmpty());
    assertEquals(0, e.group(3).cache.size());
    e.log(3).append(entries(1, 1, 4)); // a new replica of the group starts from nothing cached
    assertEquals(entries(1, 1, 4), e.log(3).entries(1, 2, 1000));
    e.deleteGroup(3);
    StorageEngine after = reopen(e);
    assertEquals(Set.of(5L), after.groups());
    assertTrue(after.stateMachine(3).get(b("k")).isEmpty());
  }

  // ------------------------------------------------------------------ entry cache

  /** An engine whose entry cache holds about a dozen of the test's entries. */
  StorageEngine openWithSmallCache() {
    return track(openEngine(CLUSTER, StorageOptions.defaults(1).withSnapshotChunkBytes(1024)
        .withEntryCacheBytes(12 * entry(10, 1).sizeBytes())));
  }

  /** Overwrites the record of {@code index} on disk with a different, well-formed entry. */
  static void replaceOnDisk(StorageEngine e, Entry other) {
    byte[] key = Keys.log(G, other.index());
    try (Backend.Batch b = e.backend().newBatch()) {
      b.put(Backend.Cf.LOG, key, Codec.entry(key, other));
      e.backend().write(b, true);
    }
  }

  @Test
  void theNewestEntriesAreReadFromMemoryAndOlderOnesFromDisk() {
    StorageEngine e = openWithSmallCache();
    LogStore log = e.log(G);
    log.append(entries(1, 40, 1));
    EntryCache cache = e.group(G).cache;
    assertTrue(cache.size() >= 10 && cache.size() < 40, "cached " + cache.size());
    long firstCached = 41 - cache.size();
    // a different entry on disk under a cached index shows which copy a read returns
    Entry planted = Entry.normal(38, 1, b("planted on disk"));
    replaceOnDisk(e, planted);
    assertEquals(entries(firstCached, 40, 1), log.entries(firstCached, 41, Long.MAX_VALUE));
    List<Entry> spanning = log.entries(firstCached - 5, 41, Long.MAX_VALUE);
    assertEquals(planted, spanning.get((int) (38 - (firstCached - 5))), "read from disk");
    assertEquals(entries(1, 10, 1), log.entries(1, 11, Long.MAX_VALUE));
    // the byte limit applies to cached entries as to disk reads
    long size = entry(35, 1).sizeBytes();
    assertEquals(2, log.entries(35, 40, 2 * size).size());
    assertEquals(1, log.entries(35, 40, 0).size());
  }

  @Test
  void theGroupsShareTheNodesEntryCacheBound() {
    long entry = entry(10, 1).sizeBytes();
    // each group alone could cache 40 entries; the node's bound is 40 entries for all of them
    StorageEngine e = track(openEngine(CLUSTER, StorageOptions.defaults(1).withEntryCacheBytes(40 * entry)
        .withNodeEntryCacheBytes(40 * entry)));
    e.log(1).append(entries(1, 60, 1));
    assertEquals(40, e.group(1).cache.size(), "one group: its own bound");
    List<LogStore> others = List.of(e.log(2), e.log(3), e.log(4));
    for (LogStore log : others) {
      log.append(entries(1, 60, 1));
    }
    for (long g = 2; g <= 4; g++) {
      assertEquals(10, e.group(g).cache.size(), "four groups: a quarter each");
    }
    // the first group's cache shrinks to its share at its next append
    e.log(1).append(entries(61, 61, 1));
    assertEquals(10, e.group(1).cache.size());
    assertEquals(entries(52, 61, 1), e.log(1).entries(52, 62, Long.MAX_VALUE));
  }

  @Test
  void droppedCachedEntriesAreReadFromTheLogAndLaterAppendsAreCachedAgain() {
    StorageEngine e = track(openEngine(CLUSTER, StorageOptions.defaults(1)));
    LogStore log = e.log(G);
    log.append(entries(1, 40, 1));
    assertEquals(40, e.group(G).cache.size());
    log.dropCachedEntriesThrough(30);
    assertEquals(10, e.group(G).cache.size(), "entries 31-40 stay cached");
    assertEquals(entries(25, 40, 1), log.entries(25, 41, Long.MAX_VALUE), "read from the log and the cache");
    log.dropCachedEntriesThrough(40);
    assertEquals(0, e.group(G).cache.size());
    assertEquals(entries(1, 40, 1), log.entries(1, 41, Long.MAX_VALUE));
    log.append(entries(41, 45, 1));
    assertEquals(5, e.group(G).cache.size(), "the next append starts a new run");
    assertEquals(entries(39, 45, 1), log.entries(39, 46, Long.MAX_VALUE));
    log.dropCachedEntriesThrough(100); // past the end: everything goes, nothing breaks
    assertEquals(0, e.group(G).cache.size());
    assertEquals(45, log.lastIndex());
  }

  @Test
  void theEntryCacheFollowsTruncationsCompactionsAndInstalls() {
    StorageEngine e = openWithSmallCache();
    LogStore log = e.log(G);
    log.append(entries(1, 40, 1));
    // a replaced suffix, even in the same term with other data, is never read from the cache
    List<Entry> replaced = List.of(Entry.normal(36, 1, b("x36")), Entry.normal(37, 1, b("x37")));
    log.append(replaced);
    List<Entry> want = new ArrayList<>(entries(33, 35, 1));
    want.addAll(replaced);
    assertEquals(want, log.entries(33, 38, Long.MAX_VALUE));
    assertThrows(LogUnavailableException.class, () -> log.entries(33, 39, Long.MAX_VALUE));
    // a truncation below everything cached
    log.append(entries(5, 8, 2));
    assertEquals(entries(5, 8, 2), e.group(G).cache.get(5, 9, Long.MAX_VALUE));
    assertEquals(entries(3, 4, 1), log.entries(3, 5, Long.MAX_VALUE));
    assertEquals(entries(5, 8, 2), log.entries(5, 9, Long.MAX_VALUE));
    log.append(entries(9, 30, 2));
    // compaction drops the compacted prefix from the cache too
    Snapshot snap = applyAndSnapshotAt(e, 25);
    log.compact(snap);
    assertThrows(LogCompactedException.class, () -> log.entries(25, 27, Long.MAX_VALUE));
    assertEquals(entries(26, 30, 2), log.entries(26, 31, Long.MAX_VALUE));
    assertEquals(26, e.group(G).cache.get(26, 27, Long.MAX_VALUE).get(0).index());
    assertEquals(null, e.group(G).cache.get(25, 27, Long.MAX_VALUE));
    // after a restart the cache starts empty and every read comes from the disk
    StorageEngine after = reopen(e);
    assertEquals(0, after.group(G).cache.size());
    assertEquals(entries(26, 30, 2), after.log(G).entries(26, 31, Long.MAX_VALUE));
    // an installed snapshot replaces the whole log, the cache included
    StorageEngine leader = track(openOtherNode(
        StorageOptions.defaults(2).withSnapshotChunkBytes(1024)));
    Snapshot remote = applyAndSnapshot(leader, 300);
    leader.log(G).compact(remote);
    Snapshot recorded = leader.log(G).snapshot();
    try (SnapshotSource source = leader.stateMachine(G).openSnapshot(recorded);
        SnapshotSink sink = after.stateMachine(G).newSnapshotSink(recorded)) {
      while (!sink.isComplete()) {
        sink.write(source.chunk(sink.nextOffset()));
      }
      sink.install();
    }
    assertEquals(0, after.group(G).cache.size());
    after.log(G).append(entries(301, 305, 3));
    assertEquals(entries(301, 305, 3), after.log(G).entries(301, 306, Long.MAX_VALUE));
  }

  // ------------------------------------------------------------------ snapshots

  /** Appends entries 1..index, applies them (one key each) and takes a snapshot at index. */
  static Snapshot applyAndSnapshot(StorageEngine e, long index) {
    applyThrough(e, index);
    return e.stateMachine(G).createSnapshot();
  }

  /** Appends entries 1..index if missing and applies them (one key each). */
  static void applyThrough(StorageEngine e, long index) {
    LogStore log = e.log(G);
    if (log.lastIndex() < index) {
      log.append(entries(log.lastIndex() + 1, index, 1));
    }
    StateMachineStore sm = e.stateMachine(G);
    for (long i = sm.appliedIndex() + 1; i <= index; i++) {
      sm.apply(i, log.term(i), List.of(KvMutation.put(b("key" + i), b("value" + i))));
    }
  }

  @Test
  void compactionAfterASnapshotDiscardsThePrefix() {
    StorageEngine e = open();
    e.bootstrap(G, ConfState.ofVoters(Set.of(1L)));
    e.log(G).append(entries(1, 20, 1));
    Snapshot snap = applyAndSnapshot(e, 10);
    assertEquals(10, snap.metadata().index());
    assertEquals(1, snap.metadata().term());
    assertEquals(ConfState.ofVoters(Set.of(1L)), snap.metadata().confState());
    e.log(G).compact(snap);
    LogStore log = e.log(G);
    assertEquals(11, log.firstIndex());
    assertEquals(20, log.lastIndex());
    assertEquals(snap.metadata(), log.snapshot().metadata());
    log.compact(snap); // again: a no-op
    LogStore after = reopen(e).log(G);
    assertEquals(11, after.firstIndex());
    assertEquals(1, after.term(10));
    assertEquals(entries(11, 20, 1), after.entries(11, 21, 100_000));
    assertEquals(snap.metadata(), after.snapshot().metadata());
  }

  @Test
  void compactionWithoutASnapshotDiscardsThePrefixAndDropsAnOlderSnapshot() {
    StorageEngine e = open();
    e.bootstrap(G, ConfState.ofVoters(Set.of(1L)));
    e.log(G).append(entries(1, 20, 1));
    Snapshot old = applyAndSnapshot(e, 5);
    e.log(G).compact(old);
    applyThrough(e, 12);
    e.log(G).compactThrough(10);
    LogStore log = e.log(G);
    assertEquals(11, log.firstIndex());
    assertEquals(1, log.term(10));
    assertThrows(LogCompactedException.class, () -> log.entries(9, 12, Long.MAX_VALUE));
    assertEquals(entries(11, 20, 1), log.entries(11, 21, Long.MAX_VALUE));
    assertTrue(log.snapshot().isEmpty(), "a snapshot older than the log's start serves no one");
    assertThrows(SnapshotUnavailableException.class, () -> e.stateMachine(G).openSnapshot(old));
    log.compactThrough(7); // behind the compacted index: a no-op
    assertEquals(11, log.firstIndex());

    LogStore after = reopen(e).log(G);
    assertEquals(11, after.firstIndex());
    assertEquals(1, after.term(10));
    assertEquals(entries(11, 20, 1), after.entries(11, 21, Long.MAX_VALUE));
    assertTrue(after.snapshot().isEmpty());
  }

  @Test
  void aSnapshotAtOrPastTheCompactedIndexIsRecordedAfterACompactionWithoutOne() {
    StorageEngine e = open();
    e.bootstrap(G, ConfState.ofVoters(Set.of(1L)));
    e.log(G).append(entries(1, 20, 1));
    Snapshot at10 = applyAndSnapshot(e, 10);
    e.log(G).compactThrough(10);
    assertTrue(e.log(G).snapshot().isEmpty(), "nothing recorded yet");
    e.log(G).compact(at10); // taken at the compacted index: recorded, nothing more discarded
    assertEquals(at10.metadata(), e.log(G).snapshot().metadata());
    assertEquals(11, e.log(G).firstIndex());
    Snapshot at15 = applyAndSnapshot(e, 15);
    e.log(G).compact(at15);
    assertEquals(16, e.log(G).firstIndex());
    assertEquals(at15.metadata(), e.log(G).snapshot().metadata());
    e.log(G).compact(at10); // older than the recorded one: ignored
    assertEquals(at15.metadata(), reopen(e).log(G).snapshot().metadata());
  }

  @Test
  void compactionWithoutASnapshotIsRefusedPastTheAppliedOrLastIndex() {
    StorageEngine e = open();
    e.bootstrap(G, ConfState.ofVoters(Set.of(1L)));
    e.log(G).append(entries(1, 20, 1));
    applyThrough(e, 8);
    IllegalArgumentException notApplied =
        assertThrows(IllegalArgumentException.class, () -> e.log(G).compactThrough(9));
    assertTrue(notApplied.getMessage().contains("applied index 8"), notApplied.getMessage());
    e.stateMachine(G).apply(9, 1, List.of());
    assertThrows(IllegalArgumentException.class, () -> e.newLogBatch().compactThrough(G, -1));
    StorageEngine other = track(openOtherNode(StorageOptions.defaults(2)));
    other.log(G).append(entries(1, 3, 1));
    assertThrows(IllegalArgumentException.class, () -> other.log(G).compactThrough(4));
    e.log(G).compactThrough(9);
    assertEquals(10, e.log(G).firstIndex());
  }

  @Test
  void theStateACompactionWithoutASnapshotReliesOnSurvivesACrash() {
    StorageEngine e = open();
    e.bootstrap(G, ConfState.ofVoters(Set.of(1L)));
    e.log(G).append(entries(1, 30, 1));
    // state writes are not synced by themselves: the compaction's synced write must carry them
    applyThrough(e, 25);
    e.log(G).compactThrough(25);
    StorageEngine after = crashAndReopen(e);
    assertEquals(26, after.log(G).firstIndex());
    assertEquals(25, after.stateMachine(G).appliedIndex());
    assertEquals("value25", s(after.stateMachine(G).get(b("key25")).orElseThrow()));
  }

  @Test
  void compactionIsRefusedPastTheLogOrWithoutADurablePayload() {
    StorageEngine e = open();
    Snapshot snap = applyAndSnapshot(e, 5);
    Snapshot wrongTerm = new Snapshot(new io.quorumkv.raft.SnapshotMetadata(5, 9,
        ConfState.EMPTY), snap.data());
    assertThrows(IllegalArgumentException.class, () -> e.log(G).compact(wrongTerm));
    Snapshot noPayload = new Snapshot(new io.quorumkv.raft.SnapshotMetadata(4, 1,
        ConfState.EMPTY), snap.data());
    assertThrows(IllegalArgumentException.class, () -> e.log(G).compact(noPayload));
    Snapshot past = new Snapshot(new io.quorumkv.raft.SnapshotMetadata(6, 1,
        ConfState.EMPTY), snap.data());
    assertThrows(IllegalArgumentException.class, () -> e.log(G).compact(past));
    assertThrows(IllegalStateException.class, () -> e.stateMachine(G + 1).createSnapshot());
  }

  @Test
  void aSnapshotStreamsInChunksAndInstallsOnAnotherNode() {
    StorageEngine leader = open();
    leader.bootstrap(G, ConfState.ofVoters(Set.of(1L, 2L)));
    Snapshot snap = applyAndSnapshot(leader, 300);
    leader.log(G).compact(snap);
    StorageEngine follower = track(openOtherNode(
        StorageOptions.defaults(2).withSnapshotChunkBytes(1024)));
    follower.log(G).append(entries(1, 3, 1)); // an old, shorter log to be replaced
    follower.stateMachine(G).apply(1, 1, List.of(KvMutation.put(b("stale"), b("x"))));
    Snapshot recorded = leader.log(G).snapshot();
    try (SnapshotSource source = leader.stateMachine(G).openSnapshot(recorded);
        SnapshotSink sink = follower.stateMachine(G).newSnapshotSink(recorded)) {
      assertEquals(snap.metadata(), source.metadata());
      assertTrue(source.totalBytes() > 3 * 1024, "several chunks");
      SnapshotChunk first = source.chunk(0);
      sink.write(first);
      sink.write(first); // a resend is ignored
      SnapshotChunk skipped = source.chunk(2048);
      assertThrows(IllegalArgumentException.class, () -> sink.write(skipped));
      assertThrows(IllegalStateException.class, sink::install);
      int chunks = 1;
      while (!sink.isComplete()) {
        sink.write(source.chunk(sink.nextOffset()));
        chunks++;
      }
      assertTrue(chunks >= 4);
      assertTrue(source.chunk(sink.nextOffset() - 1).isLast());
      long stamp = follower.stateMachine(G).stateLock().tryOptimisticRead();
      sink.install();
      assertFalse(follower.stateMachine(G).stateLock().validate(stamp), "the install changed the state under the lock");
    }
    checkInstalled(follower, snap);
    StorageEngine followerAfter = crashAndReopenOther(follower);
    checkInstalled(followerAfter, snap);
    // the follower can send the snapshot on
    try (SnapshotSource again = followerAfter.stateMachine(G)
        .openSnapshot(followerAfter.log(G).snapshot())) {
      assertEquals(snap.metadata(), again.metadata());
    }
  }

  /** The other node after a crash; subclasses with one location override. */
  StorageEngine crashAndReopenOther(StorageEngine other) {
    return other;
  }

  private static void checkInstalled(StorageEngine e, Snapshot snap) {
    long s = snap.metadata().index();
    StateMachineStore sm = e.stateMachine(G);
    assertEquals(s, sm.appliedIndex());
    assertEquals(snap.metadata().term(), sm.appliedTerm());
    assertEquals(snap.metadata().confState(), sm.confState());
    assertTrue(sm.get(b("stale")).isEmpty());
    assertEquals("value150", s(sm.get(b("key150")).orElseThrow()));
    assertEquals(300, sm.scan(b(""), b("z"), 1000).size());
    LogStore log = e.log(G);
    assertEquals(s + 1, log.firstIndex());
    assertEquals(s, log.lastIndex());
    assertEquals(snap.metadata().term(), log.term(s));
    assertTrue(log.hardState().commit() >= s);
    assertEquals(snap.metadata(), log.snapshot().metadata());
    assertEquals(snap.metadata().confState(), log.initialState().confState());
  }

  @Test
  void aDamagedChunkOrPayloadIsRefusedAndChangesNothing() {
    StorageEngine leader = open();
    Snapshot snap = applyAndSnapshot(leader, 50);
    StorageEngine follower = track(openOtherNode(StorageOptions.defaults(2)));
    try (SnapshotSource source = leader.stateMachine(G).openSnapshot(snap);
        SnapshotSink sink = follower.stateMachine(G).newSnapshotSink(snap)) {
      SnapshotChunk c = source.chunk(0);
      byte[] flipped = c.data().clone();
      flipped[flipped.length / 2] ^= 1;
      SnapshotChunk bad = new SnapshotChunk(c.groupId(), c.snapshotIndex(), c.offset(), flipped,
          c.crc32c(), c.totalBytes());
      assertThrows(StorageCorruptionException.class, () -> sink.write(bad));
      // a chunk that is damaged consistently (checksum recomputed) fails at install
      sink.write(SnapshotChunk.of(c.groupId(), c.snapshotIndex(), c.offset(), flipped,
          c.totalBytes()));
      while (!sink.isComplete()) {
        sink.write(source.chunk(sink.nextOffset()));
      }
      assertThrows(StorageCorruptionException.class, sink::install);
    }
    assertEquals(0, follower.stateMachine(G).appliedIndex());
    assertEquals(0, follower.log(G).lastIndex());
  }

  @Test
  void aSnapshotNotAheadOfTheStateMachineIsNotInstalled() {
    StorageEngine leader = open();
    Snapshot snap = applyAndSnapshot(leader, 20);
    StorageEngine follower = track(openOtherNode(StorageOptions.defaults(2)));
    follower.log(G).append(entries(1, 25, 1));
    follower.stateMachine(G).apply(25, 1, List.of(KvMutation.put(b("newer"), b("x"))));
    try (SnapshotSource src = leader.stateMachine(G).openSnapshot(snap);
        SnapshotSink sink = follower.stateMachine(G).newSnapshotSink(snap)) {
      while (!sink.isComplete()) {
        sink.write(src.chunk(sink.nextOffset()));
      }
      assertThrows(IllegalStateException.class, sink::install);
    }
    assertEquals(25, follower.stateMachine(G).appliedIndex());
    assertTrue(follower.stateMachine(G).get(b("newer")).isPresent());
    assertEquals(25, follower.log(G).lastIndex());
  }

  @Test
  void aPayloadNoLongerHeldIsUnavailable() {
    StorageEngine e = open();
    Snapshot first = applyAndSnapshot(e, 5);
    e.log(G).compact(first);
    Snapshot second = applyAndSnapshot(e, 8);
    e.log(G).compact(second);
    assertThrows(SnapshotUnavailableException.class,
        () -> e.stateMachine(G).openSnapshot(first));
    try (SnapshotSource src = e.stateMachine(G).openSnapshot(second)) {
      assertEquals(8, src.metadata().index());
      assertThrows(IllegalArgumentException.class, () -> src.chunk(src.totalBytes()));
    }
  }

  // ------------------------------------------------------------------ damaged or inconsistent data

  /** Writes raw records under the engine, as a bug or a damaged disk would, then closes it. */
  static void tamper(StorageEngine e, java.util.function.Consumer<Backend.Batch> change) {
    try (Backend.Batch b = e.backend().newBatch()) {
      change.accept(b);
      e.backend().write(b, true);
    }
    e.close();
  }

  @Test
  void aRecordFailingItsChecksumIsReportedWithWhereItIs() {
    // no entry cache: the damaged entry must be read from the disk
    StorageEngine e = track(openEngine(CLUSTER, StorageOptions.defaults(1).withEntryCacheBytes(0)));
    e.log(G).append(entries(1, 10, 1));
    byte[] key = Keys.log(G, 5);
    byte[] good = Codec.entry(key, entry(5, 1));
    byte[] bad = good.clone();
    bad[bad.length - 1] ^= 0x10;
    try (Backend.Batch b = e.backend().newBatch()) {
      b.put(Backend.Cf.LOG, key, bad);
      e.backend().write(b, true);
    }
    StorageCorruptionException read = assertThrows(StorageCorruptionException.class,
        () -> e.log(G).entries(4, 7, 10_000));
    assertTrue(read.getMessage().contains("group 7, log index 5"), read.getMessage());
    assertTrue(read.getMessage().contains("CRC32C"), read.getMessage());
    e.close();
    StorageCorruptionException atStart =
        assertThrows(StorageCorruptionException.class, this::open);
    assertTrue(atStart.getMessage().contains("group 7, log index 5"), atStart.getMessage());
    assertTrue(atStart.getMessage().contains("column family 'log'"), atStart.getMessage());
  }

  @Test
  void aCorruptStateValueIsNeverReturned() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 1, 1));
    e.stateMachine(G).apply(1, 1, List.of(KvMutation.put(b("k"), b("value"))));
    byte[] key = Keys.state(G, b("k"));
    byte[] bad = Codec.stateValue(key, b("value"));
    bad[6] ^= 1;
    try (Backend.Batch batch = e.backend().newBatch()) {
      batch.put(Backend.Cf.STATE, key, bad);
      e.backend().write(batch, false);
    }
    StorageCorruptionException ex = assertThrows(StorageCorruptionException.class,
        () -> e.stateMachine(G).get(b("k")));
    assertTrue(ex.getMessage().contains("group 7"), ex.getMessage());
    assertThrows(StorageCorruptionException.class, () -> e.stateMachine(G).getInMemory(b("k")));
    assertThrows(StorageCorruptionException.class,
        () -> e.stateMachine(G).scan(b(""), b("z"), 10));
  }

  @Test
  void aLogWithAGapIsRefusedAtStart() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 10, 1));
    tamper(e, b -> b.delete(Backend.Cf.LOG, Keys.log(G, 6)));
    StorageStartupException ex = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.LOG_GAP, ex.reason());
    assertTrue(ex.getMessage().contains("expected entry 6 but found 7"), ex.getMessage());
  }

  @Test
  void aStateMachineBehindItsSnapshotIsRefusedAtStart() {
    StorageEngine e = open();
    e.log(G).compact(applyAndSnapshot(e, 10));
    byte[] applied = Keys.meta(G, Keys.APPLIED);
    tamper(e, b -> b.put(Backend.Cf.META, applied, Codec.position(applied, 5, 1)));
    StorageStartupException ex = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.STATE_MACHINE_BEHIND_SNAPSHOT, ex.reason());
    assertTrue(ex.getMessage().contains("applied index 5 is behind the log's snapshot at 10"),
        ex.getMessage());
  }

  @Test
  void aStateMachineOrCommitAheadOfTheLogIsRefusedAtStart() {
    StorageEngine e = open();
    e.log(G).append(entries(1, 10, 1));
    byte[] applied = Keys.meta(G, Keys.APPLIED);
    tamper(e, b -> b.put(Backend.Cf.META, applied, Codec.position(applied, 12, 1)));
    StorageStartupException ex = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.STATE_AHEAD_OF_LOG, ex.reason());
    assertTrue(ex.getMessage().contains("applied index 12 is past the log's last index 10"),
        ex.getMessage());
  }

  // ------------------------------------------------------------------ concurrency

  /**
   * Readers on other threads see the log before or after each write, never a mix, while a writer
   * appends, overwrites suffixes with higher terms and compacts.
   */
  @Test
  void readersNeverSeeAHalfWrittenLog() throws Exception {
    StorageEngine e = open();
    LogStore log = e.log(G);
    log.append(entries(1, 20, 1));
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    java.util.concurrent.atomic.AtomicReference<Throwable> problem =
        new java.util.concurrent.atomic.AtomicReference<>();
    java.util.concurrent.atomic.AtomicLong reads = new java.util.concurrent.atomic.AtomicLong();
    List<Thread> readers = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      java.util.Random rnd = new java.util.Random(r);
      Thread t = new Thread(() -> {
        while (!stop.get()) {
          try {
            long first = log.firstIndex();
            long last = log.lastIndex();
            if (last < first) {
              continue;
            }
            long lo = first + rnd.nextInt((int) (last - first + 1));
            long hi = Math.min(last + 1, lo + 1 + rnd.nextInt(30));
            List<Entry> got = log.entries(lo, hi, Long.MAX_VALUE);
            long prevTerm = 0;
            for (int i = 0; i < got.size(); i++) {
              Entry en = got.get(i);
              if (en.index() != lo + i || en.term() < prevTerm
                  || !en.equals(entry(en.index(), en.term()))) {
                throw new AssertionError("inconsistent read " + got);
              }
              prevTerm = en.term();
            }
            reads.incrementAndGet();
          } catch (LogCompactedException | LogUnavailableException expected) {
            // the log moved between asking its bounds and reading
          } catch (Throwable t2) {
            problem.compareAndSet(null, t2);
            return;
          }
        }
      });
      t.start();
      readers.add(t);
    }
    long term = 1;
    for (int round = 0; round < 150 && problem.get() == null; round++) {
      long last = log.lastIndex();
      if (round % 3 == 0) {
        term++;
        long from = Math.max(log.firstIndex(), last - 5);
        log.append(entries(from, from + 3, term)); // overwrite a suffix, shorter
      } else {
        log.append(entries(last + 1, last + 10, term));
      }
      if (round % 10 == 9) {
        log.compact(applyAndSnapshotAt(e, log.lastIndex() - 15));
      }
    }
    stop.set(true);
    for (Thread t : readers) {
      t.join(10_000);
    }
    if (problem.get() != null) {
      throw new AssertionError(problem.get());
    }
    assertTrue(reads.get() > 0);
  }

  /** Applies the log up to {@code index} (with its terms) and snapshots there. */
  static Snapshot applyAndSnapshotAt(StorageEngine e, long index) {
    StateMachineStore sm = e.stateMachine(G);
    for (long i = sm.appliedIndex() + 1; i <= index; i++) {
      sm.apply(i, e.log(G).term(i), List.of(KvMutation.put(b("key" + i), b("value" + i))));
    }
    return sm.createSnapshot();
  }

  // ------------------------------------------------------------------ start-up checks

  @Test
  void dataOfAnotherClusterOrNodeIsRefused() {
    open().close();
    StorageStartupException cluster = assertThrows(StorageStartupException.class,
        () -> track(openEngine("other-cluster", StorageOptions.defaults(1))));
    assertEquals(StorageStartupException.Reason.CLUSTER_ID_MISMATCH, cluster.reason());
    assertTrue(cluster.getMessage().contains("other-cluster"));
    StorageStartupException node = assertThrows(StorageStartupException.class,
        () -> track(openEngine(CLUSTER, StorageOptions.defaults(9))));
    assertEquals(StorageStartupException.Reason.NODE_ID_MISMATCH, node.reason());
  }

  @Test
  void dataInUseIsRefused() {
    open();
    StorageStartupException locked = assertThrows(StorageStartupException.class, this::open);
    assertEquals(StorageStartupException.Reason.LOCKED, locked.reason());
  }

  @Test
  void writesAfterCloseAreRefused() {
    StorageEngine e = open();
    LogStore log = e.log(G);
    e.close();
    e.close();
    assertThrows(IllegalStateException.class, () -> log.append(entries(1, 1, 1)));
  }

  // ------------------------------------------------------------------ sync monitor

  @Test
  void everySyncIsMeasuredAndReported() {
    StorageEngine e = open();
    List<SyncEvent> events = new ArrayList<>();
    SyncListener listener = events::add;
    e.syncMonitor().addListener(listener);
    e.syncMonitor().addListener(ev -> {
      throw new IllegalStateException("a broken listener does not break the write");
    });
    e.log(G).append(entries(1, 3, 1));
    assertEquals(1, events.size());
    SyncEvent ev = events.get(0);
    assertEquals(3, ev.entries());
    assertEquals(1, ev.batches());
    assertEquals(3 * entry(1, 1).sizeBytes(), ev.bytes());
    assertTrue(ev.durationNanos() >= 0);
    assertTrue(ev.failure().isEmpty());
    assertTrue(e.syncMonitor().syncInProgressSince().isEmpty());
    assertEquals(0, e.syncMonitor().syncAgeNanos(System.nanoTime()));
    assertTrue(e.syncMonitor().syncedEntries() >= 3);
    assertTrue(e.syncMonitor().maxSyncNanos() >= ev.durationNanos());
    e.syncMonitor().removeListener(listener);
    e.log(G).append(entries(4, 4, 1));
    assertEquals(1, events.size());
  }
}
