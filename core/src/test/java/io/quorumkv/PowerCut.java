package io.quorumkv;

import io.quorumkv.storage.MemoryDisk;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/** A power cut at a step of a multi-write change, through a {@code NodeRuntime.Overrides} step hook (crash tests). */
final class PowerCut {

  private PowerCut() {}

  /** Each cut twice: on one node ({@code false}) and on every node ({@code true}). */
  static Stream<Arguments> onOneNodeOrAll(Enum<?>[] cuts) {
    List<Arguments> out = new ArrayList<>();
    for (Enum<?> cut : cuts) {
      out.add(Arguments.of(cut, true));
      out.add(Arguments.of(cut, false));
    }
    return out.stream();
  }

  /**
   * A step hook for one node: at its first call it counts {@code begun} down and waits until every
   * node cut off has begun (a node cut off early could take a leader the others need with it);
   * at {@code step}, once, it cuts the power of {@code disk}, with its unsynced writes written
   * back first if {@code writeBack}, else lost.
   */
  static <S> BiConsumer<Long, S> at(S step, boolean writeBack, MemoryDisk disk, CountDownLatch begun) {
    AtomicBoolean first = new AtomicBoolean(true);
    AtomicBoolean cutDone = new AtomicBoolean();
    return (group, reached) -> {
      if (first.getAndSet(false)) {
        begun.countDown();
        MemoryCluster.await(begun);
      }
      if (reached == step && cutDone.compareAndSet(false, true)) {
        if (writeBack) {
          disk.writeBack();
        }
        disk.crash(); // the power cut: the process dies here, its unsynced writes are lost
      }
    };
  }
}
