package io.quorumkv.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HistoryTest {

  @Test
  void writesTheDocumentedFormat() {
    long[] clock = {123456789L, 123999999L, 124000000L};
    int[] tick = {0};
    HistoryRecorder r = new HistoryRecorder(() -> clock[tick[0]++]);
    r.ok(r.invoke(Op.put(3, "k1", "v7", 0)));
    r.nemesis("partition", "[[1,2],[3]]");
    assertEquals("""
        {"process":3,"type":"invoke","f":"put","key":"k1","value":"v7","time":123456789}
        {"process":3,"type":"ok","f":"put","key":"k1","value":"v7","time":123999999}
        {"process":"nemesis","type":"info","f":"partition","value":"[[1,2],[3]]","time":124000000}
        """, r.history().toJsonLines());
  }

  @Test
  void casValueIsThePairExpectedNew() {
    Op cas = Op.cas(1, "k", null, "b", 7);
    assertEquals("{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":[null,\"b\"],\"time\":7}",
        cas.toJson());
  }

  @Test
  void roundTripsEveryKindOfLineIncludingEscapes() {
    long[] clock = {0};
    HistoryRecorder r = new HistoryRecorder(() -> ++clock[0]);
    r.ok(r.invoke(Op.put(1, "k\"1", "line\nbreak\\ \u0001 é", 0)));
    r.read(r.invoke(Op.get(2, "k\"1", 0)), null);
    r.fail(r.invoke(Op.cas(2, "k2", "a", "b", 0)));
    r.ok(r.invoke(Op.cas(2, "k2", null, "b", 0)));
    r.info(r.invoke(Op.delete(4, "k3", 0)));
    r.nemesis("heal", null);
    History h = r.history();
    assertEquals(h, History.parse(h.toJsonLines()));
    assertEquals(h.toJsonLines(), History.parse(h.toJsonLines()).toJsonLines());
  }

  @Test
  void writesAndReadsFiles(@TempDir Path dir) throws Exception {
    HistoryRecorder r = new HistoryRecorder(System::nanoTime);
    r.ok(r.invoke(Op.put(1, "k", "v", 0)));
    Path file = dir.resolve("sub/register-42.jsonl");
    r.write(file);
    assertEquals(r.history(), History.read(file));
    assertTrue(Files.readString(file).endsWith("}\n"));
  }

  @Test
  void readsLinesWrittenByOtherToolsWithExtraFieldsAndSpacing() {
    History h = History.parse("""

        { "time": 10, "f": "get", "type": "invoke", "key": "k", "process": 0, "value": null, "index": 4 }
        {"process":0,"type":"ok","f":"get","key":"k","value":"x","time":1.5e1}
        {"process":"nemesis","type":"info","f":"partition","value":[[1,2],[3]],"time":20}
        """.replace("1.5e1", "15"));
    assertEquals(List.of(
        new Op(0, Op.Type.INVOKE, Op.F.GET, "k", null, null, 10),
        new Op(0, Op.Type.OK, Op.F.GET, "k", "x", null, 15),
        new Event("partition", "[[1,2],[3]]", 20)), h.lines());
  }

  @Test
  void parseErrorsNameTheLine() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> History.parse("""
        {"process":1,"type":"invoke","f":"put","key":"k","value":"a","time":1}
        {"process":1,"type":"invoke","f":"transfer","key":"k","value":"a","time":1}
        """));
    assertTrue(e.getMessage().startsWith("<string>:2: bad \"f\": transfer"), e::getMessage);
    e = assertThrows(IllegalArgumentException.class, () -> History.parse("{\"process\":1,"));
    assertTrue(e.getMessage().startsWith("<string>:1: "), e::getMessage);
    e = assertThrows(IllegalArgumentException.class, () -> History.parse(
        "{\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k\",\"value\":\"a\",\"time\":1} x"));
    assertTrue(e.getMessage().contains("trailing"), e::getMessage);
  }

  @Test
  void opValidatesItsFields() {
    assertThrows(IllegalArgumentException.class, () -> new Op(1, Op.Type.OK, Op.F.PUT, "k", "v", "x", 0));
    assertThrows(IllegalArgumentException.class, () -> Op.put(1, "k", "v", 0).complete(Op.Type.INVOKE, 1));
    assertThrows(IllegalArgumentException.class, () -> Op.put(1, "k", "v", 0).read("v", 1));
  }
}
