package io.quorumkv.jepsen;

import java.util.ArrayList;
import java.util.List;

/** Builds OpLog histories by hand for checker and report tests: time advances one tick per line. */
final class SyntheticHistory {
  private final List<OpLog.Line> lines = new ArrayList<>();
  private long time;

  SyntheticHistory invoke(long process, String f, Object value) {
    lines.add(new OpLog.Line(process, OpLog.Type.INVOKE, f, value, ++time));
    return this;
  }

  SyntheticHistory complete(long process, OpLog.Type type, String f, Object value) {
    lines.add(new OpLog.Line(process, type, f, value, ++time));
    return this;
  }

  SyntheticHistory ok(long process, String f, Object value) {
    return complete(process, OpLog.Type.OK, f, value);
  }

  SyntheticHistory nemesis(String f, String value) {
    lines.add(new OpLog.Line(OpLog.Line.NEMESIS, OpLog.Type.INFO, f, value, ++time));
    return this;
  }

  /** Advances the clock (nanoseconds) without a line. */
  SyntheticHistory sleep(long nanos) {
    time += nanos;
    return this;
  }

  List<OpLog.Line> lines() {
    return List.copyOf(lines);
  }
}
