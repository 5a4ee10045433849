package io.quorumkv.transport;

import java.util.concurrent.atomic.LongAdder;

/** The live counters behind {@link TransportMetrics}. */
final class Counters {
  final LongAdder messagesSent = new LongAdder();
  final LongAdder messagesReceived = new LongAdder();
  final LongAdder droppedQueueFull = new LongAdder();
  final LongAdder droppedUnreachable = new LongAdder();
  final LongAdder droppedByFault = new LongAdder();
  final LongAdder droppedTooLarge = new LongAdder();
  final LongAdder framesRejected = new LongAdder();
  final LongAdder heartbeatFrames = new LongAdder();
  final LongAdder raftFrames = new LongAdder();
  final LongAdder snapshotChunksSent = new LongAdder();
  final LongAdder snapshotChunksReceived = new LongAdder();

  TransportMetrics snapshot() {
    return new TransportMetrics(
        messagesSent.sum(), messagesReceived.sum(), droppedQueueFull.sum(),
        droppedUnreachable.sum(), droppedByFault.sum(), droppedTooLarge.sum(),
        framesRejected.sum(), heartbeatFrames.sum(), raftFrames.sum(), snapshotChunksSent.sum(),
        snapshotChunksReceived.sum());
  }
}
