package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Every wrong field is refused at build time with an exception naming it. */
class KvNodeBuilderTest {

  private static KvNode.Builder valid() {
    return KvNode.builder().nodeId(1).advertisedAddress("127.0.0.1:7001").peer(2, "127.0.0.1:7002")
        .dataDir(Path.of("/tmp/x"));
  }

  private static void refused(String field, UnaryOperator<KvNode.Builder> change) {
    InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> change.apply(valid()).config());
    assertEquals(field, e.field(), e.getMessage());
  }

  @Test
  void aValidConfigurationBuildsWithReadableDefaults() {
    KvNodeConfig c = valid().config();
    assertEquals("127.0.0.1:7001", c.bindAddress());
    assertEquals(Duration.ofSeconds(1), c.syncStallTimeout());
    assertEquals(StorageEngineType.ROCKSDB, c.storageEngine());
    assertEquals(NotLeaderPolicy.FORWARD, c.notLeaderPolicy());
    assertEquals(java.util.Set.of(1L, 2L), c.initialMembers());
    org.junit.jupiter.api.Assertions.assertTrue(c.repairDivergedReplicas(), "diverged replicas are repaired by default");
    org.junit.jupiter.api.Assertions.assertFalse(valid().repairDivergedReplicas(false).config().repairDivergedReplicas(),
        "the switch turns repairs off");
  }

  @Test
  void eachWrongFieldIsNamed() {
    refused("nodeId", b -> b.nodeId(0));
    refused("advertisedAddress", b -> b.advertisedAddress(null));
    refused("advertisedAddress", b -> b.advertisedAddress("localhost"));
    refused("advertisedAddress", b -> b.advertisedAddress("localhost:99999"));
    refused("bindAddress", b -> b.bindAddress("x:y"));
    refused("peers", b -> b.peer(1, "127.0.0.1:7009"));
    refused("peers[3]", b -> b.peer(3, "127.0.0.1:7001"));
    refused("peers", b -> b.peer(3, "127.0.0.1:7002"));
    refused("dataDir", b -> b.dataDir(null));
    refused("clusterId", b -> b.clusterId("no spaces"));
    refused("partitioner", b -> b.partitioner(null));
    refused("tickInterval", b -> b.tickInterval(Duration.ZERO));
    refused("heartbeatTicks", b -> b.heartbeatTicks(0));
    refused("electionTicks", b -> b.electionTicks(1));
    refused("requestTimeout", b -> b.requestTimeout(Duration.ofMillis(-1)));
    refused("maxKeySize", b -> b.maxKeySize(0));
    refused("maxValueSize", b -> b.maxValueSize(-1));
    refused("leaseClockDriftFactor", b -> b.leaseClockDriftFactor(1.0));
    refused("syncStallTimeout", b -> b.syncStallTimeout(Duration.ZERO));
    refused("sessionTimeout", b -> b.sessionTimeout(Duration.ofSeconds(10)));
    refused("logCompactionEntries", b -> b.logCompactionEntries(0));
    refused("logCompactionBytes", b -> b.logCompactionBytes(0));
    refused("storageEngine", b -> b.storageEngine(null));
    refused("notLeaderPolicy", b -> b.notLeaderPolicy(null));
  }

  @Test
  void preferredLeadersDefaultToNoneAndMustBePositiveIds() {
    assertEquals(Set.of(), valid().config().preferredLeaders());
    assertEquals(Set.of(1L, 3L), valid().preferredLeaders(Set.of(1L, 3L)).config().preferredLeaders());
    InvalidConfigException e = assertThrows(InvalidConfigException.class,
        () -> valid().preferredLeaders(Set.of(1L, 0L)).config());
    assertEquals("preferredLeaders", e.field());
    assertTrue(e.getMessage().startsWith("preferredLeaders: node ids must be positive, was 0"), e.getMessage());
    e = assertThrows(InvalidConfigException.class, () -> valid().preferredLeaders(Set.of(-4L)).config());
    assertTrue(e.getMessage().contains("was -4"), e.getMessage());
    refused("preferredLeaders", b -> b.preferredLeaders(null));
  }

  @Test
  void theMemoryEngineNeedsNoDataDir() {
    valid().dataDir(null).storageEngine(StorageEngineType.MEMORY).config();
  }

  @Test
  void clientConfigurationIsValidatedToo() {
    assertEquals("addresses", assertThrows(InvalidConfigException.class, () -> KvClient.builder().build()).field());
    assertEquals("addresses[0]", assertThrows(InvalidConfigException.class,
        () -> KvClient.builder().addresses("nope").build()).field());
    assertEquals("requestTimeout", assertThrows(InvalidConfigException.class,
        () -> KvClient.builder().addresses("127.0.0.1:1").requestTimeout(Duration.ZERO).build()).field());
  }
}
