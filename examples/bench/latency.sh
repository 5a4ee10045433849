#!/usr/bin/env bash
# Latency at 1 client against the physical floor (one loopback round trip ~56 us, one fsync
# ~0.1 ms: a durable replicated write cannot complete under ~0.25 ms), and the same at 64
# clients with entries per fsync and fsyncs/s per node (the leaders' log writers) and the GC
# pauses of every node and of the driver during each phase beside p99/p99.9/p99.99.
# One fresh 3-node cluster (production defaults, 3 partitions), phases put and get
# (linearizable) at each client count. One JSON line per phase on stdout. About 2.5 min.
# Before the measured phases, PRIME seconds of 64-client puts then gets (not reported) warm the
# nodes' JIT: a fresh JVM at 1 client for 5 s is still compiling, and measured its compiler, not
# the floor (docs/benchmarks.md, finding 80: 152 % of a core for 214 puts/s).
# Env: CLIENTS=1,64  DURATION=10  WARMUP=5  PRIME=60 (0: none)  QKV_PARTITIONS (3)  OUT_FILE  QKV_STATE
#      QKV_BASE_PORT
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/lib.sh"
qkv_build
CLIENTS="${CLIENTS:-1,64}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-5}"; PRIME="${PRIME:-60}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
echo "# latency: quorumkv $(commit_label), clients $CLIENTS; $(date -u +%FT%TZ)" >&2
start_cluster
if (( PRIME > 0 )); then
  half=$(( (PRIME + 1) / 2 ))
  OUT_FILE=/dev/null run_bench $(( PRIME + 90 )) --phases put,get --clients 64 --duration "$half" --warmup 0 \
    --label latency-prime >&2
fi
n=$(( $(tr ',' '\n' <<<"$CLIENTS" | wc -l) * 2 ))
run_bench $(( n * (WARMUP + DURATION + 5) + 60 )) --phases put,get --clients "$CLIENTS" \
  --duration "$DURATION" --warmup "$WARMUP" --label "latency-p${QKV_PARTITIONS:-3}"
