package io.quorumkv;

import java.util.List;
import java.util.Objects;

/** The answer to a {@link KvRequest}. Encoded by {@link Codec}. */
sealed interface KvResponse {

  /** The answer to a get. */
  record Read(ReadResult result) implements KvResponse {
    public Read {
      Objects.requireNonNull(result, "result");
    }
  }

  /** The answer to a scan (of one partition, or merged). */
  record Scanned(List<KeyValue> entries) implements KvResponse {
    public Scanned {
      entries = List.copyOf(entries);
    }
  }

  /** A write applied; {@code result} is the operation's boolean (true for a put). */
  record Written(boolean result) implements KvResponse {}

  /** The answers to a {@link KvRequest.Multi}, one per item, in the items' order. */
  record Multi(List<KvResponse> answers) implements KvResponse {
    public Multi {
      answers = List.copyOf(answers);
      for (KvResponse a : answers) {
        if (a instanceof Multi) {
          throw new IllegalArgumentException("a multi's answer cannot be a multi");
        }
      }
    }
  }

  /** The answer to a status request. */
  record StatusReport(ClusterStatus status) implements KvResponse {}

  /**
   * The answer to a {@link KvRequest.Directory}: the replicas {@code nodeId} hosts, the
   * addresses of the members it knows (so that nodes sharing no partition still reach each other),
   * its preferred leaders ({@link KvNodeConfig#preferredLeaders}, so that nodes find out when
   * they were given different sets); empty when the answer came from a node that does not send
   * them (an older version); and the partitions whose replica on that node is fenced, its state
   * found diverged (placement removes such a voter first, see ReplicaRepair); empty from an older node.
   */
  record DirectoryReport(long nodeId, List<ReplicaReport> replicas, java.util.Map<Long, String> addresses,
      java.util.Optional<java.util.Set<Long>> preferredLeaders, java.util.Set<Long> fenced) implements KvResponse {
    public DirectoryReport {
      replicas = byPartition(replicas);
      addresses = java.util.Map.copyOf(addresses);
      preferredLeaders = preferredLeaders.map(java.util.Set::copyOf);
      fenced = java.util.Set.copyOf(fenced);
    }

    /** The node's replica of {@code partitionId}, if it reported one (a binary search: reports are large). */
    java.util.Optional<ReplicaReport> replica(long partitionId) {
      int lo = 0;
      int hi = replicas.size() - 1;
      while (lo <= hi) {
        int mid = (lo + hi) >>> 1;
        long at = replicas.get(mid).partitionId();
        if (at < partitionId) {
          lo = mid + 1;
        } else if (at > partitionId) {
          hi = mid - 1;
        } else {
          return java.util.Optional.of(replicas.get(mid));
        }
      }
      return java.util.Optional.empty();
    }

    /** The replicas in partition order (a node's own reports already are). */
    private static List<ReplicaReport> byPartition(List<ReplicaReport> replicas) {
      for (int i = 1; i < replicas.size(); i++) {
        if (replicas.get(i - 1).partitionId() > replicas.get(i).partitionId()) {
          List<ReplicaReport> sorted = new java.util.ArrayList<>(replicas);
          sorted.sort(java.util.Comparator.comparingLong(ReplicaReport::partitionId));
          return List.copyOf(sorted);
        }
      }
      return List.copyOf(replicas);
    }

    /** A report that does not say which leaders its node prefers. */
    DirectoryReport(long nodeId, List<ReplicaReport> replicas, java.util.Map<Long, String> addresses) {
      this(nodeId, replicas, addresses, java.util.Optional.empty(), java.util.Set.of());
    }

    /** A report that names no fenced replica. */
    DirectoryReport(long nodeId, List<ReplicaReport> replicas, java.util.Map<Long, String> addresses,
        java.util.Optional<java.util.Set<Long>> preferredLeaders) {
      this(nodeId, replicas, addresses, preferredLeaders, java.util.Set.of());
    }
  }

  /**
   * One replica as its node sees it.
   *
   * @param partitionId  the partition
   * @param span         its keys ({@link PartitionStateMachine#encodeSpan}), empty when not initialised
   * @param leader       the leader the node knows of, or 0
   * @param term         the node's term in the group
   * @param appliedIndex the node's applied index; {@code voters} and {@code learners} are the
   *                     membership as of that index or later (committed)
   * @param keyCount     user keys in the replica (for merges)
   * @param frozen       the partition is frozen for a merge into its left neighbour
   * @param voters       voters (incoming and outgoing, when joint)
   * @param learners     learners
   * @param absorbed     the partitions merged into this one, as of its applied index
   */
  record ReplicaReport(long partitionId, byte[] span, long leader, long term, long appliedIndex, long keyCount,
      boolean frozen, java.util.Set<Long> voters, java.util.Set<Long> learners, java.util.Set<Long> absorbed) {
    public ReplicaReport {
      Objects.requireNonNull(span, "span");
      voters = java.util.Set.copyOf(voters);
      learners = java.util.Set.copyOf(learners);
      absorbed = java.util.Set.copyOf(absorbed);
    }
  }

  /**
   * The answer to a {@link KvRequest.Routes} request: one route per partition the node hosts, and
   * the client addresses of the members that are voters of some partition and learners of none
   * (node id to advertised {@code host:port}, itself included, as of the membership changes it has
   * applied: a node being added, a learner until it has caught up, is not named). The routes name leaders only, so the members are what lets
   * a client reach the cluster once every node it was configured with is gone. Empty when the
   * answer came from a node that does not send them (an older version).
   */
  record RouteTable(List<Route> routes, java.util.Map<Long, String> members) implements KvResponse {
    public RouteTable {
      routes = List.copyOf(routes);
      members = java.util.Map.copyOf(members);
    }

    /** A table that names no members (an older node's answer). */
    RouteTable(List<Route> routes) {
      this(routes, java.util.Map.of());
    }
  }

  /**
   * Where one partition's requests should go.
   *
   * @param partitionId   the partition
   * @param span          the keys it holds
   * @param leaderAddress the leader's advertised {@code host:port}, or empty when none is known
   */
  record Route(long partitionId, KeySpan span, String leaderAddress) {}

  /** The answer to a {@link KvRequest.CheckReplicas}. */
  record ReplicaCheck(ReplicaHashes hashes) implements KvResponse {
    public ReplicaCheck {
      Objects.requireNonNull(hashes, "hashes");
    }
  }

  /** An administrative operation finished; {@code value} is its result (a split's new id). */
  record AdminDone(long value) implements KvResponse {}

  /**
   * The answer to a {@link KvRequest.Directory} poll when the report is the one its asker says it
   * holds (its {@code heldRound}), byte for byte: the asker keeps using that one.
   */
  record DirectoryUnchanged() implements KvResponse {}

  /** Why a request failed. */
  enum Code {
    /** The receiver does not lead the partition and does not forward; see the hint. Retryable elsewhere. */
    NOT_LEADER,
    /** No leader is known for the partition right now. Retryable. */
    NO_LEADER,
    /** The key left the partition (a split) before the write applied; nothing changed. Retryable. */
    WRONG_PARTITION,
    /** One attempt took too long; the write may still apply. Retryable with the same sequence number. */
    TIMEOUT,
    /** The retried write's session expired: its first attempt may or may not have applied. */
    SESSION_EXPIRED,
    /** The receiving node is shutting down. Retryable elsewhere. */
    CLOSED,
    /** The request is wrong (e.g. a batch across partitions); retrying cannot help. */
    INVALID_ARGUMENT,
    /** A key is too long for the receiving node. */
    KEY_TOO_LARGE,
    /** A value is too long for the receiving node. */
    VALUE_TOO_LARGE,
    /** A bug or an unexpected failure on the node; logged there. */
    INTERNAL
  }

  /**
   * A failed request.
   *
   * @param code           why
   * @param message        for a person
   * @param partitionId    the partition concerned, or 0
   * @param hint           with {@link Code#NOT_LEADER}: the believed leader, or 0; with
   *                       {@link Code#KEY_TOO_LARGE} and {@link Code#VALUE_TOO_LARGE}: the limit
   * @param hintAddress    with {@link Code#NOT_LEADER}: the leader's advertised address, or empty
   * @param outcomeUnknown whether the write may have been (or may yet be) applied
   */
  record Failure(Code code, String message, long partitionId, long hint, String hintAddress,
      boolean outcomeUnknown) implements KvResponse {
    public Failure {
      Objects.requireNonNull(code, "code");
      Objects.requireNonNull(message, "message");
      Objects.requireNonNull(hintAddress, "hintAddress");
    }

    static Failure of(Code code, String message) {
      return new Failure(code, message, 0, 0, "", false);
    }

    static Failure notLeader(long partitionId, long leader, String leaderAddress) {
      return new Failure(Code.NOT_LEADER, "not the leader of partition " + partitionId, partitionId,
          leader, leaderAddress, false);
    }

    /**
     * This failure, saying the operation may have taken effect: what a call answers when an
     * earlier step or attempt of it may have applied something, whatever this one met.
     */
    Failure withOutcomeUnknown() {
      return outcomeUnknown ? this : new Failure(code, message, partitionId, hint, hintAddress, true);
    }

    /** Whether another attempt (after a pause, or at another node) may succeed. */
    boolean retryable() {
      return switch (code) {
        case NOT_LEADER, NO_LEADER, WRONG_PARTITION, TIMEOUT, CLOSED -> true;
        case SESSION_EXPIRED, INVALID_ARGUMENT, KEY_TOO_LARGE, VALUE_TOO_LARGE, INTERNAL -> false;
      };
    }
  }
}
