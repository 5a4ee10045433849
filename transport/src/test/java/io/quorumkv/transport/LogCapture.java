package io.quorumkv.transport;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Tees System.err (where slf4j-simple writes, looking the stream up on every line) into a
 * buffer, so that tests can check what was logged.
 */
final class LogCapture implements AutoCloseable {
  private final PrintStream original = System.err;
  private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();

  LogCapture() {
    PrintStream tee = new PrintStream(new java.io.OutputStream() {
      @Override
      public void write(int b) {
        synchronized (buffer) {
          buffer.write(b);
        }
        original.write(b);
      }

      @Override
      public void write(byte[] b, int off, int len) {
        synchronized (buffer) {
          buffer.write(b, off, len);
        }
        original.write(b, off, len);
      }
    }, true, StandardCharsets.UTF_8);
    System.setErr(tee);
  }

  String text() {
    synchronized (buffer) {
      return buffer.toString(StandardCharsets.UTF_8);
    }
  }

  /** Waits up to 10 s for a line containing every one of {@code parts}. */
  boolean awaitLine(String... parts) throws InterruptedException {
    for (int i = 0; i < 1000; i++) {
      for (String line : text().split("\n")) {
        boolean all = true;
        for (String p : parts) {
          all &= line.contains(p);
        }
        if (all) {
          return true;
        }
      }
      Thread.sleep(10);
    }
    return false;
  }

  @Override
  public void close() {
    System.setErr(original);
  }
}
