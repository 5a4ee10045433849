package io.quorumkv.transport;

import io.quorumkv.raft.Message;
import java.io.IOException;

/** Accepts inbound snapshot transfers. */
@FunctionalInterface
public interface SnapshotReceiver {

  /**
   * Opens a sink for a snapshot offered by {@code fromNode}. Called off the I/O threads, once per
   * transfer (not again when a transfer resumes). Throwing refuses the snapshot; the sender's
   * future then fails.
   *
   * @param message the message that will be delivered to the {@link MessageHandler} once the
   *                sink has completed
   */
  SnapshotChunkSink open(long fromNode, long groupId, Message.InstallSnapshot message)
      throws IOException;
}
