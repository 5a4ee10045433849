package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The fault-injection suite against real node processes, one dynamic test per run of the
 * profile chosen with {@code -Djepsen.profile} (see {@link Profile} and docs/jepsen.md). A run
 * fails when any of its checks is not valid; the failure message lists every anomaly and the
 * results folder with the histories, node logs and HTML report.
 */
class JepsenTest {

  private static final Path RESULTS = Path.of(System.getProperty("jepsen.results", "target/jepsen-results")).toAbsolutePath();

  @TestFactory
  Stream<DynamicTest> runs() {
    Profile profile = Profile.fromSystemProperties();
    return profile.runs().stream().map(spec -> DynamicTest.dynamicTest(spec.name(), () -> {
      Assumptions.assumeTrue(nodeMainPresent(), "the node main " + Cluster.NODE_MAIN + " is not on the test classpath");
      JepsenRun.Result result = JepsenRun.run(spec, RESULTS);
      String text = result.describe();
      System.out.print(text);
      appendSummary(text);
      assertTrue(result.passed(), text);
    }));
  }

  private static boolean nodeMainPresent() {
    try {
      Class.forName(Cluster.NODE_MAIN, false, JepsenTest.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }

  private static void appendSummary(String text) throws IOException {
    Files.createDirectories(RESULTS);
    Files.writeString(RESULTS.resolve("summary.txt"), text, StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

}
