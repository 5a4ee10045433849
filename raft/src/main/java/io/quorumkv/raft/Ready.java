package io.quorumkv.raft;

import java.util.List;
import java.util.Optional;

/**
 * Everything the core wants done since the previous {@link RawNode#ready()}.
 *
 * <p>The driver's contract, in order of safety:
 * <ol>
 *   <li>Persist {@code snapshot}, {@code entries} and {@code hardState} (one synced write).
 *       Then report it with {@link RawNode#persisted(long, long)} (and
 *       {@link RawNode#snapshotPersisted(long)} for a snapshot). Optionally, once the write is
 *       issued in order and before the sync, report {@link RawNode#written(long, long)}: later
 *       Readies may then hand out committed entries up to it before they are durable
 *       (write, {@code written()}, sync, {@code persisted()}).</li>
 *   <li>{@code messages} may be sent at once, before or while persisting: they never claim
 *       durability (a leader's AppendEntries and heartbeats, heartbeat answers). This is what lets
 *       a leader write its own log in parallel with replicating it (thesis §10.2.1).</li>
 *   <li>{@code messagesAfterPersist} may only be sent once everything in this Ready is durable:
 *       they claim it (votes, append acknowledgements, a candidate's vote requests).</li>
 *   <li>Apply {@code committedEntries} in order, then report with {@link RawNode#applied(long)}.
 *       They are never past what this node has reported persisted or written before this Ready
 *       was taken, so they may be applied at once, before this Ready's own write; with
 *       {@code written()} the state machine's writes must go through the same ordered log, after
 *       the entries they apply, so that it never runs ahead of the log a crash leaves.</li>
 *   <li>Release {@code readStates} once the state machine has applied their index.</li>
 * </ol>
 * A driver may call {@code ready()} again before the previous batch is persisted: the core hands
 * out each entry and message exactly once, and pipelining is the driver's choice.
 *
 * @param softState            leader and role now; always present
 * @param hardState            the hard state to persist, if it changed
 * @param entries              new log entries to append (may overwrite a suffix of the log)
 * @param snapshot             a snapshot received from the leader, to install
 * @param messages             messages that may be sent immediately
 * @param messagesAfterPersist messages to send only after this Ready is durable
 * @param committedEntries     committed entries to apply, in log order
 * @param readStates           ReadIndex answers
 */
public record Ready(
    SoftState softState,
    Optional<HardState> hardState,
    List<Entry> entries,
    Optional<Snapshot> snapshot,
    List<Message> messages,
    List<Message> messagesAfterPersist,
    List<Entry> committedEntries,
    List<ReadState> readStates) {

  /** True when the driver must do a synced write before sending {@code messagesAfterPersist}. */
  public boolean mustSync() {
    return hardState.isPresent() || !entries.isEmpty() || snapshot.isPresent();
  }

  /** The last entry to persist, or null when there are no entries. */
  public Entry lastEntry() {
    return entries.isEmpty() ? null : entries.get(entries.size() - 1);
  }
}
