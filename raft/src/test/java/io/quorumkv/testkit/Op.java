package io.quorumkv.testkit;

import java.util.Locale;
import java.util.Objects;

/**
 * One client event on a key-value register: the invocation of an operation or its completion.
 *
 * <p>In JSON the value of a {@code cas} is the pair {@code [expected, new]}; here it is split
 * into {@link #expected()} and {@link #value()} so that no caller has to pick a list apart.
 *
 * @param process  the client process; a process has at most one operation outstanding
 * @param type     invocation or one of the three completions
 * @param f        the operation
 * @param key      the register's key
 * @param value    {@code put}: the value written; {@code cas}: the new value; {@code get}: null
 *                 on invoke, the value read on {@code ok} (null = absent); {@code delete}: null
 * @param expected {@code cas} only: the value the register must hold (null = absent); else null
 * @param time     monotonic nanoseconds
 */
public record Op(long process, Type type, F f, String key, String value, String expected, long time)
    implements HistoryLine {

  /** Whether this line starts an operation or says how it ended. */
  public enum Type {
    /** The client sent the operation. */
    INVOKE,
    /** It took effect (for {@code cas}: it took effect and the comparison matched). */
    OK,
    /** It certainly did not take effect (for {@code cas}: also a comparison mismatch). */
    FAIL,
    /** Unknown: timeout or crash; it may have taken effect at any time after the invoke, or never. */
    INFO;

    String json() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The register operations. */
  public enum F {
    /** Write a value. */
    PUT,
    /** Read the value (or its absence). */
    GET,
    /** Compare-and-set: write the new value only if the register holds the expected one. */
    CAS,
    /** Remove the key. */
    DELETE;

    String json() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public Op {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(f, "f");
    Objects.requireNonNull(key, "key");
    if (expected != null && f != F.CAS) {
      throw new IllegalArgumentException("only a cas has an expected value: " + f);
    }
    if (process < 0) {
      throw new IllegalArgumentException("process must not be negative: " + process);
    }
  }

  /** The invocation of a {@code put}. */
  public static Op put(long process, String key, String value, long time) {
    return new Op(process, Type.INVOKE, F.PUT, key, Objects.requireNonNull(value, "value"), null, time);
  }

  /** The invocation of a {@code get}. */
  public static Op get(long process, String key, long time) {
    return new Op(process, Type.INVOKE, F.GET, key, null, null, time);
  }

  /** The invocation of a {@code cas} from {@code expected} (null = absent) to {@code value}. */
  public static Op cas(long process, String key, String expected, String value, long time) {
    return new Op(process, Type.INVOKE, F.CAS, key, Objects.requireNonNull(value, "value"), expected, time);
  }

  /** The invocation of a {@code delete}. */
  public static Op delete(long process, String key, long time) {
    return new Op(process, Type.INVOKE, F.DELETE, key, null, null, time);
  }

  /**
   * The completion of this invocation: same process, f, key and arguments; for an {@code ok} get,
   * use {@link #read(String, long)} instead.
   */
  public Op complete(Type outcome, long at) {
    if (type != Type.INVOKE || outcome == Type.INVOKE) {
      throw new IllegalArgumentException("complete() takes an invocation and an outcome");
    }
    return new Op(process, outcome, f, key, value, expected, at);
  }

  /** The {@code ok} completion of this {@code get}, having read {@code read} (null = absent). */
  public Op read(String read, long at) {
    if (type != Type.INVOKE || f != F.GET) {
      throw new IllegalArgumentException("read() completes a get invocation, not " + this);
    }
    return new Op(process, Type.OK, F.GET, key, read, null, at);
  }

  @Override
  public String toJson() {
    StringBuilder out = new StringBuilder(96);
    out.append("{\"process\":").append(process)
        .append(",\"type\":\"").append(type.json())
        .append("\",\"f\":\"").append(f.json())
        .append("\",\"key\":");
    Json.appendString(out, key);
    out.append(",\"value\":");
    if (f == F.CAS) {
      out.append('[');
      Json.appendString(out, expected);
      out.append(',');
      Json.appendString(out, value);
      out.append(']');
    } else {
      Json.appendString(out, value);
    }
    out.append(",\"time\":").append(time).append('}');
    return out.toString();
  }

  /** A short human description, e.g. {@code p3 cas k1 [v1 -> v2]} or {@code p1 get k1 -> v7}. */
  public String describe() {
    String args = switch (f) {
      case PUT -> " " + value;
      case GET -> type == Type.OK ? " -> " + (value == null ? "nil" : value) : "";
      case CAS -> " [" + (expected == null ? "nil" : expected) + " -> " + value + "]";
      case DELETE -> "";
    };
    return "p" + process + " " + f.json() + " " + key + args;
  }
}
