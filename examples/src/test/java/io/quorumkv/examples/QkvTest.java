package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.ClusterStatus;
import io.quorumkv.PartitionStatus;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class QkvTest {

  record Run(int code, String out, String err) {}

  private static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Qkv.commandLine();
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void everyCommandHasHelp() {
    for (String cmd : List.of("put", "get", "delete", "cas", "scan", "status", "add-node", "remove-node",
        "transfer-leader", "split")) {
      Run r = run(cmd, "--help");
      assertEquals(0, r.code(), cmd);
      assertTrue(r.out().startsWith("Usage: qkv " + cmd), r.out());
    }
    assertEquals(0, run("--help").code());
  }

  @Test
  void usageErrorsExitTwo() {
    Run r = run("get");
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("Missing required parameter: 'KEY'"), r.err());
    assertEquals(2, run("frobnicate").code());
    assertEquals(2, run().code());
    assertEquals(2, run("get", "k", "--consistency", "SOMETIMES").code());
  }

  @Test
  void unreachableClusterIsOneLineAndExitOne() {
    int port = LocalCluster.freePorts(1)[0];
    for (String[] args : List.of(new String[] {"get", "k"}, new String[] {"put", "k", "v"})) {
      Run r = run(concat(new String[] {"-a", "127.0.0.1:" + port, "--timeout-ms", "300"}, args));
      assertEquals(1, r.code(), r.err());
      assertTrue(r.err().startsWith("error: "), r.err());
      assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
      // a read has no effect, so only a write's error says its outcome is unknown
      assertEquals(args[0].equals("put"), r.err().contains("may or may not have been applied"), r.err());
      assertFalse(args[0].equals("get") && r.err().contains("outcome unknown"), r.err());
    }
  }

  @Test
  void casArgumentsAreChecked() {
    int port = LocalCluster.freePorts(1)[0];
    assertEquals(2, run("-a", "127.0.0.1:" + port, "cas", "k", "only-one").code());
    assertEquals(2, run("-a", "127.0.0.1:" + port, "cas", "--absent", "k", "a", "b").code());
  }

  @Test
  void statusTableShowsLeadersAndLag() {
    Map<Long, String> members = new TreeMap<>(Map.of(1L, "h:1", 2L, "h:2", 3L, "h:3"));
    Map<String, Object> views = new LinkedHashMap<>();
    views.put("h:1", new ClusterStatus(1, members, List.of(p(1, 1, 100, 100), p(2, 2, 50, 48))));
    views.put("h:2", new ClusterStatus(2, members, List.of(p(1, 1, 100, 90), p(2, 2, 60, 60))));
    views.put("h:3", "connection refused");
    views.put("h:4", new ClusterStatus(4, members, List.of()));
    String table = Qkv.Status.render(views, members);
    assertTrue(table.startsWith("members: 1=h:1 2=h:2 3=h:3\nunreachable: h:3 (connection refused)\n"
        + "node 4 answers but hosts no partition yet\npreferred leaders: none\n"), table);
    List<String> lines = table.lines().skip(1).toList();
    assertEquals("PARTITION  KEYS      LEADER  VOTERS  LEARNERS  NODE  TERM  COMMIT  APPLIED  LAG", lines.get(3));
    assertEquals("1          hash 1/2  1       1,2,3   -         1*    7     100     100      0", lines.get(4));
    assertEquals(" ".repeat(47) + "2     7     100     90       10", lines.get(5));
    assertEquals("2          hash 2/2  2       1,2,3   -         1     7     50      48       12", lines.get(6));
    assertEquals(" ".repeat(47) + "2*    7     60      60       0", lines.get(7));
  }

  @Test
  void statusShowsThePreferredLeadersAndTheNodesGivenOtherOnes() {
    Map<Long, String> members = new TreeMap<>(Map.of(1L, "h:1", 2L, "h:2", 3L, "h:3"));
    Map<String, Object> agreed = new LinkedHashMap<>();
    for (long id = 1; id <= 3; id++) {
      agreed.put("h:" + id, new ClusterStatus(id, members, List.of(p(1, 1, 100, 100)), Set.of(3L, 1L), Map.of()));
    }
    String table = Qkv.Status.render(agreed, members);
    assertTrue(table.startsWith("members: 1=h:1 2=h:2 3=h:3\npreferred leaders: 1,3\nPARTITION"), table);
    // Node 1 was given {2}, nodes 2 and 3 {1}: each side names the other.
    Map<String, Object> differ = new LinkedHashMap<>();
    differ.put("h:1", new ClusterStatus(1, members, List.of(), Set.of(2L), Map.of(2L, Set.of(1L), 3L, Set.of(1L))));
    differ.put("h:2", new ClusterStatus(2, members, List.of(), Set.of(1L), Map.of(1L, Set.of(2L))));
    differ.put("h:3", new ClusterStatus(3, members, List.of(), Set.of(1L), Map.of(1L, Set.of(2L))));
    List<String> lines = Qkv.Status.render(differ, members).lines().toList();
    assertEquals("preferred leaders: node 1: 2, node 2: 1, node 3: 1 (they differ)", lines.get(4));
    assertEquals("MISMATCH: node 1 ignores its preferred leaders (2): node 2 has 1, node 3 has 1", lines.get(5));
    assertEquals("MISMATCH: node 2 ignores its preferred leaders (1): node 1 has 2", lines.get(6));
    assertEquals("MISMATCH: node 3 ignores its preferred leaders (1): node 1 has 2", lines.get(7));
  }

  private static PartitionStatus p(long id, long leader, long commit, long applied) {
    return new PartitionStatus(id, "hash " + id + "/2", leader, 7, commit, applied, Set.of(1L, 2L, 3L), Set.of());
  }

  private static String[] concat(String[] a, String[] b) {
    String[] r = new String[a.length + b.length];
    System.arraycopy(a, 0, r, 0, a.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }
}
