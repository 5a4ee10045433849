package io.quorumkv.raft;

/** One step of a membership change. */
public enum ConfChangeType {
  /** Add a voter, or promote a learner to voter. */
  ADD_VOTER,
  /** Add a learner, or demote a voter to learner. */
  ADD_LEARNER,
  /** Remove a member, voter or learner. */
  REMOVE
}
