package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** A node's routing table: hosted spans first, then the spans its peers last reported. */
class RoutingTableTest {

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static KeySpan.Range range(String start, String end) {
    return new KeySpan.Range(b(start), b(end));
  }

  /**
   * Right after a merge, a node that drove it still has its peers' reports from before the freeze:
   * the retired partition is frozen here, so no key goes there, by its own span or by a peer's.
   * (A merge of the same key sent there retried against vanishing replicas until its deadline.)
   */
  @Test
  void aHostedPartitionFrozenForAMergeIsNotRoutedByAPeersOlderReport() {
    RoutingTable t = new RoutingTable();
    t.update(1, range("", "k1"));
    t.update(3, range("k2", ""));
    t.replaceRemote(Map.of(2L, range("k1", "k2"), 3L, range("k2", "")));
    assertEquals(OptionalLong.of(3), t.route(b("m")));

    t.freeze(3);
    assertEquals(OptionalLong.empty(), t.route(b("m")), "a gap until the next poll, not the retired partition");
    assertFalse(t.snapshot().containsKey(3L));
    assertEquals(OptionalLong.of(2), t.route(b("k1x")));
    assertEquals(List.of(2L), t.plan(b("k1"), b("z")).stream().map(RoutingTable.ScanPart::partitionId).toList(),
        "a scan is planned without the retired partition too");

    t.update(3, range("k2", "")); // thawed: a refused merge
    assertEquals(OptionalLong.of(3), t.route(b("m")));
  }
}
