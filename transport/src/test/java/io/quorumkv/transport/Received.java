package io.quorumkv.transport;

import io.quorumkv.raft.Message;

/** One message as a test handler saw it. */
record Received(long from, long group, Message message, long nanos) {}
