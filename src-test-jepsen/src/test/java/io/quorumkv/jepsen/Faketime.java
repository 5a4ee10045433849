package io.quorumkv.jepsen;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Finds libfaketime for the clock-skew nemesis, installing the Debian package {@code faketime}
 * with {@code apt-get} when it is absent and this process may (root). If that does not work the
 * nemesis is skipped and {@link #unavailableReason()} says why.
 */
final class Faketime {
  private Faketime() {}

  private static final List<String> DIRS = List.of(
      "/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime",
      "/usr/lib/faketime", "/usr/local/lib/faketime", "/usr/lib64/faketime");

  private static Optional<Path> library;
  private static String reason = "not looked for yet";

  /** libfaketime's path, installing it first if needed and possible; empty if unavailable. */
  static synchronized Optional<Path> library() {
    if (library != null) {
      return library;
    }
    library = find();
    if (library.isEmpty()) {
      String installed = install();
      library = find();
      if (library.isEmpty()) {
        reason = "libfaketime.so.1 not found in " + DIRS + " and " + installed;
      }
    }
    if (library.isPresent()) {
      reason = null;
    }
    return library;
  }

  /** Why {@link #library()} is empty, for the report; null when it is available. */
  static synchronized String unavailableReason() {
    return reason;
  }

  private static Optional<Path> find() {
    for (String dir : DIRS) {
      Path lib = Path.of(dir, "libfaketime.so.1");
      if (Files.isReadable(lib)) {
        return Optional.of(lib);
      }
    }
    return Optional.empty();
  }

  private static String install() {
    if (!Files.isExecutable(Path.of("/usr/bin/apt-get"))) {
      return "there is no apt-get to install the package faketime";
    }
    if (!"root".equals(System.getProperty("user.name"))) {
      return "installing the package faketime needs root (this is " + System.getProperty("user.name") + ")";
    }
    System.out.println("jepsen: libfaketime is absent; installing the Debian package faketime");
    if (run(180, "apt-get", "install", "-y", "-q", "faketime") == null && find().isPresent()) {
      return "installed";
    }
    // The package lists may be missing or stale on a fresh machine.
    run(300, "apt-get", "update", "-q");
    String second = run(180, "apt-get", "install", "-y", "-q", "faketime");
    return second == null ? "apt-get install worked but installed no library" : "apt-get install failed: " + second;
  }

  /** Runs a command with a deadline; null if it exited 0, else what went wrong. */
  private static String run(int seconds, String... command) {
    try {
      Path out = Files.createTempFile("jepsen-apt", ".log");
      try {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile());
        pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
        Process p = pb.start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
          p.destroyForcibly();
          return String.join(" ", command) + " took more than " + seconds + " s";
        }
        if (p.exitValue() == 0) {
          return null;
        }
        List<String> lines = Files.readAllLines(out);
        return "exit " + p.exitValue() + ": " + String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
      } finally {
        Files.deleteIfExists(out);
      }
    } catch (IOException e) {
      return e.toString();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }
}
