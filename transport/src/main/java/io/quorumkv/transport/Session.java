package io.quorumkv.transport;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.quorumkv.transport.proto.Frame;

/** What a connection does once its handshake is done; one implementation per lane and side. */
interface Session {

  /**
   * Handles one frame, on the channel's event loop. Returns true if it kept {@code raw} (and
   * will release it), false if the caller releases it on return.
   *
   * @throws ProtocolViolation to close the connection, with the reason logged
   */
  boolean onFrame(Channel ch, Frame f, ByteBuf raw) throws ProtocolViolation;

  /** The connection is gone. */
  void onClose(Channel ch);

  /** The connection can take more writes again after having been unwritable. */
  default void onWritable(Channel ch) {}
}
