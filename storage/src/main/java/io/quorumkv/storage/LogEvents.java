package io.quorumkv.storage;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;

/**
 * JDK Flight Recorder events of the log writer: what a tail-latency analysis lines up with a
 * client's slow requests (docs/benchmarks.md, finding 64). They cost nothing unless a recording
 * is running ({@code -XX:StartFlightRecording}); the thresholds keep a recording small under load.
 */
final class LogEvents {
  private LogEvents() {}

  /** One sync of every round written so far: the fsync that makes acknowledgements possible. */
  @Name("io.quorumkv.LogSync")
  @Label("Log Sync")
  @Category({"QuorumKV", "Storage"})
  @Description("One fsync of the log writer, covering every round written since the previous one")
  @StackTrace(false)
  @Threshold("0 ns")
  static final class LogSync extends Event {
    @Label("Rounds")
    int rounds;

    @Label("Batches")
    int batches;
  }

  /** One round written, unsynced, into the ordered write-ahead log. */
  @Name("io.quorumkv.LogWrite")
  @Label("Log Write")
  @Category({"QuorumKV", "Storage"})
  @Description("One round of log batches written (not yet synced) by the log writer")
  @StackTrace(false)
  @Threshold("1 ms")
  static final class LogWrite extends Event {
    @Label("Batches")
    int batches;
  }
}
