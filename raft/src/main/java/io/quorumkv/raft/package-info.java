/**
 * The Raft consensus algorithm as a pure, deterministic object.
 *
 * <p>{@link io.quorumkv.raft.RawNode} is the whole public surface of the algorithm: it is driven
 * from outside by {@code tick()}, {@code step(Message)}, {@code propose(...)} and friends, and it
 * answers with a {@link io.quorumkv.raft.Ready} batch. It owns no threads, sockets, clocks or files;
 * randomness comes from a seeded generator in {@link io.quorumkv.raft.RaftConfig}. Everything else
 * in a node (disk, network, timers, the state machine) is a driver around it. This is what lets a
 * single thread run thousands of simulated clusters per second in the property tests.
 *
 * <p>The data types here ({@link io.quorumkv.raft.Entry}, {@link io.quorumkv.raft.HardState},
 * {@link io.quorumkv.raft.Message} and its records, {@link io.quorumkv.raft.Snapshot},
 * {@link io.quorumkv.raft.ConfState}, {@link io.quorumkv.raft.ConfChange}) are what the storage and
 * transport modules persist and carry.
 */
package io.quorumkv.raft;
