package io.quorumkv.raft;

import static io.quorumkv.raft.RaftConfig.NONE;

import io.quorumkv.raft.Message.AppendEntries;
import io.quorumkv.raft.Message.AppendEntriesResponse;
import io.quorumkv.raft.Message.Heartbeat;
import io.quorumkv.raft.Message.HeartbeatResponse;
import io.quorumkv.raft.Message.InstallSnapshot;
import io.quorumkv.raft.Message.ReadIndexRequest;
import io.quorumkv.raft.Message.ReadIndexResponse;
import io.quorumkv.raft.Message.RequestVote;
import io.quorumkv.raft.Message.RequestVoteResponse;
import io.quorumkv.raft.Message.TimeoutNow;
import io.quorumkv.raft.Message.TransferLeadershipRequest;
import io.quorumkv.raft.Status.ReplicationState;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The Raft algorithm behind {@link RawNode}: one member's state and its reaction to ticks,
 * messages and requests. Role behaviour lives in {@link #stepLeader}, {@link #stepCandidate} and
 * {@link #stepFollower}; transitions in the {@code become*} methods. Outputs accumulate until
 * {@link #ready()} hands them out.
 *
 * <p>Durability rule: nothing that claims durable state leaves before the driver has made it
 * durable. Votes, vote requests (the candidate voted for itself) and append acknowledgements go to
 * {@code messagesAfterPersist}; the leader counts its own log in the commit quorum only for what
 * {@link #persisted} reported; committed entries are handed out only up to the persisted index, or
 * the index {@link #written} reported (a write ordered before the state machine's writes).
 */
final class Raft {

  /** Why a campaign starts. */
  private enum CampaignType {
    /** A PreVote round (thesis §9.6): asks whether an election could succeed, changes no term. */
    PRE_ELECTION,
    /** A real election. */
    ELECTION,
    /** An election ordered by the leader's TimeoutNow: skips PreVote and the voters' lease. */
    TRANSFER
  }

  private final long id;
  private final RaftConfig config;
  /** The last bootstrap entry written by this incarnation; 0 if it did not bootstrap. */
  private long bootstrapIndex;
  private final RaftLog log;
  private final ProgressTracker tracker;
  /**
   * Members this node saw removed by a conf change it applied: their vote requests are ignored so
   * a removed server cannot disrupt the group (thesis §4.2.3). Not persisted; after a restart,
   * leader stickiness alone protects the group.
   */
  private final Set<Long> removedMembers = new HashSet<>();
  /** Voters this leadership handed off to in vain, after applying its own removal ({@link #handOffLeadership}). */
  private final Set<Long> handOffsTried = new HashSet<>();
  private final ReadOnly readOnly = new ReadOnly();

  private long term;
  private long vote = NONE;
  private long lead = NONE;
  private StateRole state = StateRole.FOLLOWER;

  /** Logical clock: ticks since this object was created. */
  private long now;
  /** Follower/candidate: ticks since the election timer reset. Leader: ticks since the last CheckQuorum. */
  private int electionElapsed;
  private int heartbeatElapsed;
  private int randomizedElectionTimeout;
  /**
   * Ticks since this node last heard from a leader of the current or a newer term. While it is
   * below {@code electionTick} (and CheckQuorum is on) vote requests are ignored: the leader may
   * still have a quorum, and it may be serving lease reads on this node's promise.
   */
  private long ticksSinceLeaderContact;

  private long leadTransferee = NONE;
  /**
   * Cleared by the driver ({@link #setPromotable}): this node must not become leader, so it starts
   * no campaign of any kind. Everything else (votes, replication, quorums) is unchanged.
   */
  private boolean campaignAllowed = true;
  /** Index of the latest conf change proposed (or possibly inherited) by this leader. */
  private long pendingConfIndex;
  /** Bytes of proposals appended by this leader and not yet committed (approximate, as in etcd). */
  private long uncommittedSize;
  /** The index of this leader's no-op entry. */
  private long leaderNoopIndex;
  /**
   * A leader elected by its own vote alone (a single voter) has not proven its term durable by
   * sending vote requests after a persist; until its no-op entry is persisted its messages wait
   * for the persist too, so no peer learns a term that a crash could roll back.
   */
  private boolean awaitingTermDurable;
  /**
   * Leader: new entries or a new commit index wait for the next {@link #ready()} to go out, so the
   * proposals and acknowledgements stepped since the previous Ready share one AppendEntries per
   * follower instead of one each.
   */
  private boolean bcastPending;
  /** Leader: a membership change committed since the last Ready; its commit goes out even alone. */
  private boolean confCommitUnannounced;
  /** Set once this leader sent TimeoutNow: the transferee may win without waiting out leases. */
  private boolean leaseRevoked;
  /** A term in which the entry at the commit index is known to be of that term; -1: none yet. */
  private long committedInTerm = -1;

  /** CONF_CHANGE entries handed out to apply, and {@link #applyConfChange} calls seen. */
  private long confChangesHandedOut;
  private long confChangesApplied;
  /**
   * Conf changes handed out before a snapshot was restored and not yet applied by the driver: the
   * snapshot's membership already includes them, so their {@link #applyConfChange} calls are no-ops.
   */
  private long supersededConfChanges;
  /** The index of the last snapshot restored from a leader: conf changes up to it are in it. */
  private long restoredSnapshotIndex;

  private final List<Message> msgs = new ArrayList<>();
  private final List<Message> msgsAfterPersist = new ArrayList<>();
  private final List<ReadState> readStates = new ArrayList<>();
  private HardState prevHardState;
  private SoftState prevSoftState;

  Raft(RaftConfig config, RaftStorage storage) {
    this.id = config.id();
    this.config = config;
    this.log = new RaftLog(storage, config.maxCommittedSizePerReady(), config.maxApplyingEntriesSize());
    this.tracker = new ProgressTracker(config.maxInflightMsgs(), config.maxInflightBytes());
    RaftStorage.InitialState initial = storage.initialState();
    tracker.reconfigure(initial.confState(), log.lastIndex());
    HardState hs = initial.hardState();
    if (isBootstrap(storage, initial)) {
      bootstrap(initial.confState());
    }
    if (hs.commit() > log.lastIndex()) {
      throw new IllegalStateException(
          "hard state commit " + hs.commit() + " is past the last log index " + log.lastIndex());
    }
    log.commitTo(hs.commit());
    term = Math.max(term, hs.term());
    vote = hs.vote();
    long applied = Math.max(config.applied(), log.firstIndex() - 1);
    if (applied > log.lastIndex()) {
      throw new IllegalStateException("applied " + applied + " is past the last log index " + log.lastIndex());
    }
    // What was applied was committed, even if the persisted commit index lagged behind.
    log.commitTo(applied);
    log.applying = Math.max(log.applying, applied);
    log.applied = Math.max(log.applied, applied);
    becomeFollower(term, NONE);
    // A restarted node may have promised a lease to a leader before it crashed; with lease reads
    // it keeps that promise for one election timeout (see hasValidLease).
    ticksSinceLeaderContact =
        config.readOnlyOption() == ReadOnlyOption.LEASE_BASED && hs.term() > 0 ? 0 : config.electionTick();
    prevHardState = hs;
    prevSoftState = softState();
  }

  /** A member of a brand-new group: membership given, nothing ever written. */
  private static boolean isBootstrap(RaftStorage storage, RaftStorage.InitialState initial) {
    ConfState cs = initial.confState();
    return initial.hardState().isEmpty() && storage.lastIndex() == 0 && storage.firstIndex() == 1
        && !cs.voters().isEmpty() && !cs.isJoint();
  }

  /**
   * Writes the initial membership into the log as committed conf-change entries of term 1, one
   * member each (voters, then learners, by id), as etcd does. Every initial member writes the
   * same entries, so their logs match; a member added later starts with no membership at all and
   * learns it by applying these entries (or a snapshot). They are handed out to apply like any
   * committed entry (for the initial members applying them changes nothing), but they do not
   * stop this incarnation from campaigning before they are applied: it already runs with the
   * membership they describe.
   */
  private void bootstrap(ConfState cs) {
    List<Entry> ents = new ArrayList<>();
    for (long v : new java.util.TreeSet<>(cs.voters())) {
      ents.add(new Entry(ents.size() + 1, 1, EntryType.CONF_CHANGE,
          ConfChange.of(ConfChangeType.ADD_VOTER, v).encode()));
    }
    for (long l : new java.util.TreeSet<>(cs.learners())) {
      ents.add(new Entry(ents.size() + 1, 1, EntryType.CONF_CHANGE,
          ConfChange.of(ConfChangeType.ADD_LEARNER, l).encode()));
    }
    log.append(ents);
    log.commitTo(ents.size());
    bootstrapIndex = ents.size();
    term = 1;
  }

  // ---------------------------------------------------------------- state views

  private SoftState softState() {
    return new SoftState(lead, state);
  }

  private HardState hardState() {
    return new HardState(term, vote, log.committed);
  }

  Status status() {
    Map<Long, Status.FollowerProgress> progress = new TreeMap<>();
    if (state == StateRole.LEADER) {
      tracker.forEach((peer, pr) -> progress.put(peer, pr.view()));
    }
    return new Status(id, softState(), hardState(), log.applied, log.lastIndex(),
        tracker.confState(), progress, leadTransferee);
  }

  /**
   * Whether this node may become leader: a voter, not waiting to install a snapshot, not kept from
   * leading by its driver ({@link #setPromotable}).
   */
  private boolean promotable() {
    Progress pr = tracker.get(id);
    return campaignAllowed && pr != null && !pr.learner && !log.unstable().hasSnapshot();
  }

  /**
   * The driver allows or forbids this node to lead (etcd's {@code promotable}, set from outside).
   * Forbidden, it starts no campaign (no PreVote or election on its election timeout, none for
   * {@link #campaignForVotersBehind}, none on TimeoutNow, which it ignores: the leader aborts such a
   * transfer after an election timeout, as any unanswered one), and a campaign it has under way
   * ends: it returns to follower in its term, keeping its vote. It still votes, replicates,
   * persists and counts in quorums as before. A leader is left leading: handing leadership away
   * is the driver's call (the core does not know who is fit).
   */
  void setPromotable(boolean allowed) {
    campaignAllowed = allowed;
    if (!allowed && (state == StateRole.PRE_CANDIDATE || state == StateRole.CANDIDATE)) {
      becomeFollower(term, NONE);
    }
  }

  /**
   * Whether the entry at the commit index is of the current term (ReadIndex and the lease need one:
   * thesis §6.4). Once it is, it stays so for the rest of the term: the commit index only grows,
   * log terms never decrease along the log, and an entry of a later term would have moved the term
   * on. So the answer is remembered per term; a leader asks on every turn of its driver's loop.
   */
  private boolean committedEntryInCurrentTerm() {
    if (committedInTerm != term && log.termOrZero(log.committed) == term) {
      committedInTerm = term;
    }
    return committedInTerm == term;
  }

  // ---------------------------------------------------------------- transitions

  private void reset(long newTerm) {
    if (term != newTerm) {
      term = newTerm;
      vote = NONE;
    }
    lead = NONE;
    electionElapsed = 0;
    heartbeatElapsed = 0;
    randomizedElectionTimeout = config.electionTick() + config.random().nextInt(config.electionTick());
    leadTransferee = NONE;
    tracker.resetVotes();
    long last = log.lastIndex();
    tracker.forEach((peer, pr) -> pr.resetForTerm(last + 1, peer == id ? log.persistedIndex() : 0, peer == id));
    pendingConfIndex = 0;
    uncommittedSize = 0;
    awaitingTermDurable = false;
    bcastPending = false;
    confCommitUnannounced = false;
    leaseRevoked = false;
    readOnly.reset();
  }

  private void becomeFollower(long newTerm, long leader) {
    reset(newTerm);
    lead = leader;
    state = StateRole.FOLLOWER;
  }

  private void becomePreCandidate() {
    if (state == StateRole.LEADER) {
      throw new IllegalStateException("leader cannot become pre-candidate");
    }
    // No reset: a pre-candidate keeps its term and vote, it only asks.
    tracker.resetVotes();
    lead = NONE;
    state = StateRole.PRE_CANDIDATE;
  }

  private void becomeCandidate() {
    if (state == StateRole.LEADER) {
      throw new IllegalStateException("leader cannot become candidate");
    }
    reset(term + 1);
    vote = id;
    state = StateRole.CANDIDATE;
  }

  private void becomeLeader() {
    if (state == StateRole.FOLLOWER) {
      throw new IllegalStateException("follower cannot become leader without an election");
    }
    reset(term);
    lead = id;
    state = StateRole.LEADER;
    handOffsTried.clear();
    Progress self = tracker.get(id);
    if (self != null) { // null: elected while no longer a member (campaignForVotersBehind)
      self.becomeReplicate();
    }
    // Entries of earlier terms in our log may hold a conf change we have not applied yet:
    // allow no new change until everything up to here is applied.
    pendingConfIndex = log.lastIndex();
    // Paper §5.4.2 / §8: a no-op of the new term lets the leader commit (and learn the commit
    // index) without waiting for a client; it does not count against the proposal limit.
    leaderNoopIndex = appendEntry(EntryType.NORMAL, Entry.EMPTY);
  }

  // ---------------------------------------------------------------- ticks

  void tick() {
    now++;
    if (ticksSinceLeaderContact < Long.MAX_VALUE) {
      ticksSinceLeaderContact++;
    }
    if (state == StateRole.LEADER) {
      tickHeartbeat();
    } else {
      tickElection();
    }
  }

  private void tickElection() {
    electionElapsed++;
    if (promotable() && electionElapsed >= randomizedElectionTimeout) {
      electionElapsed = 0;
      hup(CampaignType.ELECTION);
    }
  }

  private void tickHeartbeat() {
    heartbeatElapsed++;
    electionElapsed++;
    if (electionElapsed >= config.electionTick()) {
      electionElapsed = 0;
      if (config.checkQuorum()) {
        if (!tracker.quorumActive(id)) {
          // CheckQuorum (thesis §6.2): without a quorum this leader may be deposed already.
          becomeFollower(term, NONE);
          return;
        }
        tracker.forEach((peer, pr) -> pr.recentActive = peer == id);
      }
      // A transfer must finish within one election timeout, or proposals resume here.
      leadTransferee = NONE;
      if (!isVoter()) {
        handOffLeadership(); // try the next best successor
      }
    }
    if (heartbeatElapsed >= config.heartbeatTick()) {
      heartbeatElapsed = 0;
      bcastHeartbeat();
    }
    readOnly.pruneBefore(now - config.electionTick());
  }

  // ---------------------------------------------------------------- elections

  void campaign() {
    hup(CampaignType.ELECTION);
  }

  private void hup(CampaignType type) {
    if (state == StateRole.LEADER || !promotable() || hasUnappliedConfChanges()) {
      // A node that has not applied a committed conf change does not know whether it is
      // still a voter: it must not campaign.
      return;
    }
    if (type == CampaignType.ELECTION && config.preVote()) {
      type = CampaignType.PRE_ELECTION;
    }
    startCampaign(type);
  }

  private boolean hasUnappliedConfChanges() {
    long from = Math.max(log.applied, bootstrapIndex) + 1;
    if (from > log.committed) {
      return false;
    }
    for (Entry e : log.slice(from, log.committed + 1, Long.MAX_VALUE)) {
      if (e.type() == EntryType.CONF_CHANGE) {
        return true;
      }
    }
    return false;
  }

  private void startCampaign(CampaignType type) {
    long voteTerm;
    if (type == CampaignType.PRE_ELECTION) {
      becomePreCandidate();
      voteTerm = term + 1;
    } else {
      becomeCandidate();
      voteTerm = term;
    }
    tracker.recordVote(id, true);
    if (tracker.tallyVotes() == MajorityConfig.VoteResult.WON) {
      // A single voter: it elects itself.
      if (type == CampaignType.PRE_ELECTION) {
        startCampaign(CampaignType.ELECTION);
      } else {
        becomeLeader();
        awaitingTermDurable = true;
        bcastAppend();
      }
      return;
    }
    for (long voter : tracker.voters().ids()) {
      if (voter != id) {
        send(new RequestVote(id, voter, voteTerm, type == CampaignType.PRE_ELECTION,
            log.lastIndex(), log.lastTerm(), type == CampaignType.TRANSFER));
      }
    }
  }

  /** Whether this node keeps its promise to a recent leader by ignoring vote requests. */
  private boolean inLease() {
    return config.checkQuorum()
        && (state == StateRole.LEADER || ticksSinceLeaderContact < config.electionTick());
  }

  private void handleVote(RequestVote m) {
    // Paper §5.2/§5.4.1: one vote per term, only for a log at least as up to date as ours.
    // A pre-vote for a future term may be given even after voting in this one.
    boolean canVote = vote == m.from()
        || (vote == NONE && lead == NONE)
        || (m.preVote() && m.term() > term);
    if (canVote && log.isUpToDate(m.lastLogIndex(), m.lastLogTerm())) {
      // A granted pre-vote carries the term it was asked for, so the asker counts it.
      send(new RequestVoteResponse(id, m.from(), m.term(), m.preVote(), false));
      if (!m.preVote()) {
        electionElapsed = 0;
        vote = m.from();
      }
    } else {
      send(new RequestVoteResponse(id, m.from(), term, m.preVote(), true));
      if (!log.isUpToDate(m.lastLogIndex(), m.lastLogTerm())) {
        campaignForVotersBehind();
      }
    }
  }

  /**
   * A node that is no longer a voter (it applied its own removal or demotion) and has just refused
   * a candidate that still counts it as a voter, because that candidate's log is behind its own,
   * campaigns itself, counting the votes of its own configuration. Otherwise the group can stay
   * leaderless forever: the candidate never learned that the change committed (it crashed before
   * its commit index was durable), so it needs this node's vote, which the log rule refuses, while
   * a non-voter never campaigns. Found by the simulator (SimRegressionTest). Winning, this node
   * brings the voters' logs up to date and hands leadership to one of them ({@link
   * #handOffLeadership}); they learn the change committed and elect among themselves.
   *
   * <p>Safe as any election: it wins only if a quorum of its own configuration grants the vote by
   * the log rule, its own vote not counted. It never disrupts a live leader: it campaigns only
   * when it has heard no leader for an election timeout, and the voters that applied its removal
   * ignore it (and a leader's followers are in lease).
   */
  private void campaignForVotersBehind() {
    if (!campaignAllowed || state != StateRole.FOLLOWER || isVoter() || tracker.voters().ids().isEmpty()
        || ticksSinceLeaderContact < config.electionTick() || log.unstable().hasSnapshot()
        || hasUnappliedConfChanges()) {
      return;
    }
    startCampaign(config.preVote() ? CampaignType.PRE_ELECTION : CampaignType.ELECTION);
  }

  // ---------------------------------------------------------------- message dispatch

  void step(Message m) {
    if (m.to() != id || !acceptFrom(m)) {
      return;
    }
    if (m.term() > term) {
      if (m instanceof RequestVote rv) {
        if (!rv.leadershipTransfer() && inLease()) {
          // Leader stickiness (thesis §4.2.3, §6.4.1): a live leader is not deposed by a node
          // that merely stopped hearing from it, and its lease stays valid.
          return;
        }
        if (!rv.preVote()) {
          becomeFollower(m.term(), NONE);
        }
      } else if (m instanceof RequestVoteResponse r && r.preVote() && !r.reject()) {
        // A granted pre-vote carries the future term; the term moves only if the election starts.
      } else if (isFromLeader(m)) {
        becomeFollower(m.term(), m.from());
      } else {
        becomeFollower(m.term(), NONE);
      }
    } else if (m.term() < term) {
      if ((config.checkQuorum() || config.preVote())
          && (m instanceof AppendEntries || m instanceof Heartbeat)) {
        // A deposed leader cut off from the new one may never see a higher term otherwise
        // (pre-candidates do not raise terms, CheckQuorum followers ignore its campaigns): tell it.
        send(new AppendEntriesResponse(id, m.from(), term, false, 0, 0, 0));
      } else if (m instanceof RequestVote rv && rv.preVote()) {
        send(new RequestVoteResponse(id, m.from(), term, true, true));
      }
      return;
    }
    if (m instanceof RequestVote rv) {
      handleVote(rv);
      return;
    }
    switch (state) {
      case FOLLOWER -> stepFollower(m);
      case PRE_CANDIDATE, CANDIDATE -> stepCandidate(m);
      case LEADER -> stepLeader(m);
    }
  }

  /** Messages only a leader sends: they may come from a member this node does not know yet. */
  private static boolean isFromLeader(Message m) {
    return m instanceof AppendEntries || m instanceof Heartbeat || m instanceof InstallSnapshot
        || m instanceof TimeoutNow || m instanceof ReadIndexResponse;
  }

  /**
   * Messages from non-members are ignored, so a removed server cannot disrupt the group (thesis
   * §4.2.3) — except a leader's: a leader won an election in a configuration this node may not
   * have applied yet (a new member starts with none at all).
   */
  private boolean acceptFrom(Message m) {
    if (m instanceof RequestVote) {
      // Thesis §4.1: a server votes without consulting its configuration, because it may not
      // have applied the one that made the candidate a voter (or any at all); refusing would
      // leave such a group leaderless forever. Only a candidate this node saw being removed is
      // ignored; leader stickiness (inLease) keeps the rest from disrupting a live leader.
      return !removedMembers.contains(m.from());
    }
    return isFromLeader(m) || tracker.isMember(m.from());
  }

  private void stepLeader(Message m) {
    if (m instanceof AppendEntriesResponse r) {
      handleAppendResponse(r);
    } else if (m instanceof HeartbeatResponse r) {
      handleHeartbeatResponse(r);
    } else if (m instanceof ReadIndexRequest r) {
      handleReadRequest(new ReadOnly.PendingRead(r.context(), r.from(), 0, true));
    } else if (m instanceof TransferLeadershipRequest r) {
      transferLeadership(r.transferee());
    }
  }

  private void stepCandidate(Message m) {
    if (m instanceof AppendEntries ae) {
      becomeFollower(m.term(), m.from());
      leaderContact();
      handleAppendEntries(ae);
    } else if (m instanceof Heartbeat hb) {
      becomeFollower(m.term(), m.from());
      leaderContact();
      handleHeartbeat(hb);
    } else if (m instanceof InstallSnapshot is) {
      becomeFollower(m.term(), m.from());
      leaderContact();
      handleSnapshot(is);
    } else if (m instanceof RequestVoteResponse r) {
      if (r.preVote() != (state == StateRole.PRE_CANDIDATE)) {
        return; // an answer to another kind of campaign
      }
      tracker.recordVote(r.from(), !r.reject());
      switch (tracker.tallyVotes()) {
        case WON -> {
          if (state == StateRole.PRE_CANDIDATE) {
            startCampaign(CampaignType.ELECTION);
          } else {
            becomeLeader();
            bcastAppend();
            if (!isVoter()) {
              handOffLeadership();
            }
          }
        }
        case LOST -> becomeFollower(term, NONE);
        case PENDING -> { }
      }
    }
  }

  private void stepFollower(Message m) {
    if (m instanceof AppendEntries ae) {
      followLeader(m.from());
      handleAppendEntries(ae);
    } else if (m instanceof Heartbeat hb) {
      followLeader(m.from());
      handleHeartbeat(hb);
    } else if (m instanceof InstallSnapshot is) {
      followLeader(m.from());
      handleSnapshot(is);
    } else if (m instanceof TimeoutNow) {
      hup(CampaignType.TRANSFER);
    } else if (m instanceof ReadIndexResponse r) {
      if (r.index() > 0) {
        readStates.add(new ReadState(r.index(), r.context()));
      }
    } else if (m instanceof TransferLeadershipRequest r) {
      if (lead != NONE) {
        send(new TransferLeadershipRequest(id, lead, term, r.transferee()));
      }
    }
  }

  private void followLeader(long leader) {
    electionElapsed = 0;
    lead = leader;
    leaderContact();
  }

  private void leaderContact() {
    ticksSinceLeaderContact = 0;
  }

  // ---------------------------------------------------------------- follower handlers

  private void handleAppendEntries(AppendEntries m) {
    if (m.prevLogIndex() < log.committed) {
      send(new AppendEntriesResponse(id, m.from(), term, false, log.committed, 0, 0));
      return;
    }
    long lastNew = log.maybeAppend(m.prevLogIndex(), m.prevLogTerm(), m.commit(), m.entries());
    if (lastNew >= 0) {
      send(new AppendEntriesResponse(id, m.from(), term, false, lastNew, 0, 0));
      return;
    }
    // Fast backtracking: point the leader at the last index where our term is not above
    // prevLogTerm, skipping every entry of a conflicting term at once.
    long[] hint = log.findConflictByTerm(Math.min(m.prevLogIndex(), log.lastIndex()), m.prevLogTerm());
    send(new AppendEntriesResponse(id, m.from(), term, true, m.prevLogIndex(), hint[0], hint[1]));
  }

  private void handleHeartbeat(Heartbeat m) {
    log.commitTo(m.commit());
    send(new HeartbeatResponse(id, m.from(), term, m.readContext()));
  }

  private void handleSnapshot(InstallSnapshot m) {
    long index = restore(m.snapshot()) ? log.lastIndex() : log.committed;
    send(new AppendEntriesResponse(id, m.from(), term, false, index, 0, 0));
  }

  /**
   * Installs a leader's snapshot; false if it brings nothing new.
   *
   * <p>The snapshot's membership need not include this node (etcd and raft-rs refuse such a
   * snapshot). A leader sends snapshots only to members of its configuration, and it sends the
   * latest one it has, which may have been taken before this node was added: a brand-new member
   * (no membership at all), or a member removed and added back while the leader's log was
   * compacted, whether or not it applied its removal. The change adding it follows in the
   * leader's log. Refusing would leave such a node without the leader's log until the leader
   * happens to take a newer snapshot, which an idle partition never does. Installing it is safe:
   * it is committed state, newer than anything this node applied; its membership is the committed
   * one at its index, so until this node applies the entry that adds it back it is a non-member
   * that cannot campaign, as after applying its own removal.
   */
  private boolean restore(Snapshot s) {
    SnapshotMetadata md = s.metadata();
    if (md.index() <= log.committed) {
      return false;
    }
    if (log.matchTerm(md.index(), md.term())) {
      // We already have the snapshot's last entry: just learn that it is committed.
      log.commitTo(md.index());
      return false;
    }
    log.restore(s);
    tracker.reconfigure(md.confState(), log.lastIndex());
    supersededConfChanges = confChangesHandedOut - confChangesApplied;
    restoredSnapshotIndex = md.index();
    return true;
  }

  // ---------------------------------------------------------------- leader handlers

  private void handleAppendResponse(AppendEntriesResponse m) {
    Progress pr = tracker.get(m.from());
    if (pr == null) {
      return;
    }
    pr.recentActive = true;
    if (m.reject()) {
      long nextProbe = m.rejectHint();
      if (m.rejectHintTerm() > 0) {
        nextProbe = log.findConflictByTerm(m.rejectHint(), m.rejectHintTerm())[0];
      }
      if (pr.maybeDecrTo(m.index(), nextProbe)) {
        if (pr.state == ReplicationState.REPLICATE) {
          pr.becomeProbe();
        }
        sendAppend(m.from());
      }
      return;
    }
    boolean wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index()) && !(pr.match == m.index() && pr.state == ReplicationState.PROBE)) {
      return;
    }
    switch (pr.state) {
      case PROBE -> pr.becomeReplicate();
      case SNAPSHOT -> {
        if (pr.match + 1 >= log.firstIndex()) {
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.match >= pr.pendingSnapshot) {
          // Installed, but the log was compacted past it meanwhile: probing finds a newer snapshot.
          pr.becomeProbe();
        }
      }
      case REPLICATE -> pr.inflights.freeLE(m.index());
    }
    if (maybeCommit()) {
      bcastPending = true;
    } else if (wasPaused) {
      sendAppend(m.from());
    }
    // The window may have opened: stream what fits (each call sends or returns false).
    while (maybeSendAppend(m.from(), false)) {
      // keep sending
    }
    if (m.from() == leadTransferee && pr.match == log.lastIndex()) {
      sendTimeoutNow(m.from());
    }
  }

  private void handleHeartbeatResponse(HeartbeatResponse m) {
    Progress pr = tracker.get(m.from());
    if (pr == null) {
      return;
    }
    pr.recentActive = true;
    if (pr.state != ReplicationState.PROBE || now - pr.probeSentTick >= config.heartbeatTick()) {
      // A heartbeat answer re-sends a probe that may be lost, but once per heartbeat interval:
      // a leader serving reads starts a round per Ready, and each probe of a member far behind
      // carries up to maxSizePerMsg (the likely cause of a Jepsen leader running out of heap
      // while catching a new member up).
      pr.msgAppFlowPaused = false;
    }
    if (m.readContext() > pr.ackedRound) {
      pr.ackedRound = m.readContext();
      // A round too old to remember is too old to extend a lease: keep the previous evidence.
      readOnly.sentTick(m.readContext())
          .ifPresent(t -> pr.ackedRoundSentTick = Math.max(pr.ackedRoundSentTick, t));
    }
    if (pr.match < log.lastIndex() || pr.state == ReplicationState.PROBE) {
      sendAppend(m.from());
    } else if (m.from() == leadTransferee) {
      // The transferee may have ignored (or lost) TimeoutNow, e.g. while it had a conf change
      // to apply: repeat it once per heartbeat until the transfer succeeds or is aborted.
      sendTimeoutNow(m.from());
    }
    if (!pr.learner) {
      long confirmed = tracker.voters().committedIndex(
          v -> v == id ? readOnly.lastRound() : ackedRound(v));
      for (ReadOnly.PendingRead r : readOnly.confirm(confirmed)) {
        answerRead(r);
      }
    }
  }

  private long ackedRound(long voter) {
    Progress pr = tracker.get(voter);
    return pr == null ? 0 : pr.ackedRound;
  }

  /** Recomputes the commit index from the match indexes (paper §5.3, §5.4.2). */
  private boolean maybeCommit() {
    long before = log.committed;
    if (!log.maybeCommit(tracker.committed(), term)) {
      return false;
    }
    if (pendingConfIndex > before && pendingConfIndex <= log.committed) {
      // A membership change committed: every member hears of it at once (a removed leader steps
      // down when it applies its removal, and its successor needs the new configuration).
      confCommitUnannounced = true;
    }
    if (!readOnly.waitingForCommit.isEmpty()) {
      // The first commit of this term: the reads held back can now get a trustworthy index.
      List<ReadOnly.PendingRead> waiting = new ArrayList<>(readOnly.waitingForCommit);
      readOnly.waitingForCommit.clear();
      waiting.forEach(this::handleReadRequest);
    }
    return true;
  }

  // ---------------------------------------------------------------- sending

  /** Queues {@code m}, in the list that matches what it claims about durability. */
  private void send(Message m) {
    boolean afterPersist;
    if (m instanceof RequestVote rv) {
      afterPersist = !rv.preVote(); // the candidate's own vote must be durable first
    } else if (m instanceof RequestVoteResponse || m instanceof AppendEntriesResponse) {
      afterPersist = true; // claims the vote / the appended entries / the term
    } else {
      afterPersist = state == StateRole.LEADER && awaitingTermDurable;
    }
    (afterPersist ? msgsAfterPersist : msgs).add(m);
  }

  private void bcastAppend() {
    tracker.forEach((peer, pr) -> {
      if (peer != id) {
        sendAppend(peer);
      }
    });
  }

  private void sendAppend(long to) {
    maybeSendAppend(to, true);
  }

  /**
   * Sends the next AppendEntries to {@code to} if its progress allows; an InstallSnapshot if the
   * entries it needs are compacted. Returns whether a message was sent.
   */
  private boolean maybeSendAppend(long to, boolean sendIfEmpty) {
    Progress pr = tracker.get(to);
    if (pr == null || to == id || pr.isPaused()) {
      return false;
    }
    long prevIndex = pr.next - 1;
    long prevTerm;
    List<Entry> ents;
    try {
      prevTerm = log.term(prevIndex);
      // A full window, or a node-wide budget spent, sends only an empty probe, so lost messages
      // cannot stall the follower and the commit index still travels.
      long budget = pr.state == ReplicationState.REPLICATE && pr.inflights.full()
          ? 0 : config.sendBudget().available(to);
      ents = budget <= 0 ? List.of() : log.entriesFrom(pr.next, Math.min(config.maxSizePerMsg(), budget));
    } catch (LogCompactedException e) {
      return sendSnapshot(to, pr);
    }
    if (ents.isEmpty() && !sendIfEmpty) {
      return false;
    }
    long bytes = Entry.sizeBytes(ents);
    if (bytes > 0) {
      config.sendBudget().spend(to, bytes);
    }
    send(new AppendEntries(id, to, term, prevIndex, prevTerm, ents, log.committed));
    if (pr.state == ReplicationState.PROBE) {
      pr.probeSentTick = now;
    }
    pr.sentEntries(ents.size(), ents.isEmpty() ? prevIndex : ents.get(ents.size() - 1).index(), bytes);
    return true;
  }

  private boolean sendSnapshot(long to, Progress pr) {
    if (!pr.recentActive) {
      return false; // do not ship a snapshot to a member that may be down
    }
    Snapshot s;
    try {
      s = log.snapshot();
    } catch (SnapshotUnavailableException e) {
      return false;
    }
    if (s.isEmpty()) {
      throw new IllegalStateException("member " + to + " needs compacted entries but there is no snapshot");
    }
    send(new InstallSnapshot(id, to, term, s));
    pr.becomeSnapshot(s.metadata().index());
    return true;
  }

  /** Starts a heartbeat round: liveness, commit propagation, ReadIndex and lease evidence. */
  private void bcastHeartbeat() {
    long round = readOnly.startRound(now, log.committed);
    tracker.forEach((peer, pr) -> {
      if (peer != id) {
        // Never tell a follower a commit index past what it is known to have.
        send(new Heartbeat(id, peer, term, Math.min(pr.match, log.committed), round));
      }
    });
    if (tracker.voters().committedIndex(v -> v == id ? round : ackedRound(v)) >= round) {
      readOnly.confirm(round).forEach(this::answerRead); // no other voter to ask
    }
  }

  private void sendTimeoutNow(long to) {
    send(new TimeoutNow(id, to, term));
    leaseRevoked = true;
  }

  // ---------------------------------------------------------------- proposals

  private long appendEntry(EntryType type, byte[] data) {
    long index = log.lastIndex() + 1;
    log.append(List.of(new Entry(index, term, type, data)));
    Progress self = tracker.get(id);
    if (self != null) {
      // Not maybeUpdate: the leader's own copy counts only once persisted.
      self.next = Math.max(self.next, index + 1);
    }
    return index;
  }

  private void checkCanPropose() {
    if (state != StateRole.LEADER) {
      throw new ProposalDroppedException("not the leader (leader is " + lead + ")");
    }
    if (leadTransferee != NONE) {
      throw new ProposalDroppedException("leadership transfer to " + leadTransferee + " in progress");
    }
    if (!isVoter()) {
      throw new ProposalDroppedException("this leader is no longer a voter");
    }
  }

  private void admitUncommitted(long size) {
    long max = config.maxUncommittedEntriesSize();
    // An empty uncommitted log always admits one entry, however large, so nothing starves.
    if (max > 0 && size > 0 && uncommittedSize > 0 && uncommittedSize + size > max) {
      throw new ProposalDroppedException(
          "uncommitted log is at " + uncommittedSize + " bytes, limit " + max);
    }
    uncommittedSize += size;
  }

  long propose(byte[] data) {
    checkCanPropose();
    admitUncommitted(data.length);
    long index = appendEntry(EntryType.NORMAL, data);
    bcastPending = true;
    return index;
  }

  long proposeConfChange(ConfChange cc) {
    checkCanPropose();
    if (pendingConfIndex > log.applied) {
      throw new ProposalDroppedException(
          "a conf change at " + pendingConfIndex + " is not applied yet (applied " + log.applied + ")");
    }
    try {
      ConfChanger.apply(tracker.confState(), cc);
    } catch (IllegalArgumentException e) {
      throw new ProposalDroppedException("invalid conf change: " + e.getMessage());
    }
    byte[] data = cc.encode();
    admitUncommitted(data.length);
    long index = appendEntry(EntryType.CONF_CHANGE, data);
    pendingConfIndex = index;
    bcastAppend();
    return index;
  }

  // ---------------------------------------------------------------- membership

  ConfState applyConfChange(ConfChange cc) {
    confChangesApplied++;
    if (supersededConfChanges > 0) {
      // Handed out before a snapshot that already contains it (the driver applies in log order).
      supersededConfChanges--;
      return tracker.confState();
    }
    return doApplyConfChange(cc);
  }

  /** Exact form: a change at or below the last restored snapshot's index is already in it. */
  ConfState applyConfChange(ConfChange cc, long index) {
    confChangesApplied++;
    if (index <= restoredSnapshotIndex) {
      supersededConfChanges = Math.max(0, supersededConfChanges - 1);
      return tracker.confState();
    }
    return doApplyConfChange(cc);
  }

  private ConfState doApplyConfChange(ConfChange cc) {
    ConfState before = tracker.confState();
    ConfState cs = ConfChanger.apply(before, cc);
    removedMembers.addAll(members(before));
    removedMembers.removeAll(members(cs));
    tracker.reconfigure(cs, log.lastIndex());
    if (state != StateRole.LEADER) {
      return cs;
    }
    if (maybeCommit()) {
      bcastAppend();
    } else {
      // New members (and members whose quorum role changed) need the log.
      tracker.forEach((peer, pr) -> maybeSendAppend(peer, false));
    }
    if (leadTransferee != NONE && !tracker.voters().contains(leadTransferee)) {
      leadTransferee = NONE;
    }
    if (!isVoter()) {
      handOffLeadership();
    }
    return cs;
  }

  private static Set<Long> members(ConfState cs) {
    Set<Long> all = new HashSet<>(cs.voters());
    all.addAll(cs.learners());
    all.addAll(cs.votersOutgoing());
    all.addAll(cs.learnersNext());
    return all;
  }

  // ---------------------------------------------------------------- reads

  void readIndex(long context) {
    readIndex(context, true);
  }

  void readIndex(long context, boolean leaseAllowed) {
    if (state == StateRole.LEADER) {
      handleReadRequest(new ReadOnly.PendingRead(context, id, 0, leaseAllowed));
    } else if (lead != NONE) {
      send(new ReadIndexRequest(id, lead, term, context));
    }
    // Without a known leader the request is dropped: the caller times out and retries.
  }

  private void handleReadRequest(ReadOnly.PendingRead read) {
    if (!committedEntryInCurrentTerm()) {
      readOnly.waitingForCommit.add(read);
    } else if (tracker.isSingleton() && tracker.voters().contains(id)) {
      answerRead(read.at(log.committed));
    } else if (read.leaseAllowed() && hasValidLease()) {
      answerRead(read.at(log.committed));
    } else {
      readOnly.addUnsent(read);
    }
  }

  private void answerRead(ReadOnly.PendingRead r) {
    if (r.from() == id) {
      readStates.add(new ReadState(r.index(), r.context()));
    } else {
      send(new ReadIndexResponse(id, r.from(), term, r.index(), r.context()));
    }
  }

  /** The highest log index known to be committed. */
  long committedIndex() {
    return log.committed;
  }

  /** See {@link RawNode#replicatedIndex()}. */
  long replicatedIndex() {
    if (state != StateRole.LEADER) {
      return 0;
    }
    long[] lowest = {log.lastIndex()};
    tracker.forEach((member, pr) -> {
      if (member != id && pr.state == ReplicationState.REPLICATE) {
        lowest[0] = Math.min(lowest[0], pr.match);
      }
    });
    return lowest[0];
  }

  /**
   * Whether a lease read is safe now (thesis §6.4.1).
   *
   * <p>The lease starts when the leader <em>sent</em> the heartbeat round a quorum last
   * acknowledged (not when the acknowledgements arrived: a follower's promise runs from when it
   * received the heartbeat, which is no earlier). The leader itself counts as acknowledging now.
   * It is valid while {@code now - start + 1 <= (electionTick - 1) * (1 - clockDriftFactor)}.
   *
   * <p>Clock assumption. A follower that received a heartbeat ignores vote requests (other than
   * a transfer's) until its election timer has counted {@code electionTick} ticks, which is more
   * than {@code electionTick - 1} of its tick intervals after the receipt. The round was sent at
   * the leader's tick {@code start}, so at most {@code now - start + 1} leader tick intervals have
   * passed <em>if the leader's ticks keep up with real time</em>. The lease is therefore safe if
   * (1) the leader's tick count never lags real time: a driver must catch up the ticks it missed
   * (after a GC pause, a stall) from a monotonic clock before it asks for a lease, since a lagging
   * count underestimates how long ago the round was sent; and (2) a follower's ticks never run
   * ahead: any {@code k} of its ticks span at least {@code k * (1 - clockDriftFactor)} nominal
   * tick intervals of real time (a follower that catches up missed ticks stays on the safe side).
   * A node restarted with a non-zero term honours the promise it may have made before the crash
   * for one election timeout. A leader that sent TimeoutNow gives up its lease for the rest of
   * its term.
   */
  boolean hasValidLease() {
    if (config.readOnlyOption() != ReadOnlyOption.LEASE_BASED || state != StateRole.LEADER
        || leaseRevoked || leadTransferee != NONE || !committedEntryInCurrentTerm()) {
      return false;
    }
    long start = tracker.voters().committedIndex(v -> {
      if (v == id) {
        return now;
      }
      Progress pr = tracker.get(v);
      return pr == null ? Progress.NEVER : pr.ackedRoundSentTick;
    });
    if (start <= now - config.electionTick()) {
      return false; // also keeps the subtraction below far from overflow
    }
    return now - start + 1 <= (config.electionTick() - 1) * (1 - config.clockDriftFactor());
  }

  // ---------------------------------------------------------------- leadership transfer

  void transferLeadership(long transferee) {
    if (state != StateRole.LEADER) {
      if (lead != NONE) {
        send(new TransferLeadershipRequest(id, lead, term, transferee));
      }
      return;
    }
    Progress pr = tracker.get(transferee);
    if (pr == null || pr.learner || transferee == id || transferee == leadTransferee) {
      return;
    }
    startTransfer(transferee, pr);
  }

  /** Thesis §3.10: stop taking proposals, bring the transferee up to date, then TimeoutNow. */
  private void startTransfer(long transferee, Progress pr) {
    electionElapsed = 0;
    leadTransferee = transferee;
    if (pr.match == log.lastIndex()) {
      sendTimeoutNow(transferee);
    } else {
      sendAppend(transferee);
    }
  }

  /** Whether this node is a voter of the current (possibly joint) configuration. */
  private boolean isVoter() {
    Progress self = tracker.get(id);
    return self != null && !self.learner && tracker.voters().contains(id);
  }

  /**
   * A leader that applied its own removal or demotion (thesis §4.2.2) hands leadership to the
   * most up-to-date voter instead of just stepping down: until the remaining voters learn that
   * the change committed, they may still need this node's vote, which it would refuse them if its
   * log is longer (if it has stepped down meanwhile, it campaigns for them: {@link
   * #campaignForVotersBehind}). It keeps leading the new configuration
   * (without counting itself) until the successor's election deposes it; CheckQuorum still
   * applies. Proposals are refused meanwhile.
   */
  private void handOffLeadership() {
    long best = bestSuccessor();
    if (best == NONE && !handOffsTried.isEmpty()) {
      handOffsTried.clear(); // every voter tried in vain: round again
      best = bestSuccessor();
    }
    if (best == NONE) {
      becomeFollower(term, NONE);
    } else {
      // Retried each election timeout until a successor takes over (tickHeartbeat): the next try
      // goes to the next best voter, for this one may never campaign (forbidden by its driver,
      // setPromotable), and the most up-to-date voter stays the most up-to-date.
      handOffsTried.add(best);
      startTransfer(best, tracker.get(best));
    }
  }

  /** The most up-to-date other voter this leadership has not yet tried to hand off to; NONE if none. */
  private long bestSuccessor() {
    long best = NONE;
    long bestMatch = -1;
    for (Map.Entry<Long, Progress> e : tracker.progressView().entrySet()) {
      long peer = e.getKey();
      Progress pr = e.getValue();
      if (peer != id && !pr.learner && tracker.voters().contains(peer) && !handOffsTried.contains(peer)
          && pr.match > bestMatch) {
        best = peer;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  // ---------------------------------------------------------------- driver feedback

  void reportUnreachable(long peer) {
    if (state != StateRole.LEADER) {
      return;
    }
    Progress pr = tracker.get(peer);
    if (pr != null && pr.state == ReplicationState.REPLICATE) {
      pr.becomeProbe();
    }
  }

  void reportSnapshot(long peer, boolean success) {
    if (state != StateRole.LEADER) {
      return;
    }
    Progress pr = tracker.get(peer);
    if (pr == null || pr.state != ReplicationState.SNAPSHOT) {
      return;
    }
    if (!success) {
      pr.pendingSnapshot = 0;
    }
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing again.
    pr.msgAppFlowPaused = true;
  }

  void persisted(long index, long t) {
    log.stableTo(index, t);
    onPersistedAdvanced();
  }

  /** Entries through ({@code index}, {@code t}) are written in order: only applying may use it. */
  void written(long index, long t) {
    log.writtenTo(index, t);
  }

  void snapshotPersisted(long index) {
    log.stableSnapTo(index);
    if (!log.unstable().hasSnapshot() && index > log.applied && index <= log.applying) {
      log.appliedTo(index);
    }
    onPersistedAdvanced();
  }

  private void onPersistedAdvanced() {
    if (state != StateRole.LEADER) {
      return;
    }
    long persisted = log.persistedIndex();
    if (awaitingTermDurable && persisted >= leaderNoopIndex) {
      awaitingTermDurable = false;
    }
    Progress self = tracker.get(id);
    if (self != null && self.maybeUpdate(persisted) && maybeCommit()) {
      bcastPending = true;
    }
  }

  void applied(long index) {
    log.appliedTo(index);
    ConfState cs = tracker.confState();
    if (state == StateRole.LEADER && cs.isJoint() && cs.autoLeave() && log.applied >= pendingConfIndex) {
      // Leave the joint configuration on our own once entering it is applied (thesis §4.3).
      // Not subject to the proposal limits: a joint configuration must not be left hanging.
      pendingConfIndex = appendEntry(EntryType.CONF_CHANGE, ConfChange.leaveJoint().encode());
      bcastAppend();
    }
  }

  // ---------------------------------------------------------------- Ready

  boolean hasReady() {
    // field by field rather than softState()/hardState().equals(...): asked for every group on
    // every turn of the driver's loop, so no allocation
    return lead != prevSoftState.leader() || state != prevSoftState.role()
        || term != prevHardState.term() || vote != prevHardState.vote() || log.committed != prevHardState.commit()
        || log.unstable().hasNext()
        || !msgs.isEmpty()
        || !msgsAfterPersist.isEmpty()
        || !readStates.isEmpty()
        || log.hasNextCommittedEntries()
        || (state == StateRole.LEADER && (bcastPending || readOnly.hasUnsent()));
  }

  Ready ready() {
    if (state == StateRole.LEADER && bcastPending) {
      bcastPending = false;
      // New entries go out, carrying the commit index. A commit index alone does not: the next
      // AppendEntries or the next heartbeat (each tick; it carries min(match, commit)) tells the
      // follower. Why: under load the next entries follow within a round trip anyway, and an
      // AppendEntries that only moves the commit index, with its acknowledgement, is half of all
      // replication messages, each costing a wake-up and a syscall on both nodes (benchmarks.md,
      // finding 27). Nothing waits on a follower's commit index: the leader answers writes and
      // serves reads, a follower read's heartbeat round carries the commit index with it, and a
      // leader quiesces only after two heartbeats at its final commit index.
      boolean announceCommit = confCommitUnannounced;
      confCommitUnannounced = false;
      tracker.forEach((peer, pr) -> {
        if (peer != id) {
          maybeSendAppend(peer, announceCommit);
        }
      });
    }
    if (state == StateRole.LEADER && readOnly.hasUnsent()) {
      // Every read requested since the previous Ready shares this one round.
      bcastHeartbeat();
    }
    Snapshot snap = log.unstable().nextSnapshot();
    if (snap != null) {
      // The driver installs it before applying anything after it.
      log.applying = Math.max(log.applying, snap.metadata().index());
    }
    List<Entry> committed = log.nextCommittedEntries();
    for (Entry e : committed) {
      if (e.type() == EntryType.CONF_CHANGE) {
        confChangesHandedOut++;
      }
    }
    if (state == StateRole.LEADER && !committed.isEmpty()) {
      long size = 0;
      for (Entry e : committed) {
        size += e.data().length;
      }
      uncommittedSize = Math.max(0, uncommittedSize - size);
    }
    List<Entry> entries = log.unstable().nextEntries();
    log.unstable().acceptInProgress();
    HardState hs = hardState();
    Optional<HardState> hsOut = hs.equals(prevHardState) ? Optional.empty() : Optional.of(hs);
    prevHardState = hs;
    prevSoftState = softState();
    Ready rd = new Ready(prevSoftState, hsOut, entries, Optional.ofNullable(snap),
        List.copyOf(msgs), List.copyOf(msgsAfterPersist), committed, List.copyOf(readStates));
    msgs.clear();
    msgsAfterPersist.clear();
    readStates.clear();
    return rd;
  }
}
