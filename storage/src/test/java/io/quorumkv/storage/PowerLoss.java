package io.quorumkv.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A power cut for a child process's files: the child runs with {@code src/test/c/powerloss.c}
 * preloaded, which keeps an undo record of every change made under its data directory since that
 * file's last fsync; {@link #cut} makes it roll every file back to its last synced content and
 * exit at once. Unlike kill -9, which keeps the page cache, this loses what was written and not
 * synced, so a missing or misplaced fsync shows (the library's header says what it models).
 */
final class PowerLoss {

  private static Path library;

  private PowerLoss() {}

  /** The shim, compiled once per test JVM with the machine's C compiler. */
  static synchronized Path library() throws IOException, InterruptedException {
    if (library == null) {
      Path source = Path.of("src", "test", "c", "powerloss.c").toAbsolutePath();
      Path out = Path.of("target", "powerloss", "powerloss.so").toAbsolutePath();
      Files.createDirectories(out.getParent());
      run(List.of("cc", "-shared", "-fPIC", "-O1", "-o", out.toString(), source.toString(),
          "-ldl", "-lpthread"));
      library = out;
    }
    return library;
  }

  /**
   * Makes {@code child} start with the shim, tracking the files under {@code root}; returns the
   * control FIFO to pass to {@link #cut}.
   */
  static Path prepare(ProcessBuilder child, Path root, Path work) throws IOException, InterruptedException {
    Files.createDirectories(root);
    Path fifo = work.resolve("powerloss-" + System.nanoTime() + ".fifo");
    run(List.of("mkfifo", fifo.toString()));
    child.environment().put("LD_PRELOAD", library().toString());
    child.environment().put("QKV_POWERLOSS_ROOT", root.toString());
    child.environment().put("QKV_POWERLOSS_FIFO", fifo.toString());
    return fifo;
  }

  /** Cuts the power: the child loses every unsynced change and exits (code 137). */
  static void cut(Path fifo) throws IOException {
    Files.write(fifo, new byte[] {1}); // the child holds the FIFO open for reading: no wait
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String said = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", command) + " failed: " + said);
    }
  }
}
