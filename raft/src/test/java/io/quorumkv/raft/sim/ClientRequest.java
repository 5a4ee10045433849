package io.quorumkv.raft.sim;

import io.quorumkv.testkit.Op;

/**
 * A client's request to one node: a register operation, identified by {@code requestId} across
 * its attempts at different nodes.
 */
record ClientRequest(long requestId, SimClient client, Op.F f, String key, String value, String expected) {

  /** The log command of a write; reads are never logged. */
  Command command() {
    return new Command(requestId, f, key, value, expected);
  }
}
