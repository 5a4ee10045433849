package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.ClusterStatus;
import io.quorumkv.HashPartitioner;
import io.quorumkv.PartitionStatus;
import io.quorumkv.RangePartitioner;
import io.quorumkv.StorageEngineType;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class ExampleNodeTest {

  private static ExampleNode parsed(String... args) {
    ExampleNode n = new ExampleNode();
    ExampleNode.commandLine(n).parseArgs(args);
    return n;
  }

  @Test
  void parsesTheFlags() {
    ExampleNode n = parsed("--id", "2", "--listen", "127.0.0.1:7002",
        "--peers", "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003", "--data-dir", "/tmp/d2",
        "--cluster-id", "c", "--partitions", "5", "--metrics-port", "9102", "--storage", "memory",
        "--preferred-leaders", "1,3");
    assertEquals(2, n.id);
    assertEquals(Map.of(1L, "127.0.0.1:7001", 3L, "127.0.0.1:7003"), n.otherPeers());
    assertEquals(Path.of("/tmp/d2"), n.dataDir);
    assertEquals("c", n.clusterId);
    assertEquals(HashPartitioner.of(5), n.partitioner());
    assertEquals(9102, n.metricsPort);
    assertEquals(StorageEngineType.MEMORY, n.storage);
    assertEquals(Set.of(1L, 3L), n.preferredLeaders);
  }

  @Test
  void defaults() {
    ExampleNode n = parsed("--id", "1", "--listen", "127.0.0.1:7001");
    assertEquals("quorumkv", n.clusterId);
    assertEquals(HashPartitioner.of(3), n.partitioner());
    assertEquals(StorageEngineType.ROCKSDB, n.storage);
    assertEquals(100, n.tickMs);
    assertEquals(10, n.electionTicks);
    assertEquals(0, n.metricsPort);
    assertEquals(Map.of(), n.otherPeers());
    assertEquals(Set.of(), n.preferredLeaders);
  }

  @Test
  void rangeSplitsMeanRangePartitioning() {
    ExampleNode n = parsed("--id", "1", "--listen", "127.0.0.1:7001", "--range-splits", "g,p");
    assertEquals(RangePartitioner.of("g", "p"), n.partitioner());
  }

  @Test
  void ownEntryMustMatchListen() {
    ExampleNode n = parsed("--id", "1", "--listen", "127.0.0.1:7001", "--peers", "1=127.0.0.1:7009");
    assertThrows(CommandLine.ParameterException.class, n::otherPeers);
  }

  @Test
  void peersListsAreChecked() {
    assertEquals(Map.of(), parsed("--id", "1", "--listen", "127.0.0.1:7001", "--peers", "").otherPeers());
    assertEquals(Map.of(2L, "127.0.0.1:7002"),
        parsed("--id", "1", "--listen", "127.0.0.1:7001", "--peers", "2=127.0.0.1:7002,").otherPeers());
    for (String bad : new String[] {"2:127.0.0.1:7002", "x=127.0.0.1:7002", "2=a:1,2=b:2"}) {
      ExampleNode n = parsed("--id", "1", "--listen", "127.0.0.1:7001", "--peers", bad);
      assertThrows(CommandLine.ParameterException.class, n::otherPeers, bad);
    }
  }

  @Test
  void badFlagsAreUsageErrors() {
    StringWriter err = new StringWriter();
    CommandLine cl = ExampleNode.commandLine(new ExampleNode());
    cl.setErr(new PrintWriter(err));
    assertEquals(2, cl.execute("--listen", "127.0.0.1:7001"));
    assertTrue(err.toString().contains("Missing required option: '--id"), err.toString());
    assertEquals(2, cl.execute("--id", "x", "--listen", "a:1"));
  }

  @Test
  void invalidConfigurationIsOneLine() {
    StringWriter err = new StringWriter();
    CommandLine cl = ExampleNode.commandLine(new ExampleNode());
    cl.setErr(new PrintWriter(err));
    assertEquals(1, cl.execute("--id", "1", "--listen", "nonsense", "--metrics-port", "-1"));
    assertEquals("error: invalid configuration: advertisedAddress: must be host:port, was 'nonsense'",
        err.toString().strip());
    err.getBuffer().setLength(0);
    // The bad compaction size, checked after the preferred leaders, keeps the node from starting
    // should the flag not reach the builder.
    assertEquals(1, cl.execute("--id", "1", "--listen", "127.0.0.1:7001", "--storage", "memory",
        "--metrics-port", "-1", "--log-compaction-mib", "0", "--preferred-leaders", "2,0"));
    assertEquals("error: invalid configuration: preferredLeaders: node ids must be positive, was 0 in [2, 0]",
        err.toString().strip());
  }

  @Test
  void readinessShowsThePreferredLeadersAndThePeersGivenOtherOnes() {
    List<PartitionStatus> parts = List.of(new PartitionStatus(1, "hash 1/1", 2, 3, 10, 10, Set.of(1L, 2L, 3L), Set.of()));
    NodeHttpServer.Response agreed = ExampleNode.readiness(
        new ClusterStatus(1, Map.of(), parts, Set.of(3L, 2L), Map.of()));
    assertEquals(200, agreed.status());
    assertEquals("{\"node\":1,\"status\":\"READY\",\"leaders\":{\"1\":2},\"without_leader\":[],"
        + "\"preferred_leaders\":[2,3],\"preferred_leaders_mismatch\":{}}\n", agreed.body());
    // A mismatch is reported, and the node stays ready: it serves, balancing over every voter.
    NodeHttpServer.Response differ = ExampleNode.readiness(
        new ClusterStatus(1, Map.of(), parts, Set.of(2L), Map.of(3L, Set.of(1L, 3L), 2L, Set.of())));
    assertEquals(200, differ.status());
    assertTrue(differ.body().endsWith("\"preferred_leaders\":[2],\"preferred_leaders_mismatch\":{\"2\":[],\"3\":[1,3]}}\n"),
        differ.body());
  }
}
