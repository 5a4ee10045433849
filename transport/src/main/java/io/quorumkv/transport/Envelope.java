package io.quorumkv.transport;

import io.quorumkv.raft.Message;
import java.util.Objects;

/**
 * A Raft message with the group it belongs to: what {@link RaftTransport#sendAll} takes and
 * {@link MessageHandler#onMessages} gets, several groups' messages for one node pair at a time.
 *
 * @param groupId the Raft group (it travels beside the message, never inside it)
 * @param message the message
 */
public record Envelope(long groupId, Message message) {

  /** Checks that {@code message} is present. */
  public Envelope {
    Objects.requireNonNull(message, "message");
  }
}
