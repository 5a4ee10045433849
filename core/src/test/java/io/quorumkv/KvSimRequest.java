package io.quorumkv;

/**
 * One attempt of a client operation, sent to one node of the simulation. Every attempt of one
 * operation carries the same {@code opId} (and, for a write, the same session sequence number), so
 * an answer to an earlier attempt still completes the operation.
 *
 * @param opId      the operation
 * @param attemptId this attempt; a rejection only counts for the attempt it answers
 * @param client    who waits for the answer (a {@link KvSimClient}, or the end-of-run canary read)
 * @param key       the key the node routes by
 * @param body      what to do
 */
record KvSimRequest(long opId, long attemptId, Caller client, byte[] key, Body body) {

  /** Who sent a request and takes its answer. */
  interface Caller {
    void onReply(Reply reply);
  }

  /** What the client asks. */
  sealed interface Body {
    /** Read {@code key} at {@code level} (LINEARIZABLE: ReadIndex; LEASE: the leader's lease). */
    record Read(ReadConsistency level) implements Body {}

    /** A write, deduplicated by its session (client id, sequence number). */
    record Write(Command.Write write) implements Body {}
  }

  /** A node's answer to a {@link KvSimRequest}. */
  sealed interface Reply {
    long opId();

    long attemptId();

    /** The value read; null = absent. */
    record Read(long opId, long attemptId, byte[] value) implements Reply {}

    /** The write applied (once), with its result: false for a cas or batch whose condition failed. */
    record Written(long opId, long attemptId, boolean result) implements Reply {}

    /**
     * This attempt certainly did not take effect (node down, not the leader, key not in the
     * partition, proposal dropped or its entry replaced by another leader's).
     *
     * @param group      the partition the node routed the key to, 0 if none
     * @param leaderHint the leader of that partition as far as the node knows, 0 if none
     * @param why        for people reading a trace
     */
    record Rejected(long opId, long attemptId, long group, long leaderHint, String why) implements Reply {}

    /**
     * The write applied, but its outcome is unknown to the node that answers (a fenced leader's
     * {@link KvResponse.Code#TIMEOUT}, see {@code Replica.Proposal#answer}): the client retries
     * it with the same session sequence number, as after a timeout.
     */
    record Unknown(long opId, long attemptId, String why) implements Reply {}
  }
}
