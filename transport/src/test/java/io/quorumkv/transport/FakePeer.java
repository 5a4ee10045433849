package io.quorumkv.transport;

import io.quorumkv.transport.proto.Frame;
import io.quorumkv.transport.proto.Hello;
import io.quorumkv.transport.proto.HelloAck;
import io.quorumkv.transport.proto.Lane;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * A peer made of plain sockets, for tests that need one that misbehaves: {@link #silent} accepts
 * the handshake and then never reads; {@link #dial} speaks raw bytes to a node.
 */
final class FakePeer implements AutoCloseable {
  private final ServerSocket server;
  private final Thread acceptor;
  private volatile Socket accepted;

  private FakePeer(ServerSocket server, Thread acceptor) {
    this.server = server;
    this.acceptor = acceptor;
  }

  /** A node {@code nodeId} that completes the handshake, then never reads another byte. */
  static FakePeer silent(long clusterId, long nodeId) throws IOException {
    ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    FakePeer[] self = new FakePeer[1];
    Thread t = new Thread(() -> {
      try {
        Socket s = server.accept();
        self[0].accepted = s;
        s.setReceiveBufferSize(4096);
        readFrame(new DataInputStream(s.getInputStream()));
        writeFrame(new DataOutputStream(s.getOutputStream()), Frame.newBuilder().setHelloAck(
            HelloAck.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
                .setClusterId(clusterId).setNodeId(nodeId)).build().toByteArray());
      } catch (IOException e) {
        // closed by the test
      }
    }, "fake-peer");
    self[0] = new FakePeer(server, t);
    t.setDaemon(true);
    t.start();
    return self[0];
  }

  InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", server.getLocalPort());
  }

  static byte[] readFrame(DataInputStream in) throws IOException {
    int len = in.readInt();
    if (len < 0 || len > 1 << 20) {
      throw new IOException("bad frame length " + len);
    }
    byte[] b = new byte[len];
    in.readFully(b);
    return b;
  }

  static void writeFrame(DataOutputStream out, byte[] payload) throws IOException {
    out.writeInt(payload.length);
    out.write(payload);
    out.flush();
  }

  /** The frame a client sends first. */
  static byte[] clientHello(long clusterId) {
    return Frame.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
        .setClusterId(clusterId).setLane(Lane.LANE_CLIENT)).build().toByteArray();
  }

  @Override
  public void close() throws IOException {
    server.close();
    Socket s = accepted;
    if (s != null) {
      s.close();
    }
    try {
      acceptor.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
