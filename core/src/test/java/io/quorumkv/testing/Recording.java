package io.quorumkv.testing;

import io.quorumkv.KvStore;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.HistoryRecorder;
import io.quorumkv.testkit.LinearizabilityChecker;
import io.quorumkv.testkit.Verdict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * One register history being recorded: the stores that record into it ({@link #store}), the
 * nemesis events, and where the history goes once written. Thread-safe.
 *
 * <p>Histories are written to {@code target/quorumkv-histories/<workload>-<millis>-<n>.jsonl}, or
 * to the directory named by {@code -Dquorumkv.history.dir}, in the JSON Lines format of
 * {@link History}.
 */
public final class Recording {

  /** The system property naming a directory that keeps every history, passing or not. */
  public static final String HISTORY_DIR_PROPERTY = "quorumkv.history.dir";
  /** Where failing histories go by default, relative to the working directory (the module). */
  public static final Path DEFAULT_HISTORY_DIR = Path.of("target", "quorumkv-histories");

  private static final Pattern WORKLOAD = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  private static final AtomicLong FILES = new AtomicLong();

  private final String workload;
  private final HistoryRecorder recorder = new HistoryRecorder(System::nanoTime);
  private final AtomicLong nextProcess = new AtomicLong();

  /** @param workload names the history files, e.g. {@code counter} (letters, digits, {@code ._-}) */
  public Recording(String workload) {
    if (!WORKLOAD.matcher(workload).matches()) {
      throw new IllegalArgumentException("workload must match " + WORKLOAD + ": " + workload);
    }
    this.workload = workload;
  }

  /** A recording store for one client thread, calling whatever {@code store} supplies at each call. */
  public RecordingKvStore store(Supplier<? extends KvStore> store) {
    return new RecordingKvStore(this, store);
  }

  /** A recording store for one client thread, calling {@code store}. */
  public RecordingKvStore store(KvStore store) {
    return store(() -> store);
  }

  /** The name of this workload. */
  public String workload() {
    return workload;
  }

  /** Records a fault event, e.g. {@code nemesis("partition", "[[1], [2, 3]]")}. */
  public void nemesis(String f, String value) {
    recorder.nemesis(f, value);
  }

  /** Everything recorded so far. */
  public History history() {
    return recorder.history();
  }

  /** Checks everything recorded so far with the {@link LinearizabilityChecker}. */
  public Verdict check() {
    return new LinearizabilityChecker().check(history());
  }

  /**
   * Writes the history to a new file in {@code -Dquorumkv.history.dir}, or else in
   * {@link #DEFAULT_HISTORY_DIR}.
   *
   * @return the file's absolute path
   */
  public Path write() {
    Path file = historyDir().resolve(workload + "-" + System.currentTimeMillis() + "-"
        + FILES.incrementAndGet() + ".jsonl").toAbsolutePath();
    try {
      recorder.write(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the history to " + file, e);
    }
    return file;
  }

  /** Whether {@code -Dquorumkv.history.dir} asks to keep every history. */
  public static boolean keepEveryHistory() {
    String dir = System.getProperty(HISTORY_DIR_PROPERTY);
    return dir != null && !dir.isBlank();
  }

  static Path historyDir() {
    return keepEveryHistory() ? Path.of(System.getProperty(HISTORY_DIR_PROPERTY)) : DEFAULT_HISTORY_DIR;
  }

  HistoryRecorder recorder() {
    return recorder;
  }

  long newProcess() {
    return nextProcess.getAndIncrement();
  }
}
