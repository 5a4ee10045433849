package io.quorumkv.raft;

import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * Configuration of one {@link RawNode}. Time is counted in ticks; the driver decides how long a
 * tick is.
 *
 * @param id                  this member's id; positive
 * @param electionTick        ticks without hearing from a leader before a follower campaigns; the
 *                            actual timeout is randomised in {@code [electionTick, 2*electionTick)}
 * @param heartbeatTick       ticks between a leader's heartbeats; less than {@code electionTick}
 * @param applied             the index the state machine has already applied (on restart)
 * @param maxSizePerMsg       byte limit of the entries in one AppendEntries (batching)
 * @param maxCommittedSizePerReady byte limit of committed entries handed out in one Ready
 * @param maxApplyingEntriesSize apply flow control: byte limit of the committed entries handed out
 *                            to apply and not yet reported applied ({@link RawNode#applied}); once
 *                            reached, no more are handed out until the applier catches up (when
 *                            nothing is outstanding, one entry is handed out whatever its size)
 * @param maxInflightMsgs     pipelining window: unacknowledged AppendEntries per follower
 * @param maxInflightBytes    pipelining window in bytes: no further AppendEntries to a follower
 *                            whose unacknowledged ones hold this many bytes of entries or more
 *                            (a follower catching up would otherwise have the leader read and
 *                            hold {@code maxInflightMsgs * maxSizePerMsg} at once); 0 = no bound
 * @param maxUncommittedEntriesSize byte limit of the leader's uncommitted tail; 0 = unlimited
 * @param preVote             run a PreVote round before a real election (thesis §9.6)
 * @param checkQuorum         a leader steps down after an election timeout without hearing from
 *                            a quorum, and followers ignore vote requests while they have a leader
 * @param readOnlyOption      how reads confirm leadership
 * @param clockDriftFactor    the fraction of the election timeout a lease gives away to clock drift
 *                            and pauses, in {@code [0, 1)}; a lease lasts about
 *                            {@code (electionTick - 1) * (1 - clockDriftFactor)} ticks from the
 *                            sending of the heartbeat round a quorum acknowledged
 * @param random              source of randomised election timeouts; seed it for determinism
 * @param sendBudget          node-wide flow control of the entry bytes sent to each peer, shared
 *                            by the node's groups ({@link SendBudget#UNBOUNDED} by default)
 */
public record RaftConfig(
    long id,
    int electionTick,
    int heartbeatTick,
    long applied,
    long maxSizePerMsg,
    long maxCommittedSizePerReady,
    long maxApplyingEntriesSize,
    int maxInflightMsgs,
    long maxInflightBytes,
    long maxUncommittedEntriesSize,
    boolean preVote,
    boolean checkQuorum,
    ReadOnlyOption readOnlyOption,
    double clockDriftFactor,
    RandomGenerator random,
    SendBudget sendBudget) {

  /** The id that means "no node". */
  public static final long NONE = 0;

  /** Validates every field, naming the wrong one. */
  public RaftConfig {
    Objects.requireNonNull(readOnlyOption, "readOnlyOption");
    Objects.requireNonNull(random, "random");
    Objects.requireNonNull(sendBudget, "sendBudget");
    if (id <= NONE) {
      throw new IllegalArgumentException("id must be positive, was " + id);
    }
    if (heartbeatTick <= 0) {
      throw new IllegalArgumentException("heartbeatTick must be positive, was " + heartbeatTick);
    }
    if (electionTick <= heartbeatTick) {
      throw new IllegalArgumentException(
          "electionTick (" + electionTick + ") must be greater than heartbeatTick (" + heartbeatTick + ")");
    }
    if (applied < 0) {
      throw new IllegalArgumentException("applied must not be negative, was " + applied);
    }
    if (maxSizePerMsg <= 0 || maxCommittedSizePerReady <= 0 || maxApplyingEntriesSize <= 0) {
      throw new IllegalArgumentException(
          "maxSizePerMsg, maxCommittedSizePerReady and maxApplyingEntriesSize must be positive");
    }
    if (maxInflightMsgs <= 0) {
      throw new IllegalArgumentException("maxInflightMsgs must be positive, was " + maxInflightMsgs);
    }
    if (maxInflightBytes < 0) {
      throw new IllegalArgumentException("maxInflightBytes must not be negative, was " + maxInflightBytes);
    }
    if (maxUncommittedEntriesSize < 0) {
      throw new IllegalArgumentException("maxUncommittedEntriesSize must not be negative");
    }
    if (!(clockDriftFactor >= 0 && clockDriftFactor < 1)) {
      throw new IllegalArgumentException("clockDriftFactor must be in [0, 1), was " + clockDriftFactor);
    }
    if (readOnlyOption == ReadOnlyOption.LEASE_BASED && !checkQuorum) {
      throw new IllegalArgumentException("LEASE_BASED reads require checkQuorum");
    }
  }

  /** A builder with production defaults: election 10 ticks, heartbeat 1, PreVote and CheckQuorum on. */
  public static Builder builder(long id) {
    return new Builder(id);
  }

  /** Builder for {@link RaftConfig}. */
  public static final class Builder {
    private final long id;
    private int electionTick = 10;
    private int heartbeatTick = 1;
    private long applied;
    private long maxSizePerMsg = 1 << 20;
    private long maxCommittedSizePerReady = 4 << 20;
    private long maxApplyingEntriesSize = 32L << 20;
    private int maxInflightMsgs = 256;
    private long maxInflightBytes = 4L << 20;
    private long maxUncommittedEntriesSize = 64L << 20;
    private boolean preVote = true;
    private boolean checkQuorum = true;
    private ReadOnlyOption readOnlyOption = ReadOnlyOption.SAFE;
    private double clockDriftFactor = 0.2;
    private RandomGenerator random;
    private SendBudget sendBudget = SendBudget.UNBOUNDED;

    private Builder(long id) {
      this.id = id;
    }

    /** See {@link RaftConfig#electionTick()}. */
    public Builder electionTick(int v) { electionTick = v; return this; }
    /** See {@link RaftConfig#heartbeatTick()}. */
    public Builder heartbeatTick(int v) { heartbeatTick = v; return this; }
    /** See {@link RaftConfig#applied()}. */
    public Builder applied(long v) { applied = v; return this; }
    /** See {@link RaftConfig#maxSizePerMsg()}. */
    public Builder maxSizePerMsg(long v) { maxSizePerMsg = v; return this; }
    /** See {@link RaftConfig#maxCommittedSizePerReady()}. */
    public Builder maxCommittedSizePerReady(long v) { maxCommittedSizePerReady = v; return this; }
    /** See {@link RaftConfig#maxApplyingEntriesSize()}. */
    public Builder maxApplyingEntriesSize(long v) { maxApplyingEntriesSize = v; return this; }
    /** See {@link RaftConfig#maxInflightMsgs()}. */
    public Builder maxInflightMsgs(int v) { maxInflightMsgs = v; return this; }
    /** See {@link RaftConfig#maxInflightBytes()}. */
    public Builder maxInflightBytes(long v) { maxInflightBytes = v; return this; }
    /** See {@link RaftConfig#maxUncommittedEntriesSize()}. */
    public Builder maxUncommittedEntriesSize(long v) { maxUncommittedEntriesSize = v; return this; }
    /** See {@link RaftConfig#preVote()}. */
    public Builder preVote(boolean v) { preVote = v; return this; }
    /** See {@link RaftConfig#checkQuorum()}. */
    public Builder checkQuorum(boolean v) { checkQuorum = v; return this; }
    /** See {@link RaftConfig#readOnlyOption()}. */
    public Builder readOnlyOption(ReadOnlyOption v) { readOnlyOption = v; return this; }
    /** See {@link RaftConfig#clockDriftFactor()}. */
    public Builder clockDriftFactor(double v) { clockDriftFactor = v; return this; }
    /** See {@link RaftConfig#random()}. Defaults to a generator seeded with the id. */
    public Builder random(RandomGenerator v) { random = v; return this; }
    /** See {@link RaftConfig#sendBudget()}. */
    public Builder sendBudget(SendBudget v) { sendBudget = v; return this; }

    /** Builds and validates the configuration. */
    public RaftConfig build() {
      RandomGenerator r = random != null ? random : new java.util.SplittableRandom(id);
      return new RaftConfig(id, electionTick, heartbeatTick, applied, maxSizePerMsg,
          maxCommittedSizePerReady, maxApplyingEntriesSize, maxInflightMsgs, maxInflightBytes,
          maxUncommittedEntriesSize, preVote, checkQuorum, readOnlyOption, clockDriftFactor, r,
          sendBudget);
    }
  }
}
