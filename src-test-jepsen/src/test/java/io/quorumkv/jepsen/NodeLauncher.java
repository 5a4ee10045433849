package io.quorumkv.jepsen;

import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * The main of every node JVM the suite starts: it watches the test JVM that started it and halts
 * when that one is gone (so a killed Maven run never leaves nodes behind), then runs the real
 * node main with the remaining arguments.
 *
 * <p>Usage: {@code NodeLauncher <parent pid> <main class> <args...>}.
 */
public final class NodeLauncher {
  private NodeLauncher() {}

  /** Entry point; see the class comment. */
  public static void main(String[] args) throws Exception {
    long parent = Long.parseLong(args[0]);
    Thread watchdog = new Thread(() -> {
      // Bounded by the parent's life; polls once a second.
      while (ProcessHandle.of(parent).map(ProcessHandle::isAlive).orElse(false)) {
        try {
          Thread.sleep(1000);
        } catch (InterruptedException e) {
          return;
        }
      }
      System.err.println("jepsen: the test JVM " + parent + " is gone; halting this node");
      Runtime.getRuntime().halt(3);
    }, "jepsen-parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    Method main = Class.forName(args[1]).getMethod("main", String[].class);
    main.invoke(null, (Object) Arrays.copyOfRange(args, 2, args.length));
  }
}
