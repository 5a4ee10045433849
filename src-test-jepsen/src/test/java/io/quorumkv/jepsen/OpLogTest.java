package io.quorumkv.jepsen;

import io.quorumkv.testkit.Json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OpLogTest {

  @Test
  void linesRoundTripThroughTheFileFormat(@TempDir Path dir) throws Exception {
    AtomicLong clock = new AtomicLong(100);
    OpLog log = new OpLog(clock::incrementAndGet);
    OpLog.Line t = log.invoke(3, "transfer", Map.of("from", "a", "to", "b \"quoted\"\n", "amount", 5L));
    log.nemesis("start-partition", "[[1],[2,3]]");
    log.complete(t, OpLog.Type.INFO, t.value());
    Path file = dir.resolve("bank-1.jsonl");
    log.write(file);

    List<String> text = Files.readAllLines(file);
    assertEquals("{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":\"[[1],[2,3]]\",\"time\":102}",
        text.get(1));
    assertEquals(log.lines(), OpLog.read(file));
  }

  @Test
  void pairsCompleteEachInvocationAndLeaveMissingCompletionsUnknown() {
    List<OpLog.Line> lines = new SyntheticHistory()
        .invoke(1, "add", "x").invoke(2, "add", "y").ok(2, "add", "y").lines();
    List<OpLog.Pair> pairs = OpLog.pairs(lines);
    assertEquals(OpLog.Type.INFO, pairs.get(0).outcome());
    assertNull(pairs.get(0).completion());
    assertEquals(Long.MAX_VALUE, pairs.get(0).end());
    assertEquals(OpLog.Type.OK, pairs.get(1).outcome());
    assertThrows(IllegalArgumentException.class,
        () -> OpLog.pairs(new SyntheticHistory().ok(1, "add", "x").lines()));
  }

  @Test
  void jsonParsesWhatItWritesAndNamesErrors() {
    Object v = Json.parse(Json.write(List.of(1L, "two\t\u0001", Map.of("k", List.of()), true)));
    assertEquals(List.of(1L, "two\t\u0001", Map.of("k", List.of()), true), v);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\":}"));
    assertEquals("unexpected character '}' at column 6", e.getMessage());
  }
}
