package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Captures Netty's leak reports so that tests fail on them. Netty only logs a leak (when the
 * leaked buffer is collected and a later allocation polls the queue); this installs a detector
 * factory that also records each report. Every test class that touches Netty calls
 * {@link #install()} in a static initialiser, before any buffer class is loaded, and
 * {@link #assertNoLeaks()} when done. Surefire runs these tests with
 * {@code -Dio.netty.leakDetection.level=paranoid}, so every buffer is tracked.
 */
final class LeakWatch {

  private static final List<String> LEAKS = new CopyOnWriteArrayList<>();
  private static boolean installed;

  private LeakWatch() {}

  static synchronized void install() {
    if (installed) {
      return;
    }
    installed = true;
    ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new ResourceLeakDetectorFactory() {
      @Override
      @SuppressWarnings("deprecation")
      public <T> ResourceLeakDetector<T> newResourceLeakDetector(
          Class<T> resource, int samplingInterval, long maxActive) {
        return new ResourceLeakDetector<T>(resource, samplingInterval) {
          @Override
          protected void reportTracedLeak(String resourceType, String records) {
            LEAKS.add(resourceType + " leaked:" + records);
            super.reportTracedLeak(resourceType, records);
          }

          @Override
          protected void reportUntracedLeak(String resourceType) {
            LEAKS.add(resourceType + " leaked (untraced)");
            super.reportUntracedLeak(resourceType);
          }
        };
      }
    });
    // Proves the factory took effect, i.e. no buffer class was loaded before it was installed.
    try {
      var f = Class.forName("io.netty.buffer.AbstractByteBuf").getDeclaredField("leakDetector");
      f.setAccessible(true);
      Object detector = f.get(null);
      if (detector.getClass().getEnclosingClass() != LeakWatch.class
          && !detector.getClass().getName().startsWith(LeakWatch.class.getName())) {
        throw new IllegalStateException("Netty buffers were loaded before LeakWatch.install()");
      }
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
    if (ResourceLeakDetector.getLevel() != ResourceLeakDetector.Level.PARANOID) {
      throw new IllegalStateException("tests must run with -Dio.netty.leakDetection.level="
          + "paranoid; the level is " + ResourceLeakDetector.getLevel());
    }
  }

  /** Collects garbage, lets the detectors poll, and fails on any leak reported so far. */
  static void assertNoLeaks() throws InterruptedException {
    poll();
    List<String> found = List.copyOf(LEAKS);
    LEAKS.removeAll(found);
    assertTrue(found.isEmpty(), "Netty reported leaked buffers:\n" + String.join("\n", found));
  }

  /** Collects garbage, lets the detectors poll, and takes the reports mentioning {@code hint}. */
  static List<String> take(String hint) throws InterruptedException {
    poll();
    List<String> found = LEAKS.stream().filter(s -> s.contains(hint)).toList();
    LEAKS.removeAll(found);
    return found;
  }

  private static void poll() throws InterruptedException {
    for (int i = 0; i < 5; i++) {
      System.gc();
      Thread.sleep(20);
      // Detectors report when a tracked allocation happens after the leaked buffer was collected.
      for (int j = 0; j < 10; j++) {
        ByteBuf a = PooledByteBufAllocator.DEFAULT.directBuffer(16);
        ByteBuf b = UnpooledByteBufAllocator.DEFAULT.heapBuffer(16);
        a.release();
        b.release();
      }
    }
  }
}
