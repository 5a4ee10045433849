package io.quorumkv.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP forwarder that tests can break: {@link #cutAll()} drops every connection, and
 * {@link #corruptOnce(long)} flips one byte of the first client-to-server stream that is long
 * enough.
 */
final class TcpProxy implements AutoCloseable {
  private final ServerSocket server;
  private final InetSocketAddress target;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicBoolean corrupted = new AtomicBoolean(true);
  private final AtomicInteger connections = new AtomicInteger();
  private volatile long corruptAt = -1;

  TcpProxy(InetSocketAddress target) throws IOException {
    this.target = target;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "tcp-proxy");
    t.setDaemon(true);
    t.start();
  }

  InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", server.getLocalPort());
  }

  int connections() {
    return connections.get();
  }

  void corruptOnce(long streamOffset) {
    corruptAt = streamOffset;
    corrupted.set(false);
  }

  /** Closes every proxied connection (both sides see a reset). */
  void cutAll() {
    for (Socket s : sockets) {
      try {
        s.setSoLinger(true, 0);
        s.close();
      } catch (IOException e) {
        // already closed
      }
    }
    sockets.clear();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket in = server.accept();
        Socket out = new Socket(target.getAddress(), target.getPort());
        connections.incrementAndGet();
        sockets.add(in);
        sockets.add(out);
        pump(in, out, true);
        pump(out, in, false);
      } catch (IOException e) {
        // server closed, or the target is down: the client sees its connection fail
      }
    }
  }

  private void pump(Socket from, Socket to, boolean clientToServer) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[64 * 1024];
      long position = 0;
      try (InputStream i = from.getInputStream(); OutputStream o = to.getOutputStream()) {
        int n;
        while ((n = i.read(buf)) > 0) {
          long at = corruptAt - position;
          if (clientToServer && at >= 0 && at < n && corrupted.compareAndSet(false, true)) {
            buf[(int) at] ^= 0x5a;
          }
          position += n;
          o.write(buf, 0, n);
        }
      } catch (IOException e) {
        // cut
      } finally {
        try {
          from.close();
          to.close();
        } catch (IOException e) {
          // already closed
        }
      }
    }, "tcp-proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() throws IOException {
    server.close();
    cutAll();
  }
}
