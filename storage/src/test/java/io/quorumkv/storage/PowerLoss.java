package io.quorumkv.storage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A power cut for a child process's files, for crash tests (this module's and the Jepsen suite's).
 * The child runs with {@code powerloss.c} (a resource beside this class) preloaded, which keeps an
 * undo record of every change made under one directory since that file's last fsync; {@link #cut}
 * makes it roll every such file back to its last synced content and exit at once (code 137).
 * Unlike kill -9, which keeps the page cache, this loses what was written and not synced, so a
 * missing or misplaced fsync shows. The library's header says what it models and what not.
 */
public final class PowerLoss {

  /** What of a file's unsynced changes survives a cut. */
  public enum Mode {
    /** Nothing: every unsynced change is lost. */
    ALL,
    /**
     * A random number of the file's first unsynced changes, and of the next one a random number
     * of whole 4 KiB pages (a torn write); the rest is lost.
     */
    PREFIX,
    /** One of the two, drawn at each cut. */
    RANDOM
  }

  /** The child's exit code after a cut. */
  public static final int EXIT_CODE = 137;
  /** What the child prints on its standard error when the cut happens (then what it lost). */
  public static final String MESSAGE = "powerloss: power cut";

  private static Path library;

  private PowerLoss() {}

  /**
   * The shim, compiled once per JVM with the machine's C compiler into {@code target/powerloss}
   * of the working directory (the module's, under Maven).
   *
   * @throws IOException when it cannot be built (no {@code cc}: install gcc)
   */
  public static synchronized Path library() throws IOException, InterruptedException {
    if (library == null) {
      Path dir = Path.of("target", "powerloss").toAbsolutePath();
      Files.createDirectories(dir);
      Path source = dir.resolve("powerloss.c");
      try (InputStream in = PowerLoss.class.getResourceAsStream("powerloss.c")) {
        if (in == null) {
          throw new IOException("powerloss.c is not on the class path beside " + PowerLoss.class);
        }
        Files.copy(in, source, StandardCopyOption.REPLACE_EXISTING);
      }
      Path out = dir.resolve("powerloss.so");
      run(List.of("cc", "-shared", "-fPIC", "-O1", "-o", out.toString(), source.toString(),
          "-ldl", "-lpthread"));
      library = out;
    }
    return library;
  }

  /**
   * The environment that makes a child track the files under {@code root} (created if absent),
   * losing at a cut what {@code mode} says, drawn from {@code seed}. A child that preloads another
   * library as well (libfaketime) lists both in LD_PRELOAD.
   */
  public static Map<String, String> environment(Path root, Mode mode, long seed)
      throws IOException, InterruptedException {
    Files.createDirectories(root);
    return Map.of("LD_PRELOAD", library().toString(), "QKV_POWERLOSS_ROOT", root.toString(),
        "QKV_POWERLOSS_MODE", mode.name().toLowerCase(java.util.Locale.ROOT),
        "QKV_POWERLOSS_SEED", Long.toUnsignedString(seed));
  }

  /**
   * Cuts the power of the process {@code pid}, started with {@link #environment}: it loses every
   * unsynced change and exits with {@link #EXIT_CODE}. Does nothing to a process that is gone.
   */
  public static void cut(long pid) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("kill", "-PWR", Long.toString(pid)).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    p.waitFor(10, TimeUnit.SECONDS);
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String said = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", command) + " failed: " + said);
    }
  }
}
