package io.quorumkv.raft;

/**
 * One member of one Raft group: the algorithm as a pure, single-threaded, deterministic object.
 *
 * <p>Not thread-safe: one driver thread calls every method. No method blocks, sleeps, reads a
 * clock or does I/O; time passes only through {@link #tick()} and randomness comes only from
 * {@link RaftConfig#random()}, so the same inputs always give the same outputs.
 *
 * <p>The driver loop:
 * <pre>{@code
 * node.tick();                       // every tick interval
 * node.step(message);                // for every message received
 * if (node.hasReady()) {
 *   Ready rd = node.ready();
 *   send(rd.messages());             // may go before the disk write
 *   apply(rd.committedEntries());    // may go first: they are durable or written already
 *   node.applied(lastApplied);
 *   wal.write(rd.snapshot(), rd.entries(), rd.hardState());    // Readies in order, unsynced
 *   node.written(lastIndex, lastTerm);                          // optional: apply before the sync
 *   wal.sync();
 *   node.persisted(lastIndex, lastTerm);
 *   rd.snapshot().ifPresent(s -> node.snapshotPersisted(s.metadata().index()));
 *   send(rd.messagesAfterPersist());
 * }
 * }</pre>
 * A driver that does not call {@link #written} gets committed entries only once they are durable
 * here, so it may as well apply them after the sync. One that does must write the state machine
 * through the same ordered log (a crash keeps a prefix of the writes), so that applied state never
 * survives without the entries it applied.
 */
public final class RawNode {

  private final Raft raft;
  /**
   * Calls that may have changed the core's state, counted: the core changes only through this
   * object's methods (it has no clock, thread or callback), so what {@link #hasReady} found stays
   * true until the count moves. A node with many groups asks every group on every turn of its loop;
   * most are idle, and the answer is then two field reads instead of a walk through the core's
   * objects (a cache miss each, with a thousand groups).
   */
  private long changes;
  private long readyCheckedAt = -1;
  private boolean readyAnswer;

  /**
   * Starts or restarts a member from its storage. A brand-new group is bootstrapped by giving
   * every initial member a storage whose {@link RaftStorage.InitialState} lists the voters.
   *
   * @param config  this member's configuration
   * @param storage the durable log; read by the core, written by the driver
   */
  public RawNode(RaftConfig config, RaftStorage storage) {
    this.raft = new Raft(config, storage);
  }

  /** Advances logical time by one tick: election timeouts, heartbeats, CheckQuorum, leases. */
  public void tick() {
    changes++;
    raft.tick();
  }

  /**
   * Feeds a message received from a peer. Messages from stale terms, from non-members or for
   * another member are ignored (stale-term ones may be answered so the sender learns the term).
   */
  public void step(Message message) {
    changes++;
    raft.step(message);
  }

  /** Starts an election now (tests, and the first member of a single-node group). */
  public void campaign() {
    changes++;
    raft.campaign();
  }

  /**
   * Appends a command to the leader's log.
   *
   * @return the index the command will have if it commits; the caller matches committed entries
   *         against it (and their term against {@link #status()} at proposal time)
   * @throws ProposalDroppedException if this node cannot accept proposals now
   */
  public long propose(byte[] data) {
    changes++;
    return raft.propose(data);
  }

  /**
   * Proposes a membership change. At most one may be pending (uncommitted or unapplied) at a time.
   *
   * @return the index of the change's entry
   * @throws ProposalDroppedException if not leader or a change is already pending
   */
  public long proposeConfChange(ConfChange change) {
    changes++;
    return raft.proposeConfChange(change);
  }

  /**
   * Applies a committed membership change to the core's view of the group. The driver calls it
   * when it applies a {@link EntryType#CONF_CHANGE} entry, in log order, for every such entry
   * handed out: changes handed out before a restored snapshot are recognised by counting them.
   * Prefer {@link #applyConfChange(ConfChange, long)}, which does not depend on that.
   *
   * @return the membership after the change, to persist with the applied index
   */
  public ConfState applyConfChange(ConfChange change) {
    changes++;
    return raft.applyConfChange(change);
  }

  /**
   * Like {@link #applyConfChange(ConfChange)}, given the index of the change's entry: a change at
   * or below the index of the last snapshot this node restored is already part of that snapshot's
   * membership and is a no-op (returning the current membership). Exact even if the driver skips
   * entries that a restored snapshot replaced.
   *
   * @param change the decoded change
   * @param index  the index of its {@link EntryType#CONF_CHANGE} entry
   * @return the membership after the change, to persist with the applied index
   */
  public ConfState applyConfChange(ConfChange change, long index) {
    changes++;
    return raft.applyConfChange(change, index);
  }

  /**
   * Requests a linearizable read point. The answer arrives as a {@link ReadState} with the same
   * {@code context} in a later {@link Ready}; a request that cannot be served (no leader, or the
   * leader has not committed an entry in its term yet) is answered later or dropped when
   * leadership changes. {@code context} must be unique among this node's pending requests.
   */
  public void readIndex(long context) {
    changes++;
    raft.readIndex(context);
  }

  /**
   * Like {@link #readIndex(long)}, but with {@code leaseAllowed == false} a leader confirms its
   * leadership with a heartbeat round even while it holds a valid lease, so the answer does not
   * depend on clocks. Lets a driver configured with {@link ReadOnlyOption#LEASE_BASED} choose per
   * read. On a follower, the request goes to the leader as {@link #readIndex(long)} does (and the
   * leader may answer it from its lease).
   */
  public void readIndex(long context, boolean leaseAllowed) {
    changes++;
    raft.readIndex(context, leaseAllowed);
  }

  /**
   * Allows ({@code true}, the default) or forbids this member to become leader, for a driver that
   * knows it unfit to lead (e.g. its state machine diverged). Forbidden, it never campaigns: no
   * PreVote or election when its election timeout elapses, and a leader's TimeoutNow is ignored
   * (the leader aborts that transfer after an election timeout and takes proposals again); a
   * campaign under way ends, back to follower in the same term. It still votes for others,
   * replicates, persists, and counts toward every quorum exactly as before. A leader keeps leading:
   * the driver hands its leadership away ({@link #transferLeadership}). Not persisted: a driver
   * sets it again after a restart, before the first {@link #tick()}.
   */
  public void setPromotable(boolean promotable) {
    changes++;
    raft.setPromotable(promotable);
  }

  /** Asks the leader to hand leadership to {@code transferee} (thesis §3.10). */
  public void transferLeadership(long transferee) {
    changes++;
    raft.transferLeadership(transferee);
  }

  /** Tells the core a peer could not be reached, so the leader stops pipelining to it. */
  public void reportUnreachable(long peer) {
    changes++;
    raft.reportUnreachable(peer);
  }

  /**
   * Tells the leader whether sending a snapshot to {@code peer} succeeded. The transport must
   * report every failed or dropped InstallSnapshot: until it does (or the follower acknowledges
   * the snapshot) the leader sends that follower nothing but heartbeats.
   */
  public void reportSnapshot(long peer, boolean success) {
    changes++;
    raft.reportSnapshot(peer, success);
  }

  /** Whether {@link #ready()} has anything to hand out. */
  public boolean hasReady() {
    if (readyCheckedAt != changes) {
      readyAnswer = raft.hasReady();
      readyCheckedAt = changes;
    }
    return readyAnswer;
  }

  /** Takes everything the driver has to do now; see {@link Ready} for the contract. */
  public Ready ready() {
    changes++;
    return raft.ready();
  }

  /**
   * Reports that the log is durable up to ({@code index}, {@code term}) and so is every hard
   * state handed out before. The term guards against an acknowledgement for entries that a later
   * Ready overwrote.
   */
  public void persisted(long index, long term) {
    changes++;
    raft.persisted(index, term);
  }

  /**
   * Reports that the log entries through {@code index} (of {@code term}) are written to storage
   * such that they become durable no later than any state-machine write made after this call (one
   * ordered write-ahead log): a crash can lose them only together with everything written after
   * them. Committed entries up to this index may then be applied before they are durable; whether
   * they count toward the commit index still waits for {@link #persisted}. Optional: a driver that
   * never calls it applies only durable entries, as before.
   *
   * <p>Ignored, as {@link #persisted} is, if the log no longer has that entry (a later Ready
   * overwrote it), if it was never handed out, or if a later index was reported already. When a
   * leader's entries overwrite this node's log suffix, the overwritten part no longer counts as
   * written: the new entries must be reported again.
   */
  public void written(long index, long term) {
    changes++;
    raft.written(index, term);
  }

  /** Reports that the snapshot at {@code index} handed out in a Ready is installed and durable. */
  public void snapshotPersisted(long index) {
    changes++;
    raft.snapshotPersisted(index);
  }

  /** Reports that the state machine has applied every committed entry up to {@code index}. */
  public void applied(long index) {
    changes++;
    raft.applied(index);
  }

  /**
   * Whether a lease read is safe right now: this node is leader, has committed an entry in its
   * term, is not transferring leadership (and has not sent TimeoutNow in this term), and a quorum
   * acknowledged a heartbeat round sent at leader tick {@code start} with
   * {@code now - start + 1 <= (electionTick - 1) * (1 - clockDriftFactor)} (the leader counts as
   * acknowledging now). The driver may then serve a read at the current commit index
   * ({@link #commitIndex()}, once applied) without a round trip. Always false unless
   * {@link ReadOnlyOption#LEASE_BASED} is configured.
   *
   * <p>The current commit index, not the one of the last {@link Ready}: a new leader learns how
   * far its predecessor committed only when an entry of its own term commits, which is also the
   * step that makes its lease valid. A read served at the last Ready's commit index then could miss
   * a write the predecessor had acknowledged.
   *
   * <p>Clock assumption: the leader's tick count keeps up with real time (the driver catches up
   * ticks missed during a pause, from a monotonic clock, before asking), and no follower's ticks
   * run ahead of it: {@code k} follower ticks span at least {@code k * (1 - clockDriftFactor)}
   * nominal tick intervals. Followers keep their side of the lease by ignoring vote requests for
   * {@code electionTick} ticks after hearing from the leader (also after a restart).
   */
  public boolean hasValidLease() {
    return raft.hasValidLease();
  }

  /**
   * The highest log index known to be committed now (the next {@link Ready}'s hard state carries
   * it). Cheap: no copy of the node's state, unlike {@link #status()}.
   */
  public long commitIndex() {
    return raft.committedIndex();
  }

  /**
   * Leader only: the highest log index that every other member in steady replication holds
   * durably (the smallest match index over the members in {@link Status.ReplicationState#REPLICATE}
   * state), or the last index when none is; 0 when this node does not lead. Members being probed
   * or sent a snapshot are left out: they catch up from storage, not from the newest entries.
   * Entries up to this index (and up to the applied index) are not needed again to replicate or
   * apply in steady state, so a driver may let go of in-memory copies of them (and keep them out
   * of the heap's survivor spaces). Cheap: no copy of the node's state, unlike {@link #status()}.
   */
  public long replicatedIndex() {
    return raft.replicatedIndex();
  }

  /** A snapshot of this node's state for monitoring and tests. */
  public Status status() {
    return raft.status();
  }
}
