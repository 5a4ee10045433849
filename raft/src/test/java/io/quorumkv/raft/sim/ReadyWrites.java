package io.quorumkv.raft.sim;

import io.quorumkv.raft.HardState;
import io.quorumkv.raft.MemoryStorage;
import io.quorumkv.raft.RawNode;
import io.quorumkv.raft.Ready;

/** What a simulated disk does when it syncs one {@link Ready}'s log writes. */
public final class ReadyWrites {

  private ReadyWrites() {}

  /**
   * Makes {@code rd}'s entries and new term or vote durable in {@code log} (its snapshot, if any,
   * must be installed already: the state machine first), records the entries with
   * {@code invariants} (log matching), then tells the core what is durable.
   */
  public static void persist(long node, MemoryStorage log, Ready rd, RawNode raw, Invariants invariants) {
    write(node, log, rd, invariants);
    if (rd.snapshot().isPresent()) {
      raw.snapshotPersisted(rd.snapshot().get().metadata().index());
    }
    if (rd.mustSync()) {
      long last = log.lastIndex();
      raw.persisted(last, log.term(last));
    }
  }

  /**
   * The disk's part of {@link #persist} without telling the core: also what survives of a write
   * that a crash cut short after it reached the disk.
   */
  public static void write(long node, MemoryStorage log, Ready rd, Invariants invariants) {
    if (!rd.entries().isEmpty()) {
      long first = rd.entries().get(0).index();
      log.append(rd.entries());
      invariants.persisted(node, first == 1 ? 0 : log.term(first - 1), rd.entries());
    }
    // As QuorumKV's node does: only a new term or vote is written. The commit index is volatile
    // (it lags on disk, and a restarted core commits through its applied index).
    rd.hardState().ifPresent(hs -> {
      HardState stored = log.hardState();
      if (hs.term() != stored.term() || hs.vote() != stored.vote()) {
        log.setHardState(hs);
      }
    });
  }
}
