package io.quorumkv.transport;

import io.quorumkv.raft.Message;
import java.util.Objects;

/**
 * A Raft message with the group it belongs to: the unit of {@link RaftTransport#send(long, java.util.List)}
 * and {@link MessageHandler#onMessages}, which carry many groups' messages between one pair of
 * nodes at once.
 *
 * @param groupId the Raft group
 * @param message the message
 */
public record Envelope(long groupId, Message message) {

  /** Checks the message is present. */
  public Envelope {
    Objects.requireNonNull(message, "message");
  }
}
