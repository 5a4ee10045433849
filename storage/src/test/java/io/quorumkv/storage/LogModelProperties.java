package io.quorumkv.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Entry;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.LogCompactedException;
import io.quorumkv.raft.Snapshot;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * The log against a model: a random script of appends (with suffix overwrites), hard states,
 * snapshot-and-compact steps, reads and crashes runs on the in-memory engine and on a
 * {@code TreeMap}; after every step both agree on every index, term, entry and hard state. A
 * failure shrinks to a short script.
 */
class LogModelProperties {

  private static final long G = 3;

  /** What the log should hold. */
  private static final class Model {
    final TreeMap<Long, Entry> entries = new TreeMap<>();
    long compacted;
    long compactedTerm;
    HardState hs = HardState.EMPTY;
    long applied;

    long last() {
      return entries.isEmpty() ? compacted : entries.lastKey();
    }

    long term(long i) {
      return i == compacted ? compactedTerm : entries.get(i).term();
    }
  }

  @Property(tries = 300)
  void theLogBehavesLikeItsModel(
      @ForAll @Size(max = 60) List<@IntRange(min = 0, max = 99_999) Integer> script,
      @ForAll("cacheBytes") long cacheBytes) {
    MemoryDisk disk = new MemoryDisk();
    StorageEngine engine = open(disk, cacheBytes);
    Model m = new Model();
    long term = 1;
    try {
      for (int step : script) {
        int param = step / 10;
        switch (step % 10) {
          case 0, 1, 2, 3 -> {
            long floor = Math.max(Math.max(m.compacted, m.applied), m.hs.commit());
            long from = floor + 1 + param % (m.last() - floor + 1);
            if (param % 4 == 0) {
              term++;
            }
            long t = Math.max(term, m.term(from - 1));
            List<Entry> batch = new ArrayList<>();
            for (long i = from; i < from + 1 + param % 5; i++) {
              batch.add(Entry.normal(i, t, ("v" + i + "/" + t + "/" + param)
                  .getBytes(StandardCharsets.UTF_8)));
            }
            engine.log(G).append(batch);
            m.entries.tailMap(from, true).clear();
            batch.forEach(e -> m.entries.put(e.index(), e));
          }
          case 4, 5 -> {
            if (param % 3 == 0) {
              term++;
            }
            long commit = m.hs.commit() + param % (m.last() - m.hs.commit() + 1);
            long t = Math.max(term, m.hs.term());
            long vote = t == m.hs.term() && m.hs.vote() != 0 ? m.hs.vote() : param % 4;
            HardState hs = new HardState(t, vote, commit);
            engine.log(G).setHardState(hs);
            m.hs = hs;
          }
          case 6 -> {
            if (m.last() > m.applied && m.last() > m.compacted) {
              long upTo = m.applied + 1 + param % (m.last() - m.applied);
              StateMachineStore sm = engine.stateMachine(G);
              sm.apply(upTo, m.term(upTo), List.of(KvMutation.put(new byte[] {1},
                  Long.toString(upTo).getBytes(StandardCharsets.UTF_8))));
              m.applied = upTo;
              Snapshot snap = sm.createSnapshot();
              engine.log(G).compact(snap);
              m.entries.headMap(upTo, true).clear();
              m.compactedTerm = snap.metadata().term();
              m.compacted = upTo;
            }
          }
          case 7 -> {
            disk.crash();
            engine = open(disk, cacheBytes);
            long applied = engine.stateMachine(G).appliedIndex();
            assertTrue(applied <= m.applied && applied >= m.compacted, "applied " + applied);
            m.applied = applied;
          }
          default -> {
            long lo = m.compacted + 1 + param % (m.last() - m.compacted + 1);
            long hi = lo + param % 7;
            if (hi - 1 <= m.last() && lo <= hi) {
              long max = 1 + param % 100;
              List<Entry> got = engine.log(G).entries(lo, hi, max);
              List<Entry> want = new ArrayList<>();
              long size = 0;
              for (long i = lo; i < hi; i++) {
                Entry e = m.entries.get(i);
                if (!want.isEmpty() && size + e.sizeBytes() > max) {
                  break;
                }
                size += e.sizeBytes();
                want.add(e);
              }
              assertEquals(want, got);
            }
          }
        }
        check(engine, m);
      }
    } finally {
      engine.close();
    }
  }

  /** No entry cache, one of a few entries (reads span cache and disk), and the default. */
  @Provide
  Arbitrary<Long> cacheBytes() {
    return Arbitraries.of(0L, 200L, StorageOptions.defaults(1).entryCacheBytes());
  }

  private static StorageEngine open(MemoryDisk disk, long cacheBytes) {
    return StorageEngine.openInMemory(
        disk, "model", StorageOptions.defaults(1).withEntryCacheBytes(cacheBytes));
  }

  private static void check(StorageEngine engine, Model m) {
    LogStore log = engine.log(G);
    assertEquals(m.compacted + 1, log.firstIndex());
    assertEquals(m.last(), log.lastIndex());
    assertEquals(m.hs, log.hardState());
    for (long i = m.compacted; i <= m.last(); i++) {
      assertEquals(m.term(i), log.term(i), "term of " + i);
    }
    if (m.compacted > 0) {
      long c = m.compacted;
      assertThrows(LogCompactedException.class, () -> log.term(c - 1));
      assertEquals(c, log.snapshot().metadata().index());
    }
    List<Entry> all = log.entries(m.compacted + 1, m.last() + 1, Long.MAX_VALUE);
    assertEquals(new ArrayList<>(m.entries.values()), all);
  }
}
