package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Runs what the README's first command runs ({@code examples/run-demo.sh} = {@link Demo}): three
 * node JVMs, a leader killed with SIGKILL, a restart, a graceful stop. The README cannot rot
 * without this test failing.
 */
class DemoTest {

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void theDemoPassesEveryCheck() {
    Demo demo = new Demo();
    ExampleNode.commandLine(demo).parseArgs("--keys", "150", "--classpath",
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    long t0 = System.nanoTime();
    Demo.Outcome outcome = demo.run(out);
    String story = bytes.toString(StandardCharsets.UTF_8);
    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);

    assertTrue(outcome.passed(), "demo failed after " + seconds + " s:\n" + story);
    List<String> names = outcome.checks().stream().map(Demo.Check::name).toList();
    for (String expected : List.of("3 nodes start and answer /health", "a leader is elected for every partition",
        "every node reports /ready", "every put is acknowledged", "LINEARIZABLE reads return every acknowledged value",
        "LEASE reads return every acknowledged value", "FOLLOWER reads return every acknowledged value",
        "STALE reads return every acknowledged value", "writes continue after the failover",
        "no acknowledged write is lost", "every node stops cleanly on SIGTERM")) {
      assertTrue(names.contains(expected), "missing check '" + expected + "' in " + names);
    }
    assertTrue(names.stream().anyMatch(n -> n.startsWith("a surviving node takes over")), names.toString());
    assertTrue(names.stream().anyMatch(n -> n.endsWith("catches up with the leaders' commit index")), names.toString());
    assertTrue(names.stream().anyMatch(n -> n.endsWith("serves /metrics with its replication counters")), names.toString());
    assertTrue(story.contains("kill -9 "), story);
    assertTrue(story.contains("demo PASSED"), story);

    // Cleanup: the temp dir is gone and no node process survived.
    Matcher dir = Pattern.compile("data and logs in (\\S+)").matcher(story);
    assertTrue(dir.find(), story);
    assertFalse(Files.exists(Path.of(dir.group(1))), "temp dir left behind: " + dir.group(1));
    assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(), "child JVMs left running");
  }

  @Test
  void readsPrometheusSamples() {
    String scrape = "# HELP quorumkv_commits_total committed entries applied\n"
        + "quorumkv_commits_total_extra{node=\"1\"} 5.0\n"
        + "quorumkv_commits_total{cluster=\"demo\",node=\"1\"} 29.0\n"
        + "quorumkv_fsync_latency_seconds{node=\"1\",quantile=\"0.5\"} 0.008\n"
        + "quorumkv_fsync_latency_seconds{node=\"1\",quantile=\"0.99\"} 0.015\n"
        + "up 1\n";
    assertEquals(29.0, Demo.metric(scrape, "quorumkv_commits_total", "").orElseThrow());
    assertEquals(0.015, Demo.metric(scrape, "quorumkv_fsync_latency_seconds", "quantile=\"0.99\"").orElseThrow());
    assertEquals(1.0, Demo.metric(scrape, "up", "").orElseThrow());
    assertTrue(Demo.metric(scrape, "quorumkv_missing", "").isEmpty());
  }
}
