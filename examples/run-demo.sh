#!/usr/bin/env bash
# The QuorumKV demo: builds what it needs, then starts a three-node cluster on 127.0.0.1 (three
# JVMs), writes and reads keys at every consistency level, kills the leader with kill -9, checks
# that no acknowledged write was lost, restarts the node, and stops everything. Exit code 0 only if
# every check passed. Options: examples/run-demo.sh --help
set -euo pipefail
# shellcheck disable=SC1091
source "$(cd "$(dirname "$0")" && pwd)/env.sh"
qkv_build
# exec: Ctrl-C reaches the demo's JVM directly; its shutdown hook stops the nodes and removes the temp dir.
exec java ${DEMO_JAVA_OPTS:--Xmx256m -XX:+UseSerialGC} -cp "$QKV_CP" io.quorumkv.examples.Demo "$@"
