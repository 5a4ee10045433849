package io.quorumkv;

import java.util.List;

/**
 * Which client writes of an entry its leader may answer once the entry is committed, before the
 * applier has applied it: the writes whose outcome is already known.
 *
 * <p>A committed entry is on a majority's disks and will be applied by every replica, in log
 * order; what is not decided until then is its outcome. An unconditional write (a put, or a batch
 * without expectations) always succeeds, unless the partition rejects it: because the key is not
 * (or no longer) the partition's, or because the partition is frozen for a merge (see
 * {@link PartitionStateMachine}'s write). Only entries that are not client writes (splits,
 * freezes, merges, and other commands, counted alike to keep the rule simple) change either. So
 * when the applier has applied every such entry before the new one (its published
 * {@link AppliedSpan} is at or past the {@code spanChangeBound}: the last such entry this leader
 * knows of in its log), the partition's span and freeze at the new entry are the published ones,
 * and the entry's unconditional writes to keys in that span will be written.
 *
 * <p>The client's session does not change the answer: a write whose sequence number the client
 * already acknowledged is rejected at apply ({@code SESSION_EXPIRED}), but a client acknowledges a
 * sequence number only once it has its answer, so no caller waits for that rejection; a write
 * retried after its session expired is applied again, and succeeds again.
 *
 * <p>Reads stay linearizable: a ReadIndex or lease read waits until the applier reaches the commit
 * index it read, which covers every write answered before it. NodeRuntime and the simulator
 * (KvSimReplica) both decide with this class, and both check at apply time that the applied
 * outcome agrees with each answer given ({@link #contradictions}).
 */
final class AnswerAtCommit {

  private AnswerAtCommit() {}

  /**
   * What the applier has applied of a partition's span: its span and the partition it is frozen
   * into (0: not frozen) as of applied index {@code index}, or later.
   */
  record AppliedSpan(long index, KeySpan span, long frozenInto) {}

  /** The outcome a write answered at commit is given. */
  static final PartitionStateMachine.Outcome WRITTEN = new PartitionStateMachine.Outcome.Written(true);

  /** Whether applying {@code c} may change the partition's span or freeze (anything but client writes). */
  static boolean mayChangeSpan(Command c) {
    return !(c instanceof Command.Write) && !(c instanceof Command.Writes);
  }

  /**
   * For each of {@code writes}, about to be proposed as one entry after every entry up to
   * {@code spanChangeBound} that may change the span: whether it may be answered at commit. Null
   * when none may.
   */
  static boolean[] known(List<Command.Write> writes, AppliedSpan applied, long spanChangeBound) {
    if (applied == null || applied.index() < spanChangeBound || applied.frozenInto() != 0 || applied.span() == null) {
      return null;
    }
    boolean[] known = null;
    for (int i = 0; i < writes.size(); i++) {
      WriteOp op = writes.get(i).op();
      if (unconditional(op) && PartitionStateMachine.ownsEveryKey(applied.span(), op)) {
        if (known == null) {
          known = new boolean[writes.size()];
        }
        known[i] = true;
      }
    }
    return known;
  }

  /** Whether {@code op} succeeds whatever the partition holds: a put, or a batch without expectations. */
  static boolean unconditional(WriteOp op) {
    if (op instanceof WriteOp.Put) {
      return true;
    }
    if (op instanceof WriteOp.Batch b) {
      for (BatchOp o : b.ops()) {
        if (o instanceof BatchOp.Expect) {
          return false;
        }
      }
      return true;
    }
    return false;
  }

  /**
   * How many of an entry's writes flagged in {@code known} (from {@link #known}; null: none) its
   * applied outcome {@code applied} contradicts: each must apply as {@link #WRITTEN}, or be
   * refused as already acknowledged ({@code SESSION_EXPIRED}, which no caller waits for).
   */
  static int contradictions(boolean[] known, PartitionStateMachine.Outcome applied) {
    if (known == null) {
      return 0;
    }
    int n = 0;
    for (int i = 0; i < known.length; i++) {
      PartitionStateMachine.Outcome each =
          applied instanceof PartitionStateMachine.Outcome.Writes w ? w.each().get(i) : applied;
      if (known[i] && !each.equals(WRITTEN) && !(each instanceof PartitionStateMachine.Outcome.Rejected r
          && r.code() == KvResponse.Code.SESSION_EXPIRED)) {
        n++;
      }
    }
    return n;
  }
}
