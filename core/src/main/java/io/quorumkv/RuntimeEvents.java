package io.quorumkv;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;

/**
 * JDK Flight Recorder events of a node's Raft loop and applier, for lining a client's slow
 * requests up with what each node was doing (examples/bench/tail.py; docs/benchmarks.md, finding
 * 64). Free unless a recording runs; only turns longer than the threshold are recorded.
 */
final class RuntimeEvents {
  private RuntimeEvents() {}

  /** One turn of the Raft loop: its tasks, a tick if due, every group's Ready, the sends. */
  @Name("io.quorumkv.LoopTurn")
  @Label("Raft Loop Turn")
  @Category({"QuorumKV", "Raft"})
  @Description("One turn of a node's Raft loop, from its wake-up to the sends and log hand-off")
  @StackTrace(false)
  @Threshold("1 ms")
  static final class LoopTurn extends Event {
    @Label("Tick")
    boolean tick;
  }

  /** One state machine write of the applier (one or more groups' committed entries). */
  @Name("io.quorumkv.Apply")
  @Label("Apply")
  @Category({"QuorumKV", "Raft"})
  @Description("One write of committed entries to the state machine by a node's applier")
  @StackTrace(false)
  @Threshold("1 ms")
  static final class Apply extends Event {
    @Label("Groups' Batches")
    int batches;
  }
}
