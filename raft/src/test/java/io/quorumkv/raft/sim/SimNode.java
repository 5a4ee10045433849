package io.quorumkv.raft.sim;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.MemoryStorage;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.ProposalDroppedException;
import io.quorumkv.raft.RaftConfig;
import io.quorumkv.raft.RawNode;
import io.quorumkv.raft.ReadState;
import io.quorumkv.raft.Ready;
import io.quorumkv.raft.SendBudget;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SoftState;
import io.quorumkv.raft.StateRole;
import io.quorumkv.raft.Status;
import io.quorumkv.testkit.Op;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;

/**
 * One simulated server: a real {@link RawNode} driven by the loop of {@link Ready}'s contract,
 * over a simulated disk and a register state machine.
 *
 * <p>The disk: {@link #storage} is what survived the last sync. Each Ready's writes wait in
 * {@link #unsynced} until the disk syncs them, in order, after a random delay; only then does the
 * node report them persisted, send the messages that claim durability, apply the committed
 * entries and release the reads. A crash throws {@link #unsynced} away with everything else that
 * lived in memory; a restart builds a new RawNode from {@link #storage} and the state machine's
 * durable applied index.
 *
 * <p>With {@link SimConfig#reportWritten()} the driver reports each Ready's writes with
 * {@link RawNode#written} as soon as it issues them, and applies each Ready's committed entries at
 * once, before issuing that Ready's own writes (the most the contract allows). The disk is then
 * one ordered stream: the state machine's writes (whole images of it, {@link StateImage}) go into
 * {@link #unsynced} between the log writes, a sync makes a prefix of the stream durable, and a
 * crash keeps a random prefix of what was not synced, never a later write without an earlier one.
 * The live state machine restarts from the image that survived ({@link #durableState}), which
 * must never be ahead of the log that survived.
 */
final class SimNode implements SimProcess {

  /**
   * One Ready's writes and the work that waits for them to be durable, preceded in the disk's
   * write order by {@code stateBefore}, the state machine after applying the entries handed out
   * with this Ready (null if none; always null without {@code written()} reports).
   */
  private record Write(StateImage stateBefore, Ready ready, long due) {}

  /** The state machine's durable form: applied through {@code applied}, an entry of {@code appliedTerm}. */
  private record StateImage(long applied, long appliedTerm, ConfState confState, byte[] data) {}

  /** A client write proposed here, at its index, in {@code term}. */
  private record Proposal(ClientRequest request, long term) {}

  /** A read that has its read index and waits for the state machine to reach it. */
  private record WaitingRead(long index, ClientRequest request) {}

  final long id;
  private final SimCluster cluster;
  final MemoryStorage storage;
  final RegisterStateMachine stateMachine;
  /** Whether the driver reports {@link RawNode#written} (see the class comment). */
  private final boolean reportWritten;
  /** The node-wide entry budget per peer, refilled at each tick (unbounded unless configured). */
  private final SendBudget sendBudget;
  /** Entry bytes sent per peer since the last tick, against {@link SimConfig#sendBudget()}. */
  private final Map<Long, Long> sentSinceTick = new HashMap<>();
  /** With {@link #reportWritten}: the state machine as the disk holds it; the live one may be ahead. */
  private StateImage durableState;
  /** The term of the last entry the live state machine applied (0 if none, or a snapshot's). */
  private long appliedTerm;
  /** Crashes that lost applied state (applied from written, unsynced entries). */
  private long appliedStateLost;

  private RawNode raw;
  /**
   * Virtual time until which the driver forbids this node to lead ({@link RawNode#setPromotable});
   * like a fenced replica's driver, it says so again to a restarted core.
   */
  private long unpromotableUntil;
  /** Whether the core was last told it may not lead (and when, whether it was leading then). */
  private boolean forbiddenInCore;
  private boolean ledWhenForbidden;
  /** Incremented by every crash; events scheduled by an earlier incarnation are ignored. */
  private int incarnation;
  private final ArrayDeque<Write> unsynced = new ArrayDeque<>();
  private long lastSyncDue;
  private SoftState softState = new SoftState(RaftConfig.NONE, StateRole.FOLLOWER);
  private long term;
  private final Map<Long, Proposal> proposals = new HashMap<>();
  private final Map<Long, ClientRequest> readRequests = new HashMap<>();
  private final List<WaitingRead> waitingReads = new ArrayList<>();
  private long appliedSinceSnapshot;
  private long restarts;
  /** Added to every sync of this node's disk (a slow or overloaded device). */
  private long slowDiskMicros;
  /** Until this virtual time the process is stopped (a GC pause, SIGSTOP): inputs wait. */
  private long pausedUntil;
  private long snapshotsInstalled;

  SimNode(long id, SimCluster cluster, ConfState initialMembers) {
    this.id = id;
    this.cluster = cluster;
    this.storage = new MemoryStorage(initialMembers);
    this.stateMachine = new RegisterStateMachine(initialMembers);
    this.reportWritten = cluster.config().reportWritten();
    long perTick = cluster.config().sendBudget();
    this.sendBudget = perTick <= 0 ? SendBudget.UNBOUNDED : new SendBudget() {
      @Override
      public long available(long peer) {
        return perTick - sentSinceTick.getOrDefault(peer, 0L);
      }

      @Override
      public void spend(long peer, long bytes) {
        sentSinceTick.merge(peer, bytes, Long::sum);
      }
    };
    this.durableState = image();
  }

  private StateImage image() {
    return new StateImage(stateMachine.applied(), appliedTerm, stateMachine.confState(), stateMachine.snapshotData());
  }

  long appliedStateLost() {
    return appliedStateLost;
  }

  @Override
  public boolean isUp() {
    return raw != null;
  }

  @Override
  public boolean restartable() {
    return restarts > 0;
  }

  RawNode raw() {
    return raw;
  }

  SoftState softState() {
    return softState;
  }

  long restarts() {
    return restarts;
  }

  long snapshotsInstalled() {
    return snapshotsInstalled;
  }

  /** Starts (or restarts) the node from what its disk and state machine hold. */
  @Override
  public void start() {
    if (raw != null) {
      throw new IllegalStateException("node " + id + " is already up");
    }
    RaftConfig config = cluster.raftConfig(id, stateMachine.applied(), sendBudget);
    raw = new RawNode(config, storage);
    forbiddenInCore = cluster.now() < unpromotableUntil;
    ledWhenForbidden = false;
    if (forbiddenInCore) {
      raw.setPromotable(false); // before the first tick
    }
    HardState hs = storage.hardState();
    term = hs.term();
    softState = new SoftState(RaftConfig.NONE, StateRole.FOLLOWER);
    lastSyncDue = cluster.now();
    int me = incarnation;
    cluster.events().after(cluster.tickPhase(), () -> tick(me));
  }

  /** Loses everything not yet synced, and the process with it. */
  @Override
  public void crash() {
    if (raw == null) {
      return;
    }
    raw = null;
    incarnation++;
    restarts++;
    if (reportWritten) {
      keepWrittenPrefix();
    }
    cluster.invariants().crashed(id, storage.hardState().term());
    unsynced.clear();
    proposals.clear();
    readRequests.clear();
    waitingReads.clear();
    softState = new SoftState(RaftConfig.NONE, StateRole.FOLLOWER);
  }

  /**
   * A crash with {@link RawNode#written} reports: a random prefix of the unsynced stream (each
   * Write is two items, its state-machine write and then its log write) reaches the disk, the rest
   * is lost; the state machine restarts from the last image that did.
   */
  private void keepWrittenPrefix() {
    int keep = cluster.crashKeeps(2 * unsynced.size());
    int item = 0;
    for (Write w : unsynced) {
      if (item++ >= keep) {
        break;
      }
      if (w.stateBefore() != null) {
        makeDurable(w.stateBefore());
      }
      if (item++ >= keep) {
        break;
      }
      Ready rd = w.ready();
      rd.snapshot().ifPresent(snap -> {
        storage.applySnapshot(snap);
        durableState = new StateImage(snap.metadata().index(), snap.metadata().term(), snap.metadata().confState(),
            snap.data());
      });
      ReadyWrites.write(id, storage, rd, cluster.invariants());
    }
    if (durableState.applied() < stateMachine.applied()) {
      appliedStateLost++;
    }
    stateMachine.restore(durableState.applied(), durableState.confState(), durableState.data());
    appliedTerm = durableState.appliedTerm();
    checkAppliedStateHasItsLog();
  }

  /**
   * The ordered stream keeps applied state only with the log entries it applied: what survived of
   * the state machine must be backed by the log that survived, entry for entry at its last index.
   */
  private void checkAppliedStateHasItsLog() {
    long applied = durableState.applied();
    if (applied == 0 || applied < storage.firstIndex() - 1) {
      return; // nothing applied, or its entry compacted behind a later snapshot
    }
    long term = applied > storage.lastIndex() ? -1 : storage.term(applied);
    if (term != durableState.appliedTerm()) {
      throw new SafetyViolation("node " + id + " crashed with its state machine applied through " + applied
          + " (term " + durableState.appliedTerm() + ") but its log keeps " + (term < 0 ? "no entry" : "term " + term)
          + " there (last index " + storage.lastIndex() + ", at virtual time " + cluster.now() + " us)");
    }
  }

  private void makeDurable(StateImage image) {
    durableState = image;
    storage.setConfState(image.confState());
  }

  private boolean current(int me) {
    return raw != null && me == incarnation;
  }

  /**
   * Stops the process for {@code micros}: no ticks; Raft messages sent to it meanwhile are lost;
   * client requests, disk completions and driver reports wait until it resumes.
   */
  @Override
  public void pause(long micros) {
    pausedUntil = Math.max(pausedUntil, cluster.now() + micros);
  }

  /** Every sync from now on takes {@code micros} longer (0 restores the disk). */
  @Override
  public void slowDisk(long micros) {
    slowDiskMicros = micros;
  }

  @Override
  public long pausedUntil() {
    return pausedUntil;
  }

  /**
   * True if the process is paused, in which case {@code input} runs again when it resumes
   * (inputs deferred to the same instant keep their order).
   */
  private boolean deferredByPause(Runnable input) {
    if (cluster.now() >= pausedUntil) {
      return false;
    }
    cluster.events().after(pausedUntil - cluster.now(), input);
    return true;
  }

  private void tick(int me) {
    if (!current(me) || deferredByPause(() -> tick(me))) {
      return; // a paused process misses its ticks: its timer fires once when it resumes
    }
    sentSinceTick.clear();
    raw.tick();
    drain();
    cluster.events().after(cluster.config().tickMicros(), () -> tick(me));
  }

  void receive(Message m) {
    if (raw == null || cluster.now() < pausedUntil) {
      // Peers' connections to a stopped process time out and what they carried is lost; client
      // requests (below) wait in the socket and are served first thing after the pause.
      return;
    }
    raw.step(m);
    drain();
  }

  /** A client request arrives. */
  void handle(ClientRequest request) {
    if (deferredByPause(() -> handle(request))) {
      return;
    }
    if (raw == null) {
      cluster.reply(request, new ClientReply.Rejected(request.requestId(), RaftConfig.NONE));
      return;
    }
    if (request.f() == Op.F.GET) {
      if (softState.leader() == RaftConfig.NONE) {
        cluster.reply(request, new ClientReply.Rejected(request.requestId(), RaftConfig.NONE));
        return;
      }
      long context = cluster.nextReadContext();
      readRequests.put(context, request);
      raw.readIndex(context);
    } else {
      long index;
      try {
        index = raw.propose(request.command().encode());
      } catch (ProposalDroppedException e) {
        cluster.reply(request, new ClientReply.Rejected(request.requestId(), softState.leader()));
        return;
      }
      Proposal replaced = proposals.put(index, new Proposal(request, term));
      if (replaced != null) {
        // Our log lost the old entry at this index to another leader's: it can never commit.
        reject(replaced.request());
      }
    }
    drain();
  }

  /**
   * Forbids this node to lead for {@code micros} of virtual time ({@link RawNode#setPromotable}),
   * across restarts; then allows it again. While forbidden it must never become leader (a
   * leadership it held when forbidden may go on: leaving it is the driver's call).
   */
  void forbidLeadingFor(long micros) {
    unpromotableUntil = Math.max(unpromotableUntil, cluster.now() + micros);
    driverInput(r -> {
      r.setPromotable(false);
      forbiddenInCore = true;
      ledWhenForbidden = softState.role() == StateRole.LEADER;
    });
    cluster.events().after(micros, () -> driverInput(r -> {
      if (cluster.now() >= unpromotableUntil) {
        r.setPromotable(true);
        forbiddenInCore = false;
      }
    }));
  }

  void transferLeadership(long to) {
    driverInput(r -> r.transferLeadership(to));
  }

  void reportSnapshot(long peer, boolean success) {
    driverInput(r -> r.reportSnapshot(peer, success));
  }

  void reportUnreachable(long peer) {
    driverInput(r -> r.reportUnreachable(peer));
  }

  /** Feeds the core a call from the driver (not a message), unless the process is down. */
  private void driverInput(Consumer<RawNode> call) {
    if (raw != null && !deferredByPause(() -> driverInput(call))) {
      call.accept(raw);
      drain();
    }
  }

  /** Proposes a command that no client waits for; false if this node cannot now. */
  boolean proposeDirect(byte[] command) {
    return tryPropose(r -> r.propose(command));
  }

  /** Proposes a membership change; false if this node cannot now. */
  boolean proposeConfChange(ConfChange change) {
    return tryPropose(r -> r.proposeConfChange(change));
  }

  private boolean tryPropose(ToLongFunction<RawNode> proposal) {
    if (raw == null) {
      return false;
    }
    try {
      proposal.applyAsLong(raw);
    } catch (ProposalDroppedException e) {
      return false;
    }
    drain();
    return true;
  }

  /** Hands out every Ready the core has: sends what may go now, queues the rest behind the disk. */
  void drain() {
    for (int guard = 0; raw != null && raw.hasReady(); guard++) {
      if (guard > 10_000) {
        throw new IllegalStateException("node " + id + " keeps producing Readies");
      }
      Ready rd = raw.ready();
      rd.hardState().ifPresent(hs -> term = hs.term());
      onSoftState(rd.softState());
      for (Message m : rd.messages()) {
        cluster.network().send(m);
      }
      StateImage stateBefore = null;
      if (reportWritten && !rd.committedEntries().isEmpty()) {
        // Written (or durable) before this Ready was taken, so they may go before its own write.
        apply(rd.committedEntries(), logView());
        stateBefore = image();
        serveReads();
      }
      long due = rd.mustSync() ? cluster.now() + cluster.syncDelay() + slowDiskMicros : cluster.now();
      due = Math.max(due, lastSyncDue); // one disk: writes become durable in order
      lastSyncDue = due;
      unsynced.add(new Write(stateBefore, rd, due));
      Entry last = rd.lastEntry();
      if (reportWritten && last != null) {
        raw.written(last.index(), last.term()); // issued in order behind every earlier write
      }
      int me = incarnation;
      cluster.events().after(due - cluster.now(), () -> sync(me));
    }
  }

  private void onSoftState(SoftState now) {
    if (now.equals(softState)) {
      return;
    }
    SoftState before = softState;
    softState = now;
    if (now.role() != StateRole.LEADER) {
      ledWhenForbidden = false;
    }
    if (now.role() == StateRole.LEADER && before.role() != StateRole.LEADER) {
      Status st = raw.status();
      if (forbiddenInCore && !ledWhenForbidden) {
        cluster.invariants().forbiddenLeader(id, st.hardState().term());
      }
      cluster.invariants().leaderElected(id, st.hardState().term(), logView());
    }
    if (now.leader() != before.leader()) {
      // Pending reads may be dropped by the core on a leader change: tell their clients to retry.
      for (ClientRequest r : readRequests.values()) {
        cluster.reply(r, new ClientReply.Rejected(r.requestId(), now.leader()));
      }
      readRequests.clear();
    }
    answerWhatARemovedNodeCannotLearn();
  }

  /**
   * A node that does not lead and has applied a membership without itself hears from no leader
   * any more (leaders replicate only to members), so the writes it proposed and has not seen apply
   * may have committed elsewhere without it ever learning: answers them "outcome unknown" rather
   * than leave their clients waiting for nothing, as NodeRuntime#destroyReplica does. (A removed
   * leader that handed its leadership away is the case: its entries past its removal commit under
   * the next leader.)
   */
  private void answerWhatARemovedNodeCannotLearn() {
    if (proposals.isEmpty() || softState.role() == StateRole.LEADER || isMember(stateMachine.confState())) {
      return;
    }
    for (Proposal p : proposals.values()) {
      cluster.reply(p.request(), new ClientReply.Unknown(p.request().requestId()));
    }
    proposals.clear();
  }

  private boolean isMember(ConfState cs) {
    return cs.voters().contains(id) || cs.learners().contains(id) || cs.votersOutgoing().contains(id)
        || cs.learnersNext().contains(id);
  }

  /** The log as the core sees it: the durable log with the unsynced writes on top. */
  private Invariants.LogView logView() {
    return Invariants.LogView.of(storage, unsynced.stream().map(Write::ready).toList());
  }

  /** The disk finished the oldest write: make it durable and do what waited for it. */
  private void sync(int me) {
    if (!current(me) || deferredByPause(() -> sync(me))) {
      return;
    }
    Write w = unsynced.poll();
    if (w == null || w.due() > cluster.now()) {
      throw new IllegalStateException("node " + id + ": disk sync out of order");
    }
    Ready rd = w.ready();
    if (w.stateBefore() != null) {
      makeDurable(w.stateBefore());
    }
    if (rd.snapshot().isPresent()) {
      installSnapshot(rd.snapshot().get());
    }
    ReadyWrites.persist(id, storage, rd, raw, cluster.invariants());
    for (Message m : rd.messagesAfterPersist()) {
      cluster.network().send(m);
    }
    if (reportWritten) {
      maybeCompact(); // the state machine's durable image may have moved
    } else {
      apply(rd.committedEntries(), Invariants.LogView.of(storage, List.of())); // later writes come after
    }
    for (ReadState rs : rd.readStates()) {
      ClientRequest r = readRequests.remove(rs.context());
      if (r == null) {
        continue; // already rejected after a leader change
      }
      if (rs.index() == 0) {
        cluster.reply(r, new ClientReply.Rejected(r.requestId(), softState.leader()));
      } else {
        waitingReads.add(new WaitingRead(rs.index(), r));
      }
    }
    serveReads();
    drain();
  }

  private void installSnapshot(Snapshot s) {
    storage.applySnapshot(s);
    stateMachine.restore(s.metadata().index(), s.metadata().confState(), s.data());
    appliedTerm = s.metadata().term();
    durableState = image();
    cluster.invariants().snapshotInstalled(id, s.metadata().index(), s.metadata().term(), stateMachine.digest());
    appliedSinceSnapshot = 0;
    snapshotsInstalled++;
    // Proposals at or below the snapshot were decided without us seeing them: let their clients
    // time out rather than guess.
    proposals.keySet().removeIf(i -> i <= s.metadata().index());
  }

  /**
   * Applies committed entries that {@code written} (the disk as of the state machine's write that
   * follows: durable or written before it) must hold.
   */
  private void apply(List<Entry> committed, Invariants.LogView written) {
    if (committed.isEmpty()) {
      return;
    }
    for (Entry e : committed) {
      if (e.index() <= stateMachine.applied()) {
        continue; // covered by a snapshot installed meanwhile
      }
      if (written.termAt(e.index()) != e.term()) {
        // The Ready contract: a committed entry handed out is durable or written already.
        throw new SafetyViolation("node " + id + " was handed " + e + " to apply, but its disk has "
            + (written.termAt(e.index()) < 0 ? "no entry" : "term " + written.termAt(e.index()))
            + " there, durable or written (at virtual time " + cluster.now() + " us)");
      }
      Proposal proposed = proposals.remove(e.index());
      ClientRequest waiting = proposed == null ? null : proposed.request();
      if (e.type() == EntryType.CONF_CHANGE) {
        ConfState cs = raw.applyConfChange(ConfChange.decode(e.data()));
        stateMachine.applyConfState(e.index(), cs);
        if (!reportWritten) {
          storage.setConfState(cs); // else once its image is durable
        }
        cluster.confChangeApplied(id, e.index(), cs);
      } else if (e.data().length == 0) {
        stateMachine.skip(e.index());
      } else {
        Command c = Command.decode(e.data());
        boolean applied = stateMachine.apply(e.index(), c);
        if (waiting != null && waiting.requestId() == c.requestId()) {
          cluster.reply(waiting, new ClientReply.Done(c.requestId(), applied, null));
          waiting = null;
        }
      }
      if (waiting != null) {
        // Another entry took the index of our proposal: ours can never commit.
        reject(waiting);
      }
      appliedTerm = e.term();
      cluster.invariants().applied(id, e, stateMachine.digest());
      appliedSinceSnapshot++;
    }
    // A committed entry of a later term than a proposal at a higher index: every committed entry
    // from here on is of that term or later, so the proposal can never commit (its log suffix may
    // be gone with nothing proposed since to take its index: answer it now, not at a timeout).
    // Terms never decrease along the log, so the batch's last entry decides for all of it.
    long lastTerm = committed.get(committed.size() - 1).term();
    proposals.values().removeIf(p -> {
      if (p.term() < lastTerm) {
        reject(p.request());
        return true;
      }
      return false;
    });
    answerWhatARemovedNodeCannotLearn();
    raw.applied(stateMachine.applied());
    if (!reportWritten) {
      maybeCompact(); // else at the next sync: a snapshot holds only the durable state
    }
  }

  private void reject(ClientRequest r) {
    cluster.reply(r, new ClientReply.Rejected(r.requestId(), softState.leader()));
  }

  private void maybeCompact() {
    int every = cluster.config().snapshotEvery();
    if (every > 0 && appliedSinceSnapshot >= every) {
      snapshotAndCompact(cluster.config().keepEntries());
    }
  }

  /**
   * Snapshots the applied state and compacts the log behind it, keeping {@code keep} entries;
   * false if nothing was applied since the last snapshot.
   */
  private boolean snapshotAndCompact(int keep) {
    StateImage state = reportWritten ? durableState : image();
    long index = state.applied();
    if (index <= storage.snapshot().metadata().index()) {
      return false;
    }
    storage.createSnapshot(index, state.confState(), state.data());
    storage.compact(Math.max(storage.firstIndex() - 1, index - keep));
    appliedSinceSnapshot = 0;
    return true;
  }

  private void serveReads() {
    for (Iterator<WaitingRead> it = waitingReads.iterator(); it.hasNext(); ) {
      WaitingRead w = it.next();
      if (w.index() <= stateMachine.applied()) {
        it.remove();
        ClientRequest r = w.request();
        cluster.reply(r, new ClientReply.Done(r.requestId(), true, stateMachine.get(r.key())));
      }
    }
  }

  long term() {
    return term;
  }
}
