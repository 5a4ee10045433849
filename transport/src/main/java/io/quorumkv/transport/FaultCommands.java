package io.quorumkv.transport;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Parses the text form of fault rules (see {@link FaultInjector#execute(String)}). */
final class FaultCommands {

  private FaultCommands() {}

  @SuppressWarnings("unchecked")
  static void execute(FaultInjector faults, String command) {
    String[] w = command.strip().split("\\s+");
    switch (w[0]) {
      case "heal" -> {
        arity(w, 1, command);
        faults.heal();
      }
      case "partition" -> {
        if (w.length < 2) {
          throw new IllegalArgumentException("partition needs at least one side: '" + command + "'");
        }
        List<Set<Long>> sides = new ArrayList<>();
        for (int i = 1; i < w.length; i++) {
          Set<Long> side = new HashSet<>();
          for (String id : w[i].split(",")) {
            side.add(node(id, command));
          }
          sides.add(side);
        }
        @SuppressWarnings({"unchecked", "rawtypes"}) // a generic array for the varargs API
        Set<Long>[] array = sides.toArray(new Set[0]);
        faults.partition(array);
      }
      case "block" -> {
        arity(w, 3, command);
        faults.blockOneWay(node(w[1], command), node(w[2], command));
      }
      case "drop" -> {
        arity(w, 4, command);
        faults.dropRate(node(w[1], command), node(w[2], command), number(w[3], command));
      }
      case "duplicate" -> {
        arity(w, 4, command);
        faults.duplicateRate(node(w[1], command), node(w[2], command), number(w[3], command));
      }
      case "delay" -> {
        arity(w, 4, command);
        faults.delay(node(w[1], command), node(w[2], command),
            Duration.ofMillis((long) number(w[3], command)));
      }
      case "reorder" -> {
        arity(w, 4, command);
        faults.reorder(node(w[1], command), node(w[2], command),
            Duration.ofMillis((long) number(w[3], command)));
      }
      default -> throw new IllegalArgumentException("unknown fault command '" + w[0]
          + "' (partition, block, drop, duplicate, delay, reorder, heal)");
    }
  }

  private static void arity(String[] w, int n, String command) {
    if (w.length != n) {
      throw new IllegalArgumentException(
          w[0] + " takes " + (n - 1) + " arguments, got " + (w.length - 1) + ": '" + command + "'");
    }
  }

  private static long node(String s, String command) {
    try {
      long id = Long.parseLong(s);
      if (id <= 0) {
        throw new NumberFormatException();
      }
      return id;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad node id '" + s + "' in '" + command + "'", e);
    }
  }

  private static double number(String s, String command) {
    try {
      return Double.parseDouble(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad number '" + s + "' in '" + command + "'", e);
    }
  }
}
