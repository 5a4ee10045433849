package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {

  @Test
  void fieldsKeepTheirOrderAndTypes() {
    Json j = new Json().put("op", "put").put("clients", 16).put("ops_per_s", 12.5).put("ok", true)
        .put("list", List.of(1, 2)).put("map", Map.of("a", 1)).put("none", null);
    assertEquals("{\"op\":\"put\",\"clients\":16,\"ops_per_s\":12.5,\"ok\":true,\"list\":[1,2],\"map\":{\"a\":1},\"none\":null}",
        j.toString());
  }

  @Test
  void stringsAreEscaped() {
    assertEquals("{\"e\":\"a\\\"b\\\\c\\nd\\u0001\"}", new Json().put("e", "a\"b\\c\nd\u0001").toString());
  }

  @Test
  void nanIsNull() {
    assertEquals("{\"x\":null}", new Json().put("x", Double.NaN).toString());
  }

  @Test
  void nestedJson() {
    assertEquals("{\"outer\":{\"inner\":1}}", new Json().put("outer", new Json().put("inner", 1)).toString());
  }
}
