package io.quorumkv.storage;

import io.quorumkv.raft.ConfState;

/**
 * What one group's state machine metadata looks like, as an immutable value published after each
 * apply.
 *
 * @param appliedIndex the last applied index
 * @param appliedTerm  its term
 * @param confIndex    the index at which {@code confState} was recorded (0 for bootstrap)
 * @param confState    the membership
 */
record SmView(long appliedIndex, long appliedTerm, long confIndex, ConfState confState) {
  static final SmView EMPTY = new SmView(0, 0, 0, ConfState.EMPTY);

  boolean isEmpty() {
    return appliedIndex == 0 && confState.equals(ConfState.EMPTY);
  }
}
