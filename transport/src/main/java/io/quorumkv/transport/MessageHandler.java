package io.quorumkv.transport;

import io.quorumkv.raft.Message;
import java.util.List;

/** Receives inbound Raft messages. */
@FunctionalInterface
public interface MessageHandler {

  /**
   * Called on a transport I/O thread for every inbound message: must not block (queue the
   * message to the Raft loop). An exception thrown here is logged and the message is lost, as if
   * the network had dropped it.
   *
   * @param fromNode the sending node, as authenticated by the connection handshake
   * @param groupId  the Raft group the message belongs to
   * @param m        the message
   */
  void onMessage(long fromNode, long groupId, Message m);

  /**
   * Called on a transport I/O thread with the messages of one inbound frame, in the order the peer
   * sent them; by default {@link #onMessage} for each. A handler that queues work for another
   * thread can queue the whole frame as one task. Same rules as {@link #onMessage}: must not block;
   * an exception loses the messages not yet handled, as a dropped frame would.
   *
   * @param fromNode the sending node, as authenticated by the connection handshake
   * @param messages the frame's messages, each with its group
   */
  default void onMessages(long fromNode, List<Envelope> messages) {
    for (Envelope e : messages) {
      onMessage(fromNode, e.groupId(), e.message());
    }
  }
}
