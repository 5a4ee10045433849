package io.quorumkv.storage;

/**
 * Changes a group's applied state behind Raft's back, as bit rot or a buggy disk would: the record
 * is written with its proper checksum ({@link Codec#stateValue}), so nothing at the storage level
 * can tell, and the applied index stays where it was, so nothing at the Raft level can either.
 * Only the replica hash checks of the layer above can. For tests outside this package (the Jepsen
 * suite's diverge nemesis writes into a stopped node's data directory with it); the engine must
 * be one nobody else is using.
 */
public final class StateTamper {
  private StateTamper() {}

  /**
   * Writes {@code value} at {@code key} (a key of the group's state machine, as
   * {@link StateMachineStore#get} takes it) in group {@code groupId}'s state, synced.
   */
  public static void put(StorageEngine engine, long groupId, byte[] key, byte[] value) {
    byte[] k = Keys.state(groupId, key);
    try (Backend.Batch b = engine.backend().newBatch()) {
      b.put(Backend.Cf.STATE, k, Codec.stateValue(k, value));
      engine.backend().write(b, true);
    }
  }
}
