package io.quorumkv.jepsen;

import io.quorumkv.storage.PowerLoss;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One node JVM: started, SIGKILLed, SIGSTOPped and SIGCONTinued by its PID, and restarted from
 * the same data directory. Output of every incarnation is appended to one log file.
 *
 * <p>Every process started is registered until it is known dead, and one JVM shutdown hook
 * SIGKILLs whatever is still registered, so no node outlives the test JVM even when a test
 * fails or Maven is interrupted (the node side also stops when it sees its parent gone:
 * ExampleNode's {@code --parent-pid}).
 */
final class NodeProcess {

  private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      for (Process p : LIVE) {
        p.destroyForcibly();
      }
    }, "jepsen-kill-nodes"));
  }

  private final long id;
  private final String address;
  private final Path dataDir;
  private final Path log;
  private Process process;
  private boolean paused;
  private long resumedAt = Long.MIN_VALUE;
  private String faketime;
  private int incarnation;

  NodeProcess(long id, String address, Path dataDir, Path log) {
    this.id = id;
    this.address = address;
    this.dataDir = dataDir;
    this.log = log;
  }

  long id() {
    return id;
  }

  String address() {
    return address;
  }

  Path dataDir() {
    return dataDir;
  }

  Path log() {
    return log;
  }

  /**
   * Starts a new incarnation. {@code env} adds environment variables (libfaketime's);
   * {@code faketime} describes them for {@link #faketime()}, or is null.
   */
  synchronized void start(List<String> command, Map<String, String> env, String faketime) {
    if (isAlive()) {
      throw new IllegalStateException("node " + id + " is already running as pid " + process.pid());
    }
    try {
      appendToLog("\n==== jepsen: starting node " + id + " on " + address + " at " + Instant.now()
          + (faketime == null ? "" : " under libfaketime " + faketime));
      ProcessBuilder pb = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
      pb.environment().putAll(env);
      process = pb.start();
      incarnation++;
      LIVE.add(process);
      paused = false;
      this.faketime = faketime;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start node " + id, e);
    }
  }

  synchronized boolean isAlive() {
    return process != null && process.isAlive();
  }

  synchronized boolean isPaused() {
    return paused && isAlive();
  }

  /** How many times this node was started: its current (or last) incarnation, from 1. */
  synchronized int incarnation() {
    return incarnation;
  }

  /** The libfaketime setting of the running incarnation, or null. */
  synchronized String faketime() {
    return isAlive() ? faketime : null;
  }

  /** The PID of the running incarnation, or -1. */
  synchronized long pid() {
    return isAlive() ? process.pid() : -1;
  }

  /** SIGKILL, then waits (bounded) until the process is gone. No-op when not running. */
  synchronized void kill() {
    if (process == null) {
      return;
    }
    process.destroyForcibly(); // SIGKILL on Linux, also for a stopped process
    try {
      if (!process.waitFor(15, TimeUnit.SECONDS)) {
        throw new IllegalStateException("node " + id + " (pid " + process.pid() + ") survived SIGKILL for 15 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    LIVE.remove(process);
    paused = false;
  }

  /**
   * Cuts the power ({@link PowerLoss}: the node must run with its library preloaded): the node
   * loses every write it has not synced and exits; waits (bounded) until it is gone. A node that
   * did not exit in time is SIGKILLed, and the answer says so.
   */
  synchronized String cutPower() {
    if (!isAlive()) {
      return "n" + id + " was down";
    }
    try {
      if (paused) {
        signal("CONT"); // the cut is taken by a thread of the process: it must run
      }
      PowerLoss.cut(process.pid());
      boolean exited = process.waitFor(15, TimeUnit.SECONDS);
      String said = exited ? lastLogLine(PowerLoss.MESSAGE) : null;
      if (!exited || process.exitValue() != PowerLoss.EXIT_CODE) {
        kill();
        return "n" + id + " did not take the power cut" + (exited ? " (exit " + process.exitValue() + ")" : "")
            + ": SIGKILLed instead";
      }
      LIVE.remove(process);
      paused = false;
      return "n" + id + (said == null ? " cut" : ": " + said.substring(said.indexOf(PowerLoss.MESSAGE)
          + "powerloss: ".length()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The last line of the node's log that contains {@code text}, or null. */
  private String lastLogLine(String text) throws IOException {
    List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
    for (int i = lines.size() - 1; i >= 0; i--) {
      if (lines.get(i).contains(text)) {
        return lines.get(i);
      }
    }
    return null;
  }

  /** SIGSTOP: the whole JVM freezes (its clocks keep running). */
  synchronized void pause() {
    if (isAlive() && !paused) {
      signal("STOP");
      paused = true;
    }
  }

  /** SIGCONT. */
  synchronized void resume() {
    if (isAlive() && paused) {
      signal("CONT");
      paused = false;
      resumedAt = System.nanoTime();
    }
  }

  /** Whether the node is paused now or was resumed less than {@code nanos} ago. */
  synchronized boolean pausedWithin(long nanos) {
    return isAlive() && (paused || System.nanoTime() - resumedAt < nanos);
  }

  private void signal(String name) {
    try {
      Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid()))
          .redirectErrorStream(true).start();
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        kill.destroyForcibly();
        throw new IllegalStateException("kill -" + name + " " + process.pid() + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Appends {@code line} to this node's log, for a reader of the log to know what the harness did. */
  void appendToLog(String line) {
    try {
      Files.createDirectories(log.getParent());
      Files.writeString(log, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + log, e);
    }
  }

  /** The last {@code lines} lines of this node's log (every incarnation's output), or why they cannot be read. */
  List<String> logTail(int lines) {
    try {
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return all.subList(Math.max(0, all.size() - lines), all.size());
    } catch (IOException | UncheckedIOException e) {
      return List.of("(cannot read " + log + ": " + e + ")");
    }
  }

  @Override
  public synchronized String toString() {
    String state;
    if (process == null) {
      state = " never started";
    } else if (process.isAlive()) {
      state = " pid " + process.pid() + (paused ? " paused" : "");
    } else {
      state = " down (pid " + process.pid() + " exited with " + process.exitValue() + ")";
    }
    return "n" + id + "@" + address + state;
  }
}
