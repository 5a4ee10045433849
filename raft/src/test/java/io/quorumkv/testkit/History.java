package io.quorumkv.testkit;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A register history: client operations and nemesis events in the order they happened, in the
 * JSON Lines format shared by every correctness test (docs: "The history format").
 *
 * <pre>
 * {"process":3,"type":"invoke","f":"put","key":"k1","value":"v7","time":123456789}
 * {"process":3,"type":"ok","f":"put","key":"k1","value":"v7","time":123999999}
 * {"process":"nemesis","type":"info","f":"partition","value":"[[1,2],[3]]","time":124000000}
 * </pre>
 *
 * <p>Line order is the real-time order: a recorder writes an invocation before the request leaves
 * the client and a completion after the answer arrived, so if one line precedes another the
 * first event happened first. The checker relies on line order, not on {@code time}, which is for
 * people (and is what a recorder that stamps times outside its lock could get slightly wrong).
 *
 * @param lines every line, in order
 */
public record History(List<HistoryLine> lines) {

  public History {
    lines = List.copyOf(lines);
  }

  /** The client operation lines, without nemesis events. */
  public List<Op> ops() {
    List<Op> ops = new ArrayList<>(lines.size());
    for (HistoryLine line : lines) {
      if (line instanceof Op op) {
        ops.add(op);
      }
    }
    return ops;
  }

  /** The whole history as JSON Lines, each line ending in a newline. */
  public String toJsonLines() {
    StringBuilder out = new StringBuilder(lines.size() * 96);
    for (HistoryLine line : lines) {
      out.append(line.toJson()).append('\n');
    }
    return out.toString();
  }

  /** Writes the history to {@code file} (UTF-8), creating its directory if needed. */
  public void write(Path file) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    if (dir != null) {
      Files.createDirectories(dir);
    }
    Files.writeString(file, toJsonLines(), StandardCharsets.UTF_8);
  }

  /** Reads a history file. */
  public static History read(Path file) throws IOException {
    try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return parse(reader, file.toString());
    }
  }

  /** Parses JSON Lines text. */
  public static History parse(String jsonLines) {
    try {
      return parse(new StringReader(jsonLines), "<string>");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Parses JSON Lines; blank lines are skipped, unknown fields ignored.
   *
   * @throws IllegalArgumentException naming {@code source}, the line and what is wrong, e.g. an
   *         {@code f} that is not a register operation
   */
  public static History parse(Reader reader, String source) throws IOException {
    BufferedReader in = reader instanceof BufferedReader b ? b : new BufferedReader(reader);
    List<HistoryLine> lines = new ArrayList<>();
    int number = 0;
    for (String text = in.readLine(); text != null; text = in.readLine()) {
      number++;
      if (text.isBlank()) {
        continue;
      }
      try {
        lines.add(parseLine(Json.parseObject(text)));
      } catch (IllegalArgumentException | ClassCastException e) {
        throw new IllegalArgumentException(source + ":" + number + ": " + e.getMessage(), e);
      }
    }
    return new History(lines);
  }

  private static HistoryLine parseLine(Map<String, Object> json) {
    Object process = json.get("process");
    long time = json.get("time") instanceof Long t ? t : fieldError("time", json.get("time"));
    if (Event.NEMESIS.equals(process)) {
      String f = (String) json.get("f");
      Object value = json.get("value");
      return new Event(f, value == null || value instanceof String ? (String) value : Json.write(value), time);
    }
    if (!(process instanceof Long p)) {
      return fieldError("process", process);
    }
    Op.Type type = enumField(Op.Type.class, "type", json.get("type"));
    Op.F f = enumField(Op.F.class, "f", json.get("f"));
    String key = json.get("key") instanceof String k ? k : fieldError("key", json.get("key"));
    Object value = json.get("value");
    if (f == Op.F.CAS && value instanceof List<?> pair) {
      if (pair.size() != 2) {
        throw new IllegalArgumentException("cas value must be [expected, new], was " + Json.write(value));
      }
      return new Op(p, type, f, key, (String) pair.get(1), (String) pair.get(0), time);
    }
    if (value != null && !(value instanceof String)) {
      return fieldError("value", Json.write(value));
    }
    return new Op(p, type, f, key, (String) value, null, time);
  }

  private static <E extends Enum<E>> E enumField(Class<E> type, String field, Object value) {
    if (value instanceof String s) {
      for (E e : type.getEnumConstants()) {
        if (e.name().toLowerCase(Locale.ROOT).equals(s)) {
          return e;
        }
      }
    }
    return fieldError(field, value);
  }

  private static <T> T fieldError(String field, Object value) {
    String what = field.equals("f") ? " (a register history holds only put/get/cas/delete)" : "";
    throw new IllegalArgumentException("bad \"" + field + "\": " + value + what);
  }
}
