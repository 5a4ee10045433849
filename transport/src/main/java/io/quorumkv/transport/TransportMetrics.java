package io.quorumkv.transport;

/**
 * A point-in-time copy of a transport's counters (all since start). Core publishes them to its
 * metrics registry.
 *
 * @param messagesSent          Raft messages written to a connection (or handed over, in memory)
 * @param messagesReceived      Raft messages delivered to the {@link MessageHandler}
 * @param droppedQueueFull      messages dropped because the peer's outbound queue was full
 * @param droppedUnreachable    messages dropped because the peer was unknown or not connected
 * @param droppedByFault        messages dropped by the {@link FaultInjector}
 * @param droppedTooLarge       messages dropped because they did not fit in a frame
 * @param framesRejected        inbound connections closed for malformed or unexpected input
 * @param heartbeatFrames       frames written that carried at least one heartbeat (coalesced:
 *                              one per peer per flush whatever the number of groups)
 * @param raftFrames            frames of Raft messages written (messagesSent / raftFrames is how
 *                              many messages, of all groups, share a frame)
 * @param snapshotChunksSent    snapshot chunks written (resent chunks counted again)
 * @param snapshotChunksReceived snapshot chunks verified and written to a sink
 */
public record TransportMetrics(
    long messagesSent,
    long messagesReceived,
    long droppedQueueFull,
    long droppedUnreachable,
    long droppedByFault,
    long droppedTooLarge,
    long framesRejected,
    long heartbeatFrames,
    long raftFrames,
    long snapshotChunksSent,
    long snapshotChunksReceived) {

  /** All messages dropped, for whatever reason. */
  public long dropped() {
    return droppedQueueFull + droppedUnreachable + droppedByFault + droppedTooLarge;
  }
}
