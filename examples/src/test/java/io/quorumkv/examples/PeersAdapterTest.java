package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * examples/bench/QuorumKvPeersClient.java is compiled by bench-all.sh, not by Maven; this test
 * compiles it against the peers driver's interface (as the harness documents it) so that a change
 * of QuorumKV's client API cannot silently break the benchmark.
 */
class PeersAdapterTest {

  /** peers.KvClient as in ../shared/peers/driver (its close() draws a lint warning there too: -try). */
  private static final String PEERS_INTERFACE = """
      package peers;
      import java.util.concurrent.CompletableFuture;
      public interface KvClient extends AutoCloseable {
        CompletableFuture<Void> put(byte[] key, byte[] value);
        CompletableFuture<Boolean> get(byte[] key);
        String describe();
        @Override void close() throws Exception;
      }
      """;

  @Test
  void adapterCompilesAndBuildsClients(@TempDir Path dir) throws Exception {
    Path adapter = Path.of(System.getProperty("user.dir"), "bench", "QuorumKvPeersClient.java");
    assertTrue(Files.exists(adapter), adapter + " missing");
    Path iface = Files.createDirectories(dir.resolve("src/peers")).resolve("KvClient.java");
    Files.writeString(iface, PEERS_INTERFACE);
    Path out = Files.createDirectories(dir.resolve("classes"));
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    StringWriter diagnostics = new StringWriter();
    boolean ok = javac.getTask(diagnostics, null, null,
        List.of("-Xlint:all,-try", "-Werror", "-d", out.toString(), "-cp",
            System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"))),
        null, javac.getStandardFileManager(null, null, null).getJavaFileObjects(iface.toFile(), adapter.toFile()))
        .call();
    assertTrue(ok, diagnostics.toString());

    try (URLClassLoader loader = new URLClassLoader(new URL[] {out.toUri().toURL()}, getClass().getClassLoader())) {
      Class<?> c = loader.loadClass("io.quorumkv.examples.bench.QuorumKvPeersClient");
      Object client = c.getConstructor(String.class, int.class).newInstance("127.0.0.1:1,127.0.0.1:2", 2);
      try {
        assertEquals("quorumkv KvClient x2, reads LINEARIZABLE, endpoints 127.0.0.1:1,127.0.0.1:2",
            c.getMethod("describe").invoke(client));
        Method get = c.getMethod("get", byte[].class);
        assertTrue(get.invoke(client, (Object) "k".getBytes()) instanceof CompletableFuture<?>);
      } finally {
        c.getMethod("close").invoke(client);
      }
    }
  }
}
