package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class ProfileTest {

  private static Properties props(String... kv) {
    Properties p = new Properties();
    for (int i = 0; i < kv.length; i += 2) {
      p.setProperty(kv[i], kv[i + 1]);
    }
    return p;
  }

  @Test
  void theShortProfileCoversEveryNemesisOnBothClusterSizes() {
    Profile p = Profile.of(props("jepsen.seed", "7"));
    assertEquals("short", p.name());
    assertEquals(6, p.runs().size());
    Set<Nemesis.Kind> kinds = EnumSet.noneOf(Nemesis.Kind.class);
    Set<Integer> sizes = new TreeSet<>();
    for (JepsenRun.Spec s : p.runs()) {
      kinds.addAll(s.nemeses());
      sizes.add(s.nodes());
      assertEquals(Duration.ofSeconds(20), s.time());
    }
    assertEquals(EnumSet.allOf(Nemesis.Kind.class), kinds);
    assertEquals(Set.of(3, 5), sizes);
    assertEquals(List.of(7L, 8L, 9L, 10L, 11L, 12L), p.runs().stream().map(JepsenRun.Spec::seed).toList());
    assertTrue(p.runs().stream().anyMatch(s -> s.maxConcurrent() > 1), "one run combines nemeses");
  }

  @Test
  void theLongProfileRunsEachNemesisAloneOnBothSizesThenCombinations() {
    Profile p = Profile.of(props("jepsen.profile", "LONG", "jepsen.time", "120", "jepsen.runs", "2"));
    int kinds = Nemesis.Kind.values().length;
    assertEquals(2 * (kinds + 2), p.runs().size());
    assertEquals(kinds * 2, p.runs().stream().filter(s -> s.nemeses().size() == 1 && s.maxConcurrent() == 1).count());
    assertTrue(p.runs().stream().allMatch(s -> s.time().equals(Duration.ofSeconds(120))));
    assertEquals(List.of("combined-5-1", "combined-5-2"),
        Profile.of(props("jepsen.profile", "long", "jepsen.runs", "2", "jepsen.only", "combined-5"))
            .runs().stream().map(JepsenRun.Spec::name).toList());
  }

  @Test
  void anUnknownProfileIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> Profile.of(props("jepsen.profile", "medium")));
  }
}
