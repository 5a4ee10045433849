package io.quorumkv;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.ProposalDroppedException;
import io.quorumkv.raft.RawNode;
import io.quorumkv.raft.ReadState;
import io.quorumkv.raft.Ready;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SoftState;
import io.quorumkv.raft.StateRole;
import io.quorumkv.raft.Status;
import io.quorumkv.raft.sim.Invariants;
import io.quorumkv.raft.sim.ReadyWrites;
import io.quorumkv.raft.sim.SafetyViolation;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * One node's replica of one partition in {@link KvSim}: a real {@link RawNode} driven by the loop
 * of {@link Ready}'s contract, and the real {@link PartitionStateMachine} applying its committed
 * entries. Lives as long as its node's process: a crash drops it, a restart opens a new one from
 * the node's {@link KvSimNode.Disk}.
 */
final class KvSimReplica {

  /** The client writes of the entry proposed at an index in {@code term}, in the entry's order. */
  /** A proposed entry's requests; those flagged in {@code knownAtCommit} (null: none) are answered at commit. */
  private record Proposal(List<KvSimRequest> requests, long term, boolean[] knownAtCommit) {}

  /**
   * A read that has its read index and waits for the state machine to reach it; a lease read's
   * answer counts only if read before {@code leaseUntil} (Long.MAX_VALUE for a ReadIndex read).
   */
  private record WaitingRead(long index, KvSimRequest request, long leaseUntil) {}

  private final long group;
  private final KvSimNode node;
  private final KvSim sim;
  private final KvSimNode.Disk disk;
  private final RawNode raw;
  private final int incarnation;
  private PartitionStateMachine sm;
  private ConfState confState;
  /** Readies handed to the disk and not yet durable, oldest first. */
  private final ArrayDeque<Ready> unsynced = new ArrayDeque<>();
  /** Of those, the ones written (reported to the core with {@code written}), oldest first. */
  private final ArrayDeque<Ready> writtenUnsynced = new ArrayDeque<>();
  /** The term of the last entry the live store applied (a snapshot's if it was installed last). */
  private long appliedTerm;
  private SoftState softState = new SoftState(0, StateRole.FOLLOWER);
  private final Map<Long, Proposal> proposals = new HashMap<>();
  /** Client writes taken since the node's last loop turn: proposed as one entry at the next. */
  private final List<KvSimRequest> pendingWrites = new ArrayList<>();
  private final Map<Long, KvSimRequest> readIndexWaiting = new HashMap<>();
  private final List<WaitingRead> waitingReads = new ArrayList<>();
  private long reportedApplied;
  private long appliedSinceSnapshot;
  private long readContexts;
  /** As NodeRuntime's Replica#spanChangeBound: writes proposed after it are answered at commit once it applied. */
  private long spanChangeBound = Long.MAX_VALUE;
  /** No vote and no campaign until the state machine applied this index (see {@link Tombstones}). */
  private long quarantinedBelow;
  /** The node's tick when this replica last heard from its leader (or was opened). */
  private long lastLeaderContactTick;
  /** Left the node's loop (removed): its disk goes once the node's earlier writes are synced. */
  private boolean destroyed;
  /**
   * As NodeRuntime's Replica#divergedAt: the index at which a hash check found this replica's state
   * diverged from a quorum's, or 0 ({@link KvSim#replicaHash} gives the verdicts). While set, it
   * serves no read, its core is unpromotable unless it has known no leader for long
   * ({@link #updatePromotable}), and as leader it takes no client write, answers the ones it
   * applies "outcome unknown", and hands its leadership away.
   */
  private long divergedAt;
  /** As NodeRuntime's Replica#ticksWithoutLeader: core ticks since it last knew a leader in contact or led. */
  private int ticksWithoutLeader;
  /** What the core was last told ({@link RawNode#setPromotable}). */
  private boolean promotable = true;

  KvSimReplica(long group, KvSimNode node, KvSim sim, KvSimNode.Disk disk, RawNode raw, PartitionStateMachine sm) {
    this.group = group;
    this.node = node;
    this.sim = sim;
    this.disk = disk;
    this.raw = raw;
    this.sm = sm;
    this.incarnation = node.incarnation();
    this.confState = disk.log.initialState().confState();
    this.reportedApplied = disk.store.appliedIndex();
    this.appliedTerm = disk.durable.appliedTerm(); // a replica opens from the store as the disk holds it
    this.lastLeaderContactTick = node.ticks();
  }

  private boolean current() {
    return node.current(incarnation) && !destroyed;
  }

  /** As NodeRuntime's quarantine of a replica created again after one was destroyed (see {@link Tombstones}). */
  void quarantineBelow(long index) {
    quarantinedBelow = index;
  }

  /**
   * Sets ({@code index} > 0) or lifts (0) the fence, and tells the core whether it may campaign
   * ({@link #updatePromotable}), as NodeRuntime#syncPromotable does.
   */
  void fence(long index) {
    fenceAtOpen(index);
    drain();
  }

  /** {@link #fence} before the replica is on the node's loop (its fence as the node recorded it). */
  void fenceAtOpen(long index) {
    divergedAt = index;
    updatePromotable();
  }

  /**
   * As NodeRuntime#updatePromotable: a fenced replica's core campaigns only once it has known no
   * leader for {@link NodeRuntime#FENCED_CAMPAIGN_AFTER_TIMEOUTS} election timeouts (else a
   * partition whose only up-to-date voter is fenced would elect no one, ever).
   */
  private void updatePromotable() {
    boolean p = divergedAt == 0 || leaderlessLong();
    if (p != promotable) {
      promotable = p;
      raw.setPromotable(p);
    }
  }

  /** Whether this replica has known no leader for long enough that, fenced, it may campaign. */
  private boolean leaderlessLong() {
    return ticksWithoutLeader >= NodeRuntime.FENCED_CAMPAIGN_AFTER_TIMEOUTS * KvSim.ELECTION_TICK;
  }

  /** The fence's index, 0 if not fenced. */
  long divergedAt() {
    return divergedAt;
  }

  private boolean quarantined() {
    return sm.appliedIndex() < quarantinedBelow;
  }

  /** Ticks of the node since this replica last heard from its leader. */
  long ticksSinceLeaderContact() {
    return node.ticks() - lastLeaderContactTick;
  }

  /** A snapshot from the leader waits for the disk (NodeRuntime: installing). */
  boolean installing() {
    return unsynced.stream().anyMatch(rd -> rd.snapshot().isPresent());
  }

  /** What a tombstone keeps of this replica: its term, its vote, the end of its log. */
  Tombstones.Tombstone tombstone() {
    Status st = raw.status();
    return new Tombstones.Tombstone(st.hardState().term(), st.hardState().vote(), st.lastIndex());
  }

  /**
   * Leaves the node's loop, as NodeRuntime#destroyReplica: nothing more is stepped, written or
   * applied. Writes never proposed and reads are refused; a write proposed here while this replica
   * led may still apply elsewhere, so its client gets no answer (NodeRuntime answers it "outcome
   * unknown" when the leadership is lost), times out and retries with the same session number.
   */
  void destroy() {
    destroyed = true;
    pendingWrites.forEach(r -> reject(r, "replica removed"));
    pendingWrites.clear();
    proposals.clear();
    readIndexWaiting.values().forEach(r -> reject(r, "replica removed"));
    readIndexWaiting.clear();
    waitingReads.forEach(w -> reject(w.request(), "replica removed"));
    waitingReads.clear();
  }

  long group() {
    return group;
  }

  boolean isLeader() {
    return softState.role() == StateRole.LEADER;
  }

  long term() {
    return raw.status().hardState().term();
  }

  long commitIndex() {
    return raw.status().hardState().commit();
  }

  ConfState confState() {
    return confState;
  }

  KeySpan span() {
    return sm.span();
  }

  List<byte[]> dataKeys() {
    List<byte[]> keys = new ArrayList<>();
    for (KeyValue kv : sm.scan(new byte[0], new byte[0], Integer.MAX_VALUE)) {
      keys.add(kv.key());
    }
    return keys;
  }

  // ---- inputs ----

  void tick(boolean checkHash) {
    if (!quarantined()) {
      raw.tick(); // a quarantined replica neither votes nor campaigns: NodeRuntime does not tick it
      ticksWithoutLeader = isLeader() ? 0 : ticksWithoutLeader + 1;
      updatePromotable();
    }
    if (checkHash && isLeader()) {
      proposeAdmin(new Command.CheckHash());
    }
    handLeadershipAwayIfFenced();
    drain();
  }

  /**
   * As ReplicaHashChecks#handDivergedLeadershipsAway, each tick: a fenced leader transfers its
   * leadership to the most up-to-date other voter that is not fenced (LeaderPlacement#bestTransferee;
   * which voters are fenced, the leader learns from its checks and the directory: here, from the
   * simulation).
   */
  private void handLeadershipAwayIfFenced() {
    if (divergedAt == 0 || !isLeader() || raw.status().leadTransferee() != io.quorumkv.raft.RaftConfig.NONE) {
      return;
    }
    Status st = raw.status();
    long best = 0;
    long bestMatch = -1;
    for (Map.Entry<Long, Status.FollowerProgress> e : st.progress().entrySet()) {
      long id = e.getKey();
      if (id == node.id || e.getValue().learner() || !st.confState().voters().contains(id)
          || sim.node(id).fencedAt(group) != 0) {
        continue;
      }
      if (e.getValue().matchIndex() > bestMatch) {
        bestMatch = e.getValue().matchIndex();
        best = id;
      }
    }
    if (best != 0) {
      raw.transferLeadership(best);
    }
  }

  void step(Message m) {
    if ((m instanceof Message.RequestVote || m instanceof Message.TimeoutNow) && quarantined()) {
      return;
    }
    if (m.from() == softState.leader()) {
      lastLeaderContactTick = node.ticks();
      ticksWithoutLeader = 0;
    }
    raw.step(m);
    drain();
  }

  void campaign() {
    raw.campaign();
    drain();
  }

  void driverInput(Consumer<RawNode> call) {
    call.accept(raw);
    drain();
  }

  /** Proposes a membership change, as the core's admin path does; false if this node cannot. */
  boolean proposeConfChange(ConfChange change) {
    try {
      raw.proposeConfChange(change);
    } catch (ProposalDroppedException e) {
      return false;
    }
    drain();
    return true;
  }

  /** On a leader: the highest index known replicated on {@code peer}, -1 if unknown. */
  long matchIndexOf(long peer) {
    io.quorumkv.raft.Status.FollowerProgress p = raw.status().progress().get(peer);
    return p == null ? -1 : p.matchIndex();
  }

  /** Proposes a command no client waits for (a split, a hash check); false if this node cannot. */
  boolean proposeAdmin(Command command) {
    try {
      long index = raw.propose(Codec.encodeCommand(new Command.Stamped(node.clockMillis(), command)));
      if (AnswerAtCommit.mayChangeSpan(command)) {
        spanChangeBound = Math.max(spanChangeBound, index);
      }
    } catch (ProposalDroppedException e) {
      return false;
    }
    drain();
    return true;
  }

  void handle(KvSimRequest request) {
    if (!isLeader()) {
      reject(request, "not leader");
      return;
    }
    if (request.body() instanceof KvSimRequest.Body.Read read) {
      if (read.level() == ReadConsistency.LEASE && node.leaseUsable() && raw.hasValidLease()) {
        // No round trip: every write acknowledged before this read is at most the commit index.
        waitingReads.add(new WaitingRead(commitIndex(), request, node.nextTickDue()));
        serveReads();
        return;
      }
      askReadIndex(request);
    } else if (divergedAt != 0) {
      // As NodeRuntime#propose: a fenced leader takes no new write (NO_LEADER), certainly not applied.
      refuseFenced(request, "fenced leader: not proposed");
      return;
    } else {
      // As NodeRuntime does: the write waits for the loop's next turn, with the others taken meanwhile.
      if (pendingWrites.isEmpty()) {
        node.awaitLoopTurn(this);
      }
      pendingWrites.add(request);
      return;
    }
    drain();
  }

  private void askReadIndex(KvSimRequest request) {
    long context = ++readContexts;
    readIndexWaiting.put(context, request);
    raw.readIndex(context, false);
  }

  /**
   * A lease read read too late (past its lease, {@link WaitingRead#leaseUntil}) goes through
   * ReadIndex instead, as ReadPath#keepIfInLease sends it: at the loop's next step, not from
   * inside the Ready being handed out.
   */
  private void readAgainThroughReadIndex(KvSimRequest request) {
    sim.events().after(0, () -> readThroughReadIndex(request));
  }

  private void readThroughReadIndex(KvSimRequest request) {
    if (!current() || node.deferredByPause(() -> readThroughReadIndex(request))) {
      return; // gone with its replica: the client times out, as for any request it held
    }
    if (!isLeader()) {
      reject(request, "not leader");
      return;
    }
    askReadIndex(request);
    drain();
  }

  /**
   * The node's loop turn: proposes the writes taken since the last one as one entry, a single write
   * as a {@link Command.Write}, several as a {@link Command.Writes} (as NodeRuntime#flushWrites).
   */
  void flushWrites() {
    if (pendingWrites.isEmpty()) {
      return;
    }
    List<KvSimRequest> requests = List.copyOf(pendingWrites);
    pendingWrites.clear();
    if (!isLeader()) {
      requests.forEach(r -> reject(r, "not leader"));
      return;
    }
    List<Command.Write> writes = new ArrayList<>(requests.size());
    for (KvSimRequest r : requests) {
      writes.add(((KvSimRequest.Body.Write) r.body()).write());
    }
    Command command = writes.size() == 1 ? writes.get(0) : new Command.Writes(writes);
    boolean[] known = AnswerAtCommit.known(writes,
        new AnswerAtCommit.AppliedSpan(sm.appliedIndex(), sm.span(), sm.frozenInto()), spanChangeBound);
    long term = term();
    long index;
    try {
      index = raw.propose(Codec.encodeCommand(new Command.Stamped(node.clockMillis(), command)));
    } catch (ProposalDroppedException e) {
      requests.forEach(r -> reject(r, "proposal dropped"));
      return;
    }
    sim.proposedWrites(writes.size());
    Proposal replaced = proposals.put(index, new Proposal(requests, term, known));
    if (replaced != null) {
      // Our log lost the old entry at this index to another leader's: it can never commit.
      replaced.requests().forEach(r -> reject(r, "entry replaced"));
    }
    drain();
  }

  /**
   * A fenced replica's refusal: NO_LEADER, no leader hint (as NodeRuntime#propose and
   * ReadPath#serveLocal answer on a fenced leader: a hint would name this node).
   */
  private void refuseFenced(KvSimRequest request, String why) {
    sim.reply(request, new KvSimRequest.Reply.Rejected(request.opId(), request.attemptId(), group, 0, why));
  }

  private void reject(KvSimRequest request, String why) {
    sim.reply(request, new KvSimRequest.Reply.Rejected(request.opId(), request.attemptId(), group,
        softState.leader(), why));
  }

  // ---- the Ready loop ----

  /**
   * Hands out every Ready the core has, as NodeRuntime#handleReady: sends what may go now, hands
   * the committed entries to the applier and releases the read states (the entries are durable or
   * written already), and the writes to the disk. A snapshot waits for the disk, and so does what
   * came with it.
   */
  void drain() {
    for (int guard = 0; current() && raw.hasReady(); guard++) {
      if (guard > 10_000) {
        throw new IllegalStateException("node " + node.id + " partition " + group + " keeps producing Readies");
      }
      Ready rd = raw.ready();
      onSoftState(rd.softState());
      for (Message m : rd.messages()) {
        sim.network().send(new KvSim.GroupMessage(group, m));
      }
      if (rd.snapshot().isEmpty()) {
        handCommitted(rd.committedEntries());
        releaseReadStates(rd.readStates());
      }
      unsynced.add(rd);
      node.write(this, rd);
    }
  }

  private void onSoftState(SoftState now) {
    if (now.equals(softState)) {
      return;
    }
    SoftState before = softState;
    softState = now;
    if (now.role() == StateRole.LEADER && before.role() != StateRole.LEADER) {
      long term = term();
      sim.invariants(group).leaderElected(node.id, term,
          Invariants.LogView.of(disk.log, List.copyOf(unsynced)));
      sim.checkNotFenced(node.id, group, term, ticksSinceLeaderContact());
      sim.countElection();
      spanChangeBound = raw.status().lastIndex(); // as NodeRuntime#onSoftState
    }
    if (now.leader() != before.leader() && now.leader() != 0) {
      lastLeaderContactTick = node.ticks(); // as NodeRuntime#onSoftState
      ticksWithoutLeader = 0;
    }
    if (now.leader() != before.leader()) {
      // The core drops pending read requests on a leader change: their clients retry.
      for (KvSimRequest r : readIndexWaiting.values()) {
        reject(r, "leader changed");
      }
      readIndexWaiting.clear();
    }
  }

  /**
   * The disk's write stage wrote {@code rd} (unsynced), behind every earlier write: as NodeRuntime
   * does once the log writer reports a round written, tell the core, which may then hand out
   * committed entries up to it before they are durable.
   */
  void written(Ready rd) {
    if (!current()) {
      return;
    }
    writtenUnsynced.add(rd);
    Entry last = rd.lastEntry();
    if (last != null) {
      raw.written(last.index(), last.term());
      drain();
    }
  }

  /** The disk synced {@code rd}, the oldest write handed to it: make it durable and do what waited for it. */
  void synced(Ready rd) {
    if (destroyed && node.current(incarnation) && rd.snapshot().isEmpty()) {
      // NodeRuntime's log writer writes what was handed to it before the destruction, and the
      // replica's disk goes only once that is durable: its entries reach the disk as the store
      // writes between them do. Nothing waits for them any more.
      ReadyWrites.write(node.id, disk.log, rd, sim.invariants(group));
      return;
    }
    if (!current()) {
      return;
    }
    Ready oldest = unsynced.poll();
    if (oldest != rd) {
      throw new IllegalStateException("node " + node.id + " partition " + group + ": disk sync out of order");
    }
    if (writtenUnsynced.peek() == rd) {
      writtenUnsynced.poll();
    }
    if (rd.snapshot().isPresent()) {
      installSnapshot(rd.snapshot().get());
    }
    ReadyWrites.persist(node.id, disk.log, rd, raw, sim.invariants(group));
    for (Message m : rd.messagesAfterPersist()) {
      sim.network().send(new KvSim.GroupMessage(group, m));
    }
    if (rd.snapshot().isPresent()) {
      handCommitted(rd.committedEntries());
      releaseReadStates(rd.readStates());
    }
    serveReads();
    drain();
  }

  /** A crash kept {@code rd}'s write, written and not synced: it is on the disk (a snapshot installed). */
  void writeSurvived(Ready rd) {
    rd.snapshot().ifPresent(s -> {
      disk.log.applySnapshot(s);
      disk.stateDurable(new KvSimNode.StoreImage(s.metadata().index(), s.metadata().term(),
          s.metadata().confState(), decode(s.data())));
    });
    ReadyWrites.write(node.id, disk.log, rd, sim.invariants(group));
  }

  /** As NodeRuntime#handCommitted: a leader answers the writes whose outcome is known, the applier gets the entries. */
  private void handCommitted(List<Entry> committed) {
    if (!committed.isEmpty()) {
      answerAtCommit(committed);
      node.enqueueApply(this, committed);
    }
  }

  private void releaseReadStates(List<ReadState> readStates) {
    for (ReadState rs : readStates) {
      KvSimRequest r = readIndexWaiting.remove(rs.context());
      if (r == null) {
        continue; // already rejected after a leader change
      }
      if (rs.index() == 0) {
        reject(r, "no read index");
      } else {
        waitingReads.add(new WaitingRead(rs.index(), r, Long.MAX_VALUE));
      }
    }
    serveReads();
  }

  /** Installs a snapshot from the leader: the store first, then the log (a crash between redoes it). */
  private void installSnapshot(Snapshot s) {
    long index = s.metadata().index();
    disk.store = new MemoryPartitionStore(decode(s.data()), index);
    disk.durable = KvSimNode.StoreImage.of(disk.store, s.metadata().term(), s.metadata().confState());
    appliedTerm = s.metadata().term();
    sm = PartitionStateMachine.open(group, disk.store, s.metadata().term(), KvSim.SESSION_TIMEOUT_MILLIS,
        sim.initialSpans().get(group));
    disk.log.applySnapshot(s);
    confState = s.metadata().confState();
    sim.invariants(group).snapshotInstalled(node.id, index, s.metadata().term(), digest(disk.store));
    node.updateRouting(group, sm.span());
    reportedApplied = Math.max(reportedApplied, index);
    appliedSinceSnapshot = 0;
    // Proposals at or below the snapshot were decided without us seeing them: their clients time out.
    proposals.keySet().removeIf(i -> i <= index);
    // As NodeRuntime: the diverged state is gone, replaced by the leader's; the fence goes, on disk too.
    if (divergedAt != 0) {
      fence(0);
    }
    node.fenceRecorded(group, 0, 0);
  }

  /** The applier's turn for {@code committed} (see {@link KvSimNode#enqueueApply}). */
  void apply(List<Entry> committed) {
    if (destroyed) {
      return;
    }
    for (Entry e : committed) {
      if (e.index() <= sm.appliedIndex()) {
        continue; // covered by a snapshot installed meanwhile
      }
      checkWrittenHere(e);
      PartitionStateMachine.Outcome o;
      if (e.type() == EntryType.CONF_CHANGE) {
        // The bootstrap entries and the membership steps' changes (KvSim#rejoin).
        ConfChange change = ConfChange.decode(e.data());
        confState = raw.applyConfChange(change, e.index()); // on the disk with the store's state write
        sm.applyConfChange(e.index(), e.term(), confState, change);
        o = new PartitionStateMachine.Outcome.None();
      } else {
        o = sm.apply(e.index(), e.term(), e.data());
      }
      if (o instanceof PartitionStateMachine.Outcome.Split s) {
        node.createChild(this, s); // before the split is durable here, as NodeRuntime does
      } else if (o instanceof PartitionStateMachine.Outcome.Hashed h) {
        sim.replicaHash(group, node.id, h.hash(), confState.voters(), KvSim.rotted(disk.store));
      }
      sm.flush();
      appliedTerm = e.term();
      sim.invariants(group).applied(node.id, e, digest(disk.store));
      appliedSinceSnapshot++;
      Proposal p = proposals.remove(e.index());
      if (p != null) {
        answer(p, e, o);
      }
    }
    node.updateRouting(group, sm.span());
    if (sm.appliedIndex() > reportedApplied) {
      reportedApplied = sm.appliedIndex();
      raw.applied(reportedApplied);
    }
    serveReads();
    maybeSnapshot();
    drain();
  }

  /**
   * The Ready contract: a committed entry handed out is durable or written here already (the last
   * write of its index decides; a snapshot written after it, not yet installed, compacts it only
   * once installed). Counts the entries applied while only written.
   */
  private void checkWrittenHere(Entry e) {
    long writtenTerm = -1;
    for (Ready rd : writtenUnsynced) {
      if (!rd.entries().isEmpty() && e.index() >= rd.entries().get(0).index() && e.index() <= rd.lastEntry().index()) {
        writtenTerm = rd.entries().get((int) (e.index() - rd.entries().get(0).index())).term();
      }
    }
    if (writtenTerm == e.term()) {
      sim.appliedWritten();
      return;
    }
    long durableTerm = writtenTerm < 0 && e.index() <= disk.log.lastIndex() && e.index() >= disk.log.firstIndex()
        ? disk.log.term(e.index()) : writtenTerm;
    if (durableTerm != e.term()) {
      throw new SafetyViolation("node " + node.id + " partition " + group + " applied " + e + " but its disk has "
          + (durableTerm < 0 ? "no entry" : "term " + durableTerm) + " there, durable or written (at virtual time "
          + sim.now() + " us)");
    }
  }

  /** The store's state after the applier's batch, for the node's state write; empty once destroyed. */
  java.util.Optional<KvSimNode.StoreImage> image() {
    return destroyed ? java.util.Optional.empty()
        : java.util.Optional.of(KvSimNode.StoreImage.of(disk.store, appliedTerm, confState));
  }

  KvSimNode.Disk disk() {
    return disk;
  }

  /** As NodeRuntime#handCommitted on a leader: answers the writes whose outcome is known ({@link AnswerAtCommit}). */
  private void answerAtCommit(List<Entry> committed) {
    if (!isLeader() || divergedAt != 0) { // never while fenced: the span it relies on is this replica's
      return;
    }
    for (Entry e : committed) {
      Proposal p = proposals.get(e.index());
      if (p != null && p.knownAtCommit() != null && p.term() == e.term()) {
        for (int i = 0; i < p.requests().size(); i++) {
          if (p.knownAtCommit()[i]) {
            answer(p.requests().get(i), AnswerAtCommit.WRITTEN);
          }
        }
      }
    }
  }

  private void answer(Proposal p, Entry e, PartitionStateMachine.Outcome applied) {
    List<KvSimRequest> requests = p.requests();
    if (p.term() == e.term() && AnswerAtCommit.contradictions(p.knownAtCommit(), applied) > 0) {
      throw new IllegalStateException("node " + node.id + " partition " + group + ": entry " + e.index()
          + " applied a write answered at commit as " + applied);
    }
    // The product's rule: a fenced replica answers the client writes it applied "outcome unknown".
    PartitionStateMachine.Outcome o = new Replica.Proposal(p.term(), List.of(), p.knownAtCommit(), true)
        .answer(applied, divergedAt != 0);
    if (p.term() == e.term() && o instanceof PartitionStateMachine.Outcome.Rejected rj
        && rj.code() == KvResponse.Code.TIMEOUT) {
      requests.forEach(r -> sim.reply(r, new KvSimRequest.Reply.Unknown(r.opId(), r.attemptId(), rj.message())));
      return;
    }
    if (p.term() != e.term()) {
      requests.forEach(r -> reject(r, "entry replaced by another leader's"));
    } else if (o instanceof PartitionStateMachine.Outcome.Writes each) {
      if (each.each().size() != requests.size()) {
        throw new IllegalStateException("an entry of " + requests.size() + " writes applied as " + each.each());
      }
      for (int i = 0; i < requests.size(); i++) {
        answer(requests.get(i), each.each().get(i));
      }
    } else if (requests.size() != 1) {
      throw new IllegalStateException("an entry of " + requests.size() + " writes applied as " + o);
    } else {
      answer(requests.get(0), o);
    }
  }

  private void answer(KvSimRequest r, PartitionStateMachine.Outcome o) {
    if (o instanceof PartitionStateMachine.Outcome.Written w) {
      sim.reply(r, new KvSimRequest.Reply.Written(r.opId(), r.attemptId(), w.result()));
    } else if (o instanceof PartitionStateMachine.Outcome.Rejected rj) {
      reject(r, rj.code() + ": " + rj.message());
    } else {
      throw new IllegalStateException("a client write applied as " + o);
    }
  }

  private void serveReads() {
    for (Iterator<WaitingRead> it = waitingReads.iterator(); it.hasNext(); ) {
      WaitingRead w = it.next();
      if (w.index() > sm.appliedIndex()) {
        continue;
      }
      it.remove();
      KvSimRequest r = w.request();
      if (divergedAt != 0) {
        refuseFenced(r, "fenced: serves no reads"); // as ReadPath#serveLocal
      } else if (sm.span() == null || !sm.span().owns(r.key())) {
        reject(r, "the key moved (split)");
      } else if (sim.now() >= w.leaseUntil()) {
        readAgainThroughReadIndex(r);
      } else {
        byte[] value = sm.get(r.key()).orElse(null);
        sim.readServed(node.id, group, r.key(), value);
        sim.reply(r, new KvSimRequest.Reply.Read(r.opId(), r.attemptId(), value));
      }
    }
  }

  private void maybeSnapshot() {
    int every = sim.schedule().snapshotEvery();
    // Of the store as the disk holds it: the live one may be ahead of the log on the disk.
    KvSimNode.StoreImage state = disk.durable;
    long index = state.applied();
    if (every <= 0 || appliedSinceSnapshot < every || index <= disk.log.snapshot().metadata().index()
        || index > disk.log.lastIndex()) {
      return;
    }
    disk.log.createSnapshot(index, state.confState(), encode(state.data()));
    disk.log.compact(Math.max(disk.log.firstIndex() - 1, index - KvSim.KEEP_ENTRIES));
    appliedSinceSnapshot = 0;
  }

  // ---- store contents ----

  /** Snapshot payload: every store entry (data, sessions, metadata). */
  static byte[] encode(List<KeyValue> entries) {
    Codec.Writer w = new Codec.Writer().i32(entries.size());
    for (KeyValue kv : entries) {
      w.bytes(kv.key()).bytes(kv.value());
    }
    return w.toArray();
  }

  static List<KeyValue> decode(byte[] data) {
    Codec.Reader r = new Codec.Reader(data, "simulated snapshot");
    int n = r.count(8);
    List<KeyValue> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      out.add(new KeyValue(r.bytes(), r.bytes()));
    }
    r.end();
    return out;
  }

  /**
   * A digest of everything the store holds, compared across replicas at equal applied indexes,
   * but the canaries of {@link KvSim#diverge}: a rotted replica differs from the others there on
   * purpose, and the replica hash checks, not this, must find it ({@link KvSim#replicaHash}).
   */
  static long digest(MemoryPartitionStore store) {
    CRC32C crc = new CRC32C();
    long h = 17;
    for (KeyValue kv : store.scan(new byte[0], new byte[0], Integer.MAX_VALUE)) {
      if (KvSim.isCanary(kv.key())) {
        continue;
      }
      crc.update(kv.key().length);
      crc.update(kv.key());
      crc.update(kv.value().length);
      crc.update(kv.value());
      h = h * 31 + crc.getValue();
    }
    return h;
  }

  @Override
  public String toString() {
    return group + ":" + softState.role() + "@" + term() + " applied=" + sm.appliedIndex() + " "
        + (sm.span() == null ? "-" : sm.span().describe());
  }
}
