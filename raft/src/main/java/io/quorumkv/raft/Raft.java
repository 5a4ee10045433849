package io.quorumkv.raft;

/** The algorithm behind {@link RawNode}. Placeholder until the core lands on this branch. */
final class Raft {
  Raft(RaftConfig config, RaftStorage storage) { throw new UnsupportedOperationException("raft core: work in progress"); }
  void tick() {}
  void step(Message m) {}
  void campaign() {}
  long propose(byte[] data) { return 0; }
  long proposeConfChange(ConfChange c) { return 0; }
  ConfState applyConfChange(ConfChange c) { return null; }
  void readIndex(long ctx) {}
  void transferLeadership(long to) {}
  void reportUnreachable(long peer) {}
  void reportSnapshot(long peer, boolean ok) {}
  boolean hasReady() { return false; }
  Ready ready() { return null; }
  void persisted(long index, long term) {}
  void snapshotPersisted(long index) {}
  void applied(long index) {}
  boolean hasValidLease() { return false; }
  Status status() { return null; }
}
