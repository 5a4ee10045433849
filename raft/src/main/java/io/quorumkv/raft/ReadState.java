package io.quorumkv.raft;

/**
 * The answer to a {@link RawNode#readIndex(long)} request: once this node has applied up to
 * {@code index}, a read of its state machine reflects every write acknowledged before the
 * request was made (Raft thesis §6.4).
 *
 * @param index   the commit index the read must wait for
 * @param context the caller's request id, as given to {@code readIndex}
 */
public record ReadState(long index, long context) {}
