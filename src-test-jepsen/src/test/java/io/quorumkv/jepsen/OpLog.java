package io.quorumkv.jepsen;

import io.quorumkv.testkit.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Records a bank, set or stale-read history in the shared JSON Lines format (DESIGN.md, "The
 * history format"), with the workload's own {@code f} names and JSON values instead of a
 * register's strings. Nemesis events go in the same file with {@code "process":"nemesis"}.
 * Safe to share between threads; line order is real-time order, as in the register recorder.
 */
final class OpLog {

  /** The outcome of an operation, or {@code invoke}; JSON names are the lower-case names. */
  enum Type { INVOKE, OK, FAIL, INFO;
    String json() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /**
   * One line.
   *
   * @param process a client process id, or -1 for the nemesis
   * @param type    invoke or an outcome ({@code info} for nemesis lines)
   * @param f       the operation, e.g. {@code transfer}, {@code read}, {@code add}
   * @param value   a JSON value (map, list, string, long, null)
   * @param time    monotonic nanoseconds since the run started
   */
  record Line(long process, Type type, String f, Object value, long time) {
    static final long NEMESIS = -1;

    boolean isNemesis() {
      return process == NEMESIS;
    }

    String toJson() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("process", isNemesis() ? "nemesis" : (Object) process);
      m.put("type", type.json());
      m.put("f", f);
      m.put("value", value);
      m.put("time", time);
      return Json.write(m);
    }

    static Line parse(String json) {
      Map<String, Object> m = Json.parseObject(json);
      Object p = m.get("process");
      long process = "nemesis".equals(p) ? NEMESIS : (Long) p;
      Type type = Type.valueOf(((String) m.get("type")).toUpperCase(java.util.Locale.ROOT));
      return new Line(process, type, (String) m.get("f"), m.get("value"), (Long) m.get("time"));
    }
  }

  private final LongSupplier clock;
  private final List<Line> lines = new ArrayList<>();

  OpLog(LongSupplier clock) {
    this.clock = clock;
  }

  /** Records an invocation and returns it, to pass to {@link #complete}. */
  synchronized Line invoke(long process, String f, Object value) {
    Line line = new Line(process, Type.INVOKE, f, value, clock.getAsLong());
    lines.add(line);
    return line;
  }

  /** Records the outcome of {@code invocation}; {@code value} replaces the invocation's value. */
  synchronized void complete(Line invocation, Type outcome, Object value) {
    lines.add(new Line(invocation.process(), outcome, invocation.f(), value, clock.getAsLong()));
  }

  /** Records a fault event. */
  synchronized void nemesis(String f, String value) {
    lines.add(new Line(Line.NEMESIS, Type.INFO, f, value, clock.getAsLong()));
  }

  synchronized List<Line> lines() {
    return List.copyOf(lines);
  }

  void write(Path file) throws IOException {
    StringBuilder out = new StringBuilder();
    for (Line line : lines()) {
      out.append(line.toJson()).append('\n');
    }
    Files.createDirectories(file.toAbsolutePath().getParent());
    Files.writeString(file, out, StandardCharsets.UTF_8);
  }

  static List<Line> read(Path file) throws IOException {
    List<Line> out = new ArrayList<>();
    int n = 0;
    for (String text : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      n++;
      if (text.isBlank()) {
        continue;
      }
      try {
        out.add(Line.parse(text));
      } catch (RuntimeException e) {
        throw new IllegalArgumentException(file + ":" + n + ": " + e.getMessage(), e);
      }
    }
    return out;
  }

  /**
   * Pairs each invocation with its completion, in invocation order; an invocation without one
   * completes as {@code info}.
   */
  static List<Pair> pairs(List<Line> lines) {
    Map<Long, Integer> open = new java.util.HashMap<>();
    List<Line> invokes = new ArrayList<>();
    List<Line> completions = new ArrayList<>();
    for (Line line : lines) {
      if (line.isNemesis()) {
        continue;
      }
      if (line.type() == Type.INVOKE) {
        open.put(line.process(), invokes.size());
        invokes.add(line);
        completions.add(null);
      } else {
        Integer i = open.remove(line.process());
        if (i == null) {
          throw new IllegalArgumentException("completion without invocation: " + line.toJson());
        }
        completions.set(i, line);
      }
    }
    List<Pair> pairs = new ArrayList<>(invokes.size());
    for (int i = 0; i < invokes.size(); i++) {
      pairs.add(new Pair(invokes.get(i), completions.get(i)));
    }
    return pairs;
  }

  /** An invocation and its completion (null when none was recorded: unknown). */
  record Pair(Line invoke, Line completion) {
    Type outcome() {
      return completion == null ? Type.INFO : completion.type();
    }

    /** When it completed, or {@code Long.MAX_VALUE} when it never did. */
    long end() {
      return completion == null ? Long.MAX_VALUE : completion.time();
    }
  }
}
