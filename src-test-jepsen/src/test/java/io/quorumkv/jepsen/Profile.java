package io.quorumkv.jepsen;

import io.quorumkv.jepsen.Nemesis.Kind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * The runs of the suite. {@code short} (the default, part of every {@code mvn verify}) covers
 * every nemesis on 3 and 5 nodes in a few minutes; {@code long} runs each nemesis alone on both
 * sizes and the combination several times, for people.
 *
 * <ul>
 *   <li>{@code -Djepsen.profile=short|long}</li>
 *   <li>{@code -Djepsen.time=<seconds>}: client time per run (default 20 short, 60 long)</li>
 *   <li>{@code -Djepsen.runs=<n>}: combined runs per cluster size in the long profile (default 3)</li>
 *   <li>{@code -Djepsen.seed=<long>}: the first run's seed (the next runs add 1 each)</li>
 *   <li>{@code -Djepsen.only=<substring>}: only the runs whose name contains it</li>
 * </ul>
 */
record Profile(String name, List<JepsenRun.Spec> runs) {

  static Profile fromSystemProperties() {
    return of(System.getProperties());
  }

  /** The profile that {@code props} (the {@code jepsen.*} keys above) select. */
  static Profile of(Properties props) {
    String name = props.getProperty("jepsen.profile", "short").toLowerCase(Locale.ROOT);
    boolean isLong = name.equals("long");
    if (!isLong && !name.equals("short")) {
      throw new IllegalArgumentException("-Djepsen.profile must be short or long, was " + name);
    }
    Duration time = Duration.ofSeconds(Long.parseLong(props.getProperty("jepsen.time", isLong ? "60" : "20")));
    long seed = Long.parseLong(props.getProperty("jepsen.seed", Long.toString(System.currentTimeMillis())));
    int combinedRuns = Integer.parseInt(props.getProperty("jepsen.runs", "3"));
    String only = props.getProperty("jepsen.only", "");
    NemesisScheduler.Timing timing = isLong
        ? new NemesisScheduler.Timing(2000, 6000, 3000, 10_000)
        : new NemesisScheduler.Timing(800, 2000, 2000, 4500);
    List<JepsenRun.Spec> runs = new ArrayList<>();
    if (isLong) {
      for (int nodes : new int[] {3, 5}) {
        for (Kind k : Kind.values()) {
          runs.add(new JepsenRun.Spec(k.label() + "-" + nodes, nodes, List.of(k), 1, time, seed + runs.size(), timing,
              k == Kind.SPLIT));
        }
        for (int i = 0; i < combinedRuns; i++) {
          runs.add(new JepsenRun.Spec("combined-" + nodes + "-" + (i + 1), nodes, List.of(Kind.values()), 3, time,
              seed + runs.size(), timing, true));
        }
      }
    } else {
      // The deposed-leader race is won by the successor about two times in three (docs/jepsen.md),
      // so the run with the fewest nemeses gets it: two or three episodes per run.
      runs.add(new JepsenRun.Spec("partition-depose-3", 3, List.of(Kind.PARTITION, Kind.DEPOSE), 1, time, seed,
          timing, false));
      runs.add(new JepsenRun.Spec("kill-pause-stall-depose-5", 5, List.of(Kind.KILL, Kind.PAUSE, Kind.STALL, Kind.DEPOSE),
          1, time, seed + 1, timing, false));
      runs.add(new JepsenRun.Spec("clock-membership-transfer-split-disk-3", 3,
          List.of(Kind.CLOCK, Kind.MEMBERSHIP, Kind.TRANSFER, Kind.SPLIT, Kind.DISK), 1, time, seed + 2, timing, true));
      List<Kind> combined = new ArrayList<>(List.of(Kind.values()));
      combined.remove(Kind.DIVERGE); // its own run below: waiting for its repair would lengthen this one
      runs.add(new JepsenRun.Spec("combined-5", 5, combined, 3, time, seed + 3, timing, true));
      // Power cuts alone: of one node up to all, so acknowledged writes must survive on synced
      // data only, several times per run.
      runs.add(new JepsenRun.Spec("power-3", 3, List.of(Kind.POWER), 1, time, seed + 4, timing, false));
      // One replica rotted on disk behind Raft's back, found by a hash check and repaired.
      runs.add(new JepsenRun.Spec("diverge-3", 3, List.of(Kind.DIVERGE), 1, time, seed + 5, timing, false));
    }
    runs.removeIf(r -> !r.name().contains(only));
    return new Profile(name, runs);
  }
}
