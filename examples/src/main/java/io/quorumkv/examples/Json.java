package io.quorumkv.examples;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A one-line JSON object with fields in insertion order: what the benchmark prints per phase and
 * what the HTTP probes answer. Values are numbers, booleans, strings, collections or nested maps.
 */
final class Json {
  private final Map<String, Object> fields = new LinkedHashMap<>();

  /** Adds (or replaces) a field; returns this object for chaining. */
  Json put(String name, Object value) {
    fields.put(name, value);
    return this;
  }

  /** The field's value, or null. */
  Object get(String name) {
    return fields.get(name);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    writeValue(sb, fields);
    return sb.toString();
  }

  private static void writeValue(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof Json j) {
      writeValue(sb, j.fields);
    } else if (v instanceof Double d && (d.isNaN() || d.isInfinite())) {
      sb.append("null"); // JSON has no NaN; an absent measurement reads as null
    } else if (v instanceof Number || v instanceof Boolean) {
      sb.append(v);
    } else if (v instanceof Map<?, ?> m) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        writeString(sb, String.valueOf(e.getKey()));
        sb.append(':');
        writeValue(sb, e.getValue());
      }
      sb.append('}');
    } else if (v instanceof Collection<?> c) {
      sb.append('[');
      boolean first = true;
      for (Object o : c) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        writeValue(sb, o);
      }
      sb.append(']');
    } else {
      writeString(sb, v.toString());
    }
  }

  private static void writeString(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
