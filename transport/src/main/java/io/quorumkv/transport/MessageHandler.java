package io.quorumkv.transport;

import io.quorumkv.raft.Message;

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
}
