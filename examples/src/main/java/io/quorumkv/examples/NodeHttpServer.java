package io.quorumkv.examples;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * A node's operational HTTP endpoints on 127.0.0.1, served by the JDK's built-in HTTP server: each
 * path maps to a supplier of a {@link Response}. Only GET and HEAD are answered.
 */
final class NodeHttpServer implements AutoCloseable {

  /** One answer: HTTP status, content type and body. */
  record Response(int status, String contentType, String body) {
    static final String JSON = "application/json; charset=utf-8";

    static Response json(boolean ok, Json body) {
      return new Response(ok ? 200 : 503, JSON, body + "\n");
    }
  }

  private final HttpServer server;
  private final ExecutorService executor;

  private NodeHttpServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Starts serving {@code routes} (path to answer) on 127.0.0.1.
   *
   * @param port the port, or 0 for any free one ({@link #port()} tells which)
   */
  static NodeHttpServer start(int port, Map<String, Supplier<Response>> routes) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot listen for HTTP on 127.0.0.1:" + port + ": " + e.getMessage(), e);
    }
    for (Map.Entry<String, Supplier<Response>> route : routes.entrySet()) {
      server.createContext(route.getKey(), exchange -> answer(exchange, route.getKey(), route.getValue()));
    }
    // Two threads: a slow /ready (it asks the node) must not block a /metrics scrape.
    ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "quorumkv-http");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.start();
    return new NodeHttpServer(server, executor);
  }

  private static void answer(HttpExchange exchange, String path, Supplier<Response> route) throws IOException {
    try (exchange) {
      String method = exchange.getRequestMethod();
      Response r;
      if (!exchange.getRequestURI().getPath().equals(path)) {
        r = new Response(404, "text/plain; charset=utf-8", "not found\n");
      } else if (!method.equals("GET") && !method.equals("HEAD")) {
        r = new Response(405, "text/plain; charset=utf-8", "only GET and HEAD\n");
      } else {
        try {
          r = route.get();
        } catch (RuntimeException e) {
          r = new Response(500, "text/plain; charset=utf-8", "error: " + e + "\n");
        }
      }
      byte[] body = r.body().getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("Content-Type", r.contentType());
      if (method.equals("HEAD")) {
        exchange.sendResponseHeaders(r.status(), -1);
        return;
      }
      exchange.sendResponseHeaders(r.status(), body.length == 0 ? -1 : body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  /** The port the server listens on. */
  int port() {
    return server.getAddress().getPort();
  }

  /** Stops listening at once and ends the server's threads. */
  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
