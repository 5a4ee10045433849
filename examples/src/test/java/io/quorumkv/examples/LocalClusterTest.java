package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class LocalClusterTest {

  @Test
  void freePortsAreDistinct() {
    int[] ports = LocalCluster.freePorts(6);
    assertEquals(6, Arrays.stream(ports).distinct().count());
    assertTrue(Arrays.stream(ports).allMatch(p -> p > 0 && p < 65536));
  }

  @Test
  void commandRunsAnExampleNodeWithEveryFlag() {
    LocalCluster c = LocalCluster.create(new LocalCluster.Spec(3, 2, "t", "/cp", List.of("-Xmx64m"), false));
    try {
      LocalCluster.Node n2 = c.node(2);
      List<String> cmd = c.command(n2);
      assertTrue(cmd.get(0).endsWith("/bin/java"), cmd.get(0));
      assertEquals("-Xmx64m", cmd.get(1));
      String joined = String.join(" ", cmd);
      assertTrue(joined.contains("-cp /cp io.quorumkv.examples.ExampleNode --id 2 --listen " + n2.address), joined);
      assertTrue(joined.contains("--peers " + c.peersFlag()), joined);
      assertTrue(joined.contains("--partitions 2 --metrics-port " + n2.metricsPort), joined);
      assertTrue(joined.contains("--parent-pid " + ProcessHandle.current().pid()), joined);
      assertEquals(3, c.addresses().size());
      assertEquals(3, c.peersFlag().split(",").length);
      // every node parses its own command line
      ExampleNode parsed = new ExampleNode();
      ExampleNode.commandLine(parsed).parseArgs(cmd.subList(cmd.indexOf(ExampleNode.class.getName()) + 1, cmd.size())
          .toArray(String[]::new));
      assertEquals(2, parsed.otherPeers().size());
    } finally {
      c.close();
    }
    assertFalse(Files.exists(c.dir()));
  }

  @Test
  void closeRemovesTheDirUnlessKept() throws Exception {
    LocalCluster c = LocalCluster.create(new LocalCluster.Spec(1, 1, "t", "/cp", List.of(), false));
    Files.createDirectories(c.node(1).dataDir.resolve("x"));
    Files.writeString(c.node(1).logFile, "a\nb\nc\n");
    assertEquals(List.of("b", "c"), LocalCluster.tail(c.node(1).logFile, 2));
    c.close();
    c.close(); // idempotent
    assertFalse(Files.exists(c.dir()));

    LocalCluster kept = LocalCluster.create(new LocalCluster.Spec(1, 1, "t", "/cp", List.of(), true));
    kept.close();
    assertTrue(Files.exists(kept.dir()));
    LocalCluster.deleteRecursively(kept.dir());
  }

  @Test
  void tailOfMissingFileIsEmpty() {
    assertEquals(List.of(), LocalCluster.tail(Path.of("/nonexistent/quorumkv.log"), 3));
  }
}
