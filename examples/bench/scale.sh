#!/usr/bin/env bash
# Scaling with Raft groups: the same put workload (64 clients, 16-byte keys over 100,000 keys,
# 256-byte values) on a fresh 3-node cluster with 1, 4, 16 and 64 hash partitions in turn.
# Throughput should not fall as groups are added. One JSON line per partition count (label
# scale-pN, with per-node fsyncs/s, entries per fsync, messages/s, CPU and GC pauses). About
# 8-9 min with the defaults.
# Env: PARTITIONS="1 4 16 64"  CLIENTS=64  DURATION=10  WARMUP=90  BALANCE_WAIT=60 (at most, in
#      seconds: the wait ends as soon as each node leads at most its share, which leader balancing
#      reaches in one or two rounds of 5 s; 64 partitions' first elections leave most leaders on one
#      node)  OUT_FILE  QKV_STATE  QKV_BASE_PORT
#      QKV_PREFERRED_LEADERS (e.g. 1: every leader on node 1; see run-cluster.sh)
# Each record has the leaderships per node at the start and end of its measured phase
# (leaders_start, leaders_end, as node 1 sees them) and each node's balancing_transfers during it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/lib.sh"
qkv_build
PARTITIONS="${PARTITIONS:-1 4 16 64}"; CLIENTS="${CLIENTS:-64}"
# 90 s of warm-up, as in the side by side: on two cores under this load the JIT is still compiling
# after 30 s at 16 and 64 partitions (docs/benchmarks.md, finding 66).
DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-90}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
echo "# scale: quorumkv $(commit_label), partitions $PARTITIONS, $CLIENTS clients; $(date -u +%FT%TZ)" >&2
for p in $PARTITIONS; do
  QKV_PARTITIONS=$p QKV_BALANCE_WAIT="${BALANCE_WAIT:-60}" start_cluster
  run_bench $(( WARMUP + DURATION + 60 )) --phases put --clients "$CLIENTS" --duration "$DURATION" \
    --warmup "$WARMUP" --label "scale-p$p"
  "$HERE/stop-cluster.sh" >&2
done
