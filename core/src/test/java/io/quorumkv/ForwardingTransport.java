package io.quorumkv;

import io.quorumkv.raft.Message;
import io.quorumkv.transport.FaultInjector;
import io.quorumkv.transport.MessageHandler;
import io.quorumkv.transport.RaftTransport;
import io.quorumkv.transport.RequestHandler;
import io.quorumkv.transport.SnapshotChunkSource;
import io.quorumkv.transport.SnapshotReceiver;
import io.quorumkv.transport.TransportMetrics;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * A transport that hands every call to another one: tests override the calls they watch or
 * change (what a node sends, what it receives), installed through {@code Overrides.transport}.
 */
class ForwardingTransport implements RaftTransport {

  final RaftTransport inner;

  ForwardingTransport(RaftTransport inner) {
    this.inner = inner;
  }

  @Override
  public void start() {
    inner.start();
  }

  @Override
  public long nodeId() {
    return inner.nodeId();
  }

  @Override
  public void send(long toNode, long groupId, Message m) {
    inner.send(toNode, groupId, m);
  }

  @Override
  public void setMessageHandler(MessageHandler handler) {
    inner.setMessageHandler(handler);
  }

  @Override
  public CompletableFuture<byte[]> request(long toNode, byte[] payload, Duration deadline) {
    return inner.request(toNode, payload, deadline);
  }

  @Override
  public void setRequestHandler(RequestHandler handler) {
    inner.setRequestHandler(handler);
  }

  @Override
  public CompletableFuture<Void> sendSnapshot(long toNode, long groupId, Message.InstallSnapshot message,
      SnapshotChunkSource source) {
    return inner.sendSnapshot(toNode, groupId, message, source);
  }

  @Override
  public void setSnapshotReceiver(SnapshotReceiver receiver) {
    inner.setSnapshotReceiver(receiver);
  }

  @Override
  public FaultInjector faults() {
    return inner.faults();
  }

  @Override
  public TransportMetrics metrics() {
    return inner.metrics();
  }

  @Override
  public void close() {
    inner.close();
  }
}
