package io.quorumkv;

import java.util.List;
import java.util.Objects;

/**
 * A request as it travels from a caller's frontend to a node, and from node to node when
 * forwarded. Encoded by {@link Codec}.
 */
sealed interface KvRequest {

  /** Read one key. */
  record Get(byte[] key, ReadConsistency consistency) implements KvRequest {
    public Get {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(consistency, "consistency");
    }
  }

  /** Read up to {@code limit} keys of {@code [from, to)}; an empty {@code to} is unbounded. */
  record Scan(byte[] from, byte[] to, int limit, ReadConsistency consistency) implements KvRequest {
    public Scan {
      Objects.requireNonNull(from, "from");
      Objects.requireNonNull(to, "to");
      Objects.requireNonNull(consistency, "consistency");
    }
  }

  /**
   * A write under the caller's session.
   *
   * @param clientId   the session: a random id the caller picked
   * @param seq        the call's sequence number in the session, the same for every retry
   * @param ackedBelow every sequence number below it has been answered to the caller, so the
   *                   state machine may forget their results
   * @param op         what to do
   */
  record Write(long clientId, long seq, long ackedBelow, WriteOp op) implements KvRequest {
    public Write {
      Objects.requireNonNull(op, "op");
    }
  }

  /**
   * Several gets and writes sent to one node in one frame by a client that had them queued for that
   * node at the same time (see {@link RequestCoalescer}). The node executes each item as if it had
   * arrived alone and answers with a {@link KvResponse.Multi} holding one answer per item, in order.
   * Items are only {@link Get}s and {@link Write}s; at most {@link #MAX_ITEMS} of them, at most
   * {@link #MAX_BYTES} encoded.
   */
  record Multi(List<Item> items) implements KvRequest {
    /** The most items a multi carries. */
    static final int MAX_ITEMS = 512;
    /** The most bytes an encoded multi takes: a quarter of the transport's frame limit. */
    static final int MAX_BYTES = 4 * 1024 * 1024;

    public Multi {
      items = List.copyOf(items);
      if (items.isEmpty() || items.size() > MAX_ITEMS) {
        throw new IllegalArgumentException("a multi carries 1 to " + MAX_ITEMS + " items, not " + items.size());
      }
    }

    /**
     * One request of a multi.
     *
     * @param request       a {@link Get} or a {@link Write}
     * @param timeoutMillis how long the caller waits for it from the moment it was sent (the node's
     *                      deadline for it, as a single request's travels with its frame)
     */
    record Item(KvRequest request, long timeoutMillis) {
      public Item {
        if (!(request instanceof Get || request instanceof Write)) {
          throw new IllegalArgumentException("a multi carries only gets and writes, not " + request);
        }
        if (timeoutMillis <= 0) {
          throw new IllegalArgumentException("an item's timeout must be positive, was " + timeoutMillis);
        }
      }
    }
  }

  /** The receiving node's view of the cluster. */
  record Status() implements KvRequest {}

  /**
   * The receiving node's replicas (span, membership, leader, progress), for another node's
   * directory of the partitions it does not host: routing and replica placement. A node polls its
   * peers every election timeout; most polls of a quiet cluster would return the very report the
   * asker already holds, so the asker numbers its polls and says which one's full answer it holds,
   * and the receiver answers {@link KvResponse.DirectoryUnchanged} when its report is byte for
   * byte the one it sent for that poll.
   *
   * @param round      the asker's poll number, from 1 up; 0 when the asker keeps no report (any
   *                   other caller): then the answer is always the full report
   * @param heldRound  the poll whose full report from the receiver the asker holds; 0 for none
   */
  record Directory(long round, long heldRound) implements KvRequest {
    /** A request for the full report. */
    Directory() {
      this(0, 0);
    }
  }

  /** Which partition holds which keys and who leads it, as the receiving node knows (client routing). */
  record Routes() implements KvRequest {}

  /**
   * The receiving node's replica hash checks ({@link KvAdmin#replicaHashes()}): a check in every
   * partition it leads, answered with a {@link KvResponse.ReplicaCheck} after at most
   * {@code waitMillis} (the node's own deadline, if shorter), with the reports received by then.
   */
  record CheckReplicas(long waitMillis) implements KvRequest {
    public CheckReplicas {
      if (waitMillis <= 0) {
        throw new IllegalArgumentException("waitMillis must be positive, was " + waitMillis);
      }
    }
  }

  /** An administrative operation. */
  record Admin(AdminOp op) implements KvRequest {
    public Admin {
      Objects.requireNonNull(op, "op");
    }
  }

  /**
   * A {@link Get}, {@link Scan} or {@link Write} for one partition, forwarded by a node that routed
   * it; the receiver serves it locally or answers {@link KvResponse.Code#NOT_LEADER}, never forwards
   * again (so forwarding cannot loop).
   */
  record ForPartition(long partitionId, KvRequest inner) implements KvRequest {
    public ForPartition {
      if (!(inner instanceof Get || inner instanceof Scan || inner instanceof Write)) {
        throw new IllegalArgumentException("only reads and writes are forwarded: " + inner);
      }
    }
  }

  /**
   * A command for the leader of one partition, sent by a node that routed it; the receiver
   * executes it if it leads the partition and answers {@link KvResponse.Code#NOT_LEADER}
   * otherwise. Answered with {@link KvResponse.AdminDone}.
   */
  record Group(long partitionId, GroupCommand command) implements KvRequest {
    public Group {
      Objects.requireNonNull(command, "command");
    }
  }

  /** What a {@link Group} request asks a partition's leader. */
  sealed interface GroupCommand {
    /** A clock-free read index, for a follower read: answered with the index. */
    record ReadIndex() implements GroupCommand {}

    /** Hand leadership to {@code toNode} and answer once it leads. */
    record TransferLeader(long toNode) implements GroupCommand {}

    /**
     * A one-member change. An {@code ADD_VOTER} of a member that is not caught up waits until it
     * is; a change already in effect is a no-op, so retrying is safe.
     */
    record ChangeMember(io.quorumkv.raft.ConfChangeType type, long nodeId, String address, int minVoters)
        implements GroupCommand {
      /**
       * @param minVoters with {@code REMOVE}: refused (retryably) unless at least this many voters
       *                  remain, judged by the leader at proposal time; 0 for no such condition
       */
      public ChangeMember {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(address, "address");
      }

      /** An unconditional change (an operator's). */
      public ChangeMember(io.quorumkv.raft.ConfChangeType type, long nodeId, String address) {
        this(type, nodeId, address, 0);
      }
    }

    /** Freeze this (right-hand) partition and have {@code leftPartition} absorb it. */
    record MergeInto(long leftPartition) implements GroupCommand {}

    /** Take over the frozen partition {@code rightPartition}, whose state is {@code seed}. */
    record Absorb(long rightPartition, byte[] seed) implements GroupCommand {
      public Absorb {
        Objects.requireNonNull(seed, "seed");
      }
    }

    /** Record a node's placement state in the placement registry (partition 1). */
    record SetNodeState(long nodeId, String address, boolean decommissioning) implements GroupCommand {
      public SetNodeState {
        Objects.requireNonNull(address, "address");
      }
    }

    /** Split at {@code splitKey}; the new partition gets {@code newPartitionId}. */
    record Split(byte[] splitKey, long newPartitionId) implements GroupCommand {
      public Split {
        Objects.requireNonNull(splitKey, "splitKey");
      }
    }

    /** Propose a replica-hash check entry. */
    record CheckHash() implements GroupCommand {}

    /** A follower's replica hash at {@code index}, for the leader to compare with its own. */
    record ReportHash(long index, long hash, long fromNode) implements GroupCommand {}
  }
}
