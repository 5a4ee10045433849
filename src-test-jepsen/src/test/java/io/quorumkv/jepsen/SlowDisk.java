package io.quorumkv.jepsen;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Makes one node's log syncs slow from the outside, with no hook in the node: {@code strace}
 * attaches to the node's log-sync thread only ({@code quorumkv-log-syncer}, the thread that
 * issues every log fsync: the log writer's other thread writes rounds unsynced) and delays each
 * {@code fsync}/{@code fdatasync} it makes by a fixed time ({@code -e inject=...:delay_enter}).
 * The other threads (Raft loop, network, applier) run untraced at full speed, as they do when a
 * real disk is slow. Detaching (SIGTERM to strace) restores the disk.
 */
final class SlowDisk implements AutoCloseable {

  /** The log-sync thread's name as the kernel keeps it (15 characters). */
  private static final String WRITER_THREAD = "quorumkv-log-sy";

  private final Process strace;
  private final Path output;

  private SlowDisk(Process strace, Path output) {
    this.strace = strace;
    this.output = output;
  }

  /** Why the nemesis cannot run here, or null. */
  static String unavailableReason() {
    return Files.isExecutable(Path.of("/usr/bin/strace")) ? null : "strace is not installed (/usr/bin/strace)";
  }

  /**
   * Delays every log sync of the node process {@code pid} by {@code delay} until {@link #close}.
   *
   * @param output where strace lists the delayed syscalls
   * @throws IllegalStateException if the thread is not found or strace does not attach
   */
  static SlowDisk attach(long pid, Duration delay, Path output) {
    long tid = writerThread(pid);
    try {
      Files.createDirectories(output.getParent());
      Process p = new ProcessBuilder("strace", "-qq", "-p", Long.toString(tid),
          "-e", "trace=fsync,fdatasync",
          "-e", "inject=fsync,fdatasync:delay_enter=" + delay.toMillis() + "ms",
          "-o", output.toString())
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      if (p.waitFor(300, TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("strace exited at once with " + p.exitValue() + " (ptrace not permitted?)");
      }
      return new SlowDisk(p, output);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** The id of the log-sync thread of process {@code pid}. */
  private static long writerThread(long pid) {
    try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      for (Path task : tasks.toList()) {
        try {
          if (Files.readString(task.resolve("comm"), StandardCharsets.UTF_8).trim().equals(WRITER_THREAD)) {
            return Long.parseLong(task.getFileName().toString());
          }
        } catch (IOException e) {
          // the thread ended meanwhile
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot list the threads of pid " + pid + ": " + e);
    }
    throw new IllegalStateException("pid " + pid + " has no thread named " + WRITER_THREAD);
  }

  /** Detaches strace (bounded wait) and returns how many syncs it delayed. */
  @Override
  public void close() {
    strace.destroy(); // SIGTERM: strace detaches and the thread runs on
    try {
      if (!strace.waitFor(10, TimeUnit.SECONDS)) {
        strace.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** How many syncs were delayed, from strace's output. */
  long delayedSyncs() {
    try {
      List<String> lines = Files.readAllLines(output, StandardCharsets.UTF_8);
      return lines.stream().filter(l -> l.contains("(DELAYED)")).count();
    } catch (IOException e) {
      return -1;
    }
  }
}
