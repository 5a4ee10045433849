package io.quorumkv.testkit;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Records a history as it happens; safe to share between client threads.
 *
 * <p>Call {@link #invoke(Op)} just before a request leaves the client and one of
 * {@link #ok(Op)}, {@link #read(Op, String)}, {@link #fail(Op)} or {@link #info(Op)} once its fate
 * is known. Each call stamps the time and appends under one lock, so line order is real-time order
 * (see {@link History}).
 */
public final class HistoryRecorder {

  private final LongSupplier clock;
  private final List<HistoryLine> lines = new ArrayList<>();

  /** @param clock monotonic nanoseconds: {@code System::nanoTime}, or a simulator's virtual clock */
  public HistoryRecorder(LongSupplier clock) {
    this.clock = clock;
  }

  /**
   * Records an invocation. {@code template} is built with one of {@link Op}'s factories; its time
   * is replaced by the clock's.
   *
   * @return the recorded invocation, to pass to the completion call
   */
  public synchronized Op invoke(Op template) {
    if (template.type() != Op.Type.INVOKE) {
      throw new IllegalArgumentException("not an invocation: " + template);
    }
    Op op = new Op(template.process(), Op.Type.INVOKE, template.f(), template.key(),
        template.value(), template.expected(), clock.getAsLong());
    lines.add(op);
    return op;
  }

  /** Records that {@code invocation} (not a get) took effect. */
  public synchronized void ok(Op invocation) {
    if (invocation.f() == Op.F.GET) {
      throw new IllegalArgumentException("a get completes with read(), which records the value read");
    }
    lines.add(invocation.complete(Op.Type.OK, clock.getAsLong()));
  }

  /** Records that the get {@code invocation} returned {@code value} (null = absent). */
  public synchronized void read(Op invocation, String value) {
    lines.add(invocation.read(value, clock.getAsLong()));
  }

  /** Records that {@code invocation} certainly did not take effect (or a cas did not match). */
  public synchronized void fail(Op invocation) {
    lines.add(invocation.complete(Op.Type.FAIL, clock.getAsLong()));
  }

  /** Records that the fate of {@code invocation} is unknown; its process must not invoke again. */
  public synchronized void info(Op invocation) {
    lines.add(invocation.complete(Op.Type.INFO, clock.getAsLong()));
  }

  /** Records a fault event, e.g. {@code nemesis("partition", "[[1,2],[3]]")}. */
  public synchronized void nemesis(String f, String value) {
    lines.add(new Event(f, value, clock.getAsLong()));
  }

  /** Everything recorded so far. */
  public synchronized History history() {
    return new History(lines);
  }

  /** Writes everything recorded so far to {@code file}. */
  public void write(Path file) throws IOException {
    history().write(file);
  }
}
