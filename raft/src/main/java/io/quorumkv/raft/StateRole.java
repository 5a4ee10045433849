package io.quorumkv.raft;

/** The role a node plays in its group. */
public enum StateRole {
  /** Follows a leader (or waits for one). */
  FOLLOWER,
  /** Asks for pre-votes before disturbing the group with a real election (thesis §9.6). */
  PRE_CANDIDATE,
  /** Asks for votes in a new term. */
  CANDIDATE,
  /** Replicates its log to the others. */
  LEADER
}
