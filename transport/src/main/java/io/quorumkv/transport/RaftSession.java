package io.quorumkv.transport;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.quorumkv.transport.proto.Frame;

/** The Raft lane between two members: message batches and peer requests both ways. */
final class RaftSession implements Session {

  private final NettyTransport transport;
  private final Peer peer;

  /** Starts the Raft lane on {@code ch}, which from now on must never fall silent. */
  RaftSession(NettyTransport transport, Peer peer, Channel ch) {
    this.transport = transport;
    this.peer = peer;
    ConnectionHandler.watchForSilence(ch, transport.config().peerTimeout());
  }

  @Override
  public boolean onFrame(Channel ch, Frame f, ByteBuf raw) throws ProtocolViolation {
    switch (f.getBodyCase()) {
      case RAFT_BATCH -> transport.deliver(peer.id, f.getRaftBatch());
      case REQUEST -> transport.serve(ch, peer.id, f.getRequest());
      case RESPONSE -> peer.onResponse(f.getResponse());
      default -> throw new ProtocolViolation("unexpected " + f.getBodyCase() + " on a Raft lane");
    }
    return false;
  }

  @Override
  public void onClose(Channel ch) {
    peer.detach(ch);
  }

  @Override
  public void onWritable(Channel ch) {
    peer.scheduleDrain(ch);
  }
}
