package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class NodeHttpServerTest {

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  private HttpResponse<String> send(int port, String method, String path) throws Exception {
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(5)).method(method, HttpRequest.BodyPublishers.noBody()).build();
    return http.send(req, HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void servesRoutesAndRefusesTheRest() throws Exception {
    AtomicBoolean up = new AtomicBoolean(true);
    Map<String, Supplier<NodeHttpServer.Response>> routes = new LinkedHashMap<>();
    routes.put("/metrics", () -> new NodeHttpServer.Response(200, "text/plain", "m 1\n"));
    routes.put("/health", () -> NodeHttpServer.Response.json(up.get(), new Json().put("status", up.get() ? "UP" : "DOWN")));
    routes.put("/boom", () -> {
      throw new IllegalStateException("broken");
    });
    try (NodeHttpServer server = NodeHttpServer.start(0, routes)) {
      int port = server.port();
      assertTrue(port > 0);
      HttpResponse<String> m = send(port, "GET", "/metrics");
      assertEquals(200, m.statusCode());
      assertEquals("m 1\n", m.body());
      assertEquals("{\"status\":\"UP\"}\n", send(port, "GET", "/health").body());
      assertEquals("application/json; charset=utf-8", send(port, "GET", "/health").headers().firstValue("Content-Type").orElseThrow());
      up.set(false);
      HttpResponse<String> down = send(port, "GET", "/health");
      assertEquals(503, down.statusCode());
      assertEquals("{\"status\":\"DOWN\"}\n", down.body());
      assertEquals(200, send(port, "HEAD", "/metrics").statusCode());
      assertEquals(405, send(port, "POST", "/metrics").statusCode());
      assertEquals(404, send(port, "GET", "/nothing").statusCode());
      assertEquals(404, send(port, "GET", "/metrics/more").statusCode());
      HttpResponse<String> boom = send(port, "GET", "/boom");
      assertEquals(500, boom.statusCode());
      assertTrue(boom.body().contains("broken"), boom.body());
    }
  }

  @Test
  void listensOnLoopbackOnly() {
    try (NodeHttpServer server = NodeHttpServer.start(0, Map.of())) {
      assertTrue(server.port() > 0);
    }
  }
}
