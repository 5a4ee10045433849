/**
 * Runnable programs around the QuorumKV API, each a picocli command with {@code --help}:
 *
 * <ul>
 *   <li>{@link io.quorumkv.examples.ExampleNode}: one node in its own JVM, with {@code /health},
 *       {@code /ready} and Prometheus {@code /metrics} on 127.0.0.1 ({@code examples/node});</li>
 *   <li>{@link io.quorumkv.examples.Demo}: three node JVMs, a leader killed with SIGKILL, recovery
 *       and a check that no acknowledged write was lost ({@code examples/run-demo.sh});</li>
 *   <li>{@link io.quorumkv.examples.Qkv}: the command-line client ({@code examples/qkv});</li>
 *   <li>{@link io.quorumkv.examples.Bench}: the closed-loop load generator with the peers
 *       harness's workload ({@code examples/bench/}).</li>
 * </ul>
 *
 * <p>They use only the public API of {@code io.quorumkv}. docs/operations.md describes them.
 */
package io.quorumkv.examples;
