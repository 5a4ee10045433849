package io.quorumkv.testing.example;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** docs/testing.md shows the example's sources exactly as they are compiled and run here. */
class TestingDocTest {

  @Test
  void theDocQuotesTheCompiledExample() throws Exception {
    String doc = Files.readString(Path.of("..", "docs", "testing.md"));
    Path sources = Path.of("src", "test", "java", "io", "quorumkv", "testing", "example");
    for (String file : List.of("CounterStore.java", "Counter.java", "CounterProperties.java", "StaleReadCounter.java")) {
      String source = Files.readString(sources.resolve(file)).stripTrailing();
      assertTrue(doc.contains("```java\n" + source + "\n```"), file + " differs from its copy in docs/testing.md");
    }
  }
}
