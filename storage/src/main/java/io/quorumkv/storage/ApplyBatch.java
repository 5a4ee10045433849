package io.quorumkv.storage;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * State machine applies of any number of groups, staged with
 * {@link StateMachineStore#apply(ApplyBatch, long, long, java.util.List, io.quorumkv.raft.ConfState)}
 * and written by {@link #commit()} as one atomic, unsynced write: the per-write costs (RocksDB's
 * write group, a write-ahead log append) are paid once for all of them. After a crash either every
 * apply of the batch is there or none is. Obtained from {@link StorageEngine#newApplyBatch()}.
 *
 * <p>Nothing staged is visible before {@link #commit()}: reads, {@link StateMachineStore#appliedIndex()}
 * and {@link StateMachineStore#confState()} show the state as of the last commit, and each group's
 * new applied index and membership are published only once the write is in the database. Staging
 * validates against what the batch already holds, so one group may be staged several times (at
 * increasing indexes); a stage that fails adds nothing.
 *
 * <p>Not thread-safe: it belongs to the one thread that writes state machines (the applier).
 * A batch serves many commits; {@link #close()} discards what is staged and not committed.
 */
public final class ApplyBatch implements AutoCloseable {

  /** One staged group: the view the batch started from, and the one its commit will publish. */
  private static final class Draft {
    final SmView base;
    SmView view;

    Draft(SmView base) {
      this.base = base;
      this.view = base;
    }
  }

  private final StorageEngine engine;
  /** The staged writes; created with the first stage after each commit. */
  private Backend.Batch writes;
  /** Staged groups in the order of their first stage. */
  private final Map<StorageEngine.Group, Draft> drafts = new LinkedHashMap<>();
  private boolean closed;

  ApplyBatch(StorageEngine engine) {
    this.engine = engine;
  }

  /** True when nothing is staged. */
  public boolean isEmpty() {
    return drafts.isEmpty();
  }

  /**
   * Writes everything staged in one atomic, unsynced write (ordered, like every state machine
   * write, after the synced log writes before it), then publishes each staged group's applied
   * index and membership. Afterwards, whether it returned or threw, the batch is empty and may be
   * staged into again. Nothing is written when nothing is staged.
   *
   * @throws IllegalStateException  if a staged group's state machine was changed outside this
   *                                batch since it was staged (a snapshot installed, the group
   *                                deleted): nothing is written
   * @throws StorageFailedException if the engine is failed, or the write failed
   */
  public void commit() {
    checkOpen();
    if (drafts.isEmpty()) {
      return;
    }
    try {
      engine.checkUsable(this::describe);
      for (Map.Entry<StorageEngine.Group, Draft> d : drafts.entrySet()) {
        if (d.getKey().smView != d.getValue().base) {
          throw new IllegalStateException("group " + d.getKey().id + ": its state machine changed "
              + "after it was staged in an apply batch; nothing of the batch is written");
        }
      }
      // The write and each group's new applied index become visible together: a reader that reads
      // both under an optimistic read of the group's state lock, validated, read one exact state
      // (StateMachineStore#stateLock). Held for one unsynced write.
      for (StorageEngine.Group g : drafts.keySet()) {
        g.stateLock.writeLock();
      }
      try {
        engine.unsyncedWrite(writes, this::describe);
        for (Map.Entry<StorageEngine.Group, Draft> d : drafts.entrySet()) {
          d.getKey().smView = d.getValue().view;
        }
      } finally {
        for (StorageEngine.Group g : drafts.keySet()) {
          g.stateLock.tryUnlockWrite();
        }
      }
    } finally {
      reset();
    }
  }

  /** Discards what is staged and not committed; idempotent. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      reset();
    }
  }

  // ------------------------------------------------------------------ staging (GroupStateMachine)

  /** The batch's engine, to refuse a batch of another engine. */
  StorageEngine engine() {
    return engine;
  }

  /** {@code g}'s state machine view as of everything staged here: what the next stage follows. */
  SmView view(StorageEngine.Group g) {
    Draft d = drafts.get(g);
    return d == null ? g.smView : d.view;
  }

  /** The backend batch to add a validated stage's writes to. */
  Backend.Batch writes() {
    checkOpen();
    if (writes == null) {
      writes = engine.backend().newBatch();
    }
    return writes;
  }

  /** Records that {@code g}'s writes up to {@code view} were added to {@link #writes()}. */
  void staged(StorageEngine.Group g, SmView view) {
    drafts.computeIfAbsent(g, x -> new Draft(x.smView)).view = view;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("apply batch is closed");
    }
  }

  private void reset() {
    drafts.clear();
    if (writes != null) {
      writes.close();
      writes = null;
    }
  }

  /** What the write was, for an error (built only then). */
  private String describe() {
    StringBuilder sb = new StringBuilder("apply");
    String sep = " ";
    for (Map.Entry<StorageEngine.Group, Draft> d : drafts.entrySet()) {
      sb.append(sep).append("index ").append(d.getValue().view.appliedIndex()).append(" of group ")
          .append(d.getKey().id);
      sep = ", ";
    }
    return sb.toString();
  }
}
