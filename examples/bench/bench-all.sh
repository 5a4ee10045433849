#!/usr/bin/env bash
# QuorumKV next to its peers, on this machine, with the peers harness's driver and workload
# (../shared/peers/README.md): for RUNS rounds, QuorumKV, etcd and RheaKV each run their bench.sh
# (fresh 3-node cluster per client count, put phase then linearizable get phase), back to back,
# the order rotating each round; then the median ops/s and p99 per workload and QuorumKV's ratio to
# each peer. Run it on a quiet machine: every system shares the same cores with the driver.
# Env: RUNS=3  SYSTEMS="quorumkv etcd rheakv"  CLIENTS="16 64 256"  DURATION=20  WARMUP=30  CONNS=1
#      (WARMUP is seconds of load before each phase, for every system alike; 30 because after 10 s
#      the JVMs are still compiling: docs/benchmarks.md, finding 32. The peers harness uses 2.)
#      DRIVER=peers|ours (QuorumKV's driver; default peers.Bench + QuorumKvPeersClient)
#      PEERS_SRC (default <repo>/../shared/peers; copied to a temp dir, it may be read-only)
#      RESULTS_DIR (default examples/target/bench-<UTC timestamp>)  KEEP_WORK=1 keeps the temp copy
#      EXTENDED=1 also records QuorumKV's mix and per-consistency get phases (our Bench;
#      EXTENDED_PHASES=get-lease for only some of them)
# QuorumKV-only measurements, each after the side by side (RUNS=0 skips that and the peers):
#      LATENCY=1 (latency.sh: 1 and 64 clients, entries per fsync, GC pauses), SCALE=1 (scale.sh:
#      1/4/16/64 partitions), IDLE=1 (idle.sh: 1,000 idle partitions), CATCHUP=1 (catchup.sh: a
#      follower restarted after WRITES puts); their lines go to RESULTS_DIR/<name>.jsonl
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/../env.sh"
RUNS="${RUNS:-3}"
SYSTEMS="${SYSTEMS:-quorumkv etcd rheakv}"
PEERS_SRC="${PEERS_SRC:-$QKV_ROOT/../shared/peers}"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="${RESULTS_DIR:-$QKV_ROOT/examples/target/bench-$TS}"
[[ "$RUNS" == 0 || -d "$PEERS_SRC" ]] || { echo "peers harness not found at $PEERS_SRC (set PEERS_SRC)" >&2; exit 1; }
WORK="$(mktemp -d -t quorumkv-bench-all.XXXXXX)"
cleanup() {
  if [[ "${KEEP_WORK:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$RESULTS_DIR"

echo "# building QuorumKV and the peers driver (copy in $WORK/peers)" >&2
qkv_build
if [[ "$RUNS" != 0 ]]; then
  cp -r "$PEERS_SRC" "$WORK/peers"
  rm -rf "$WORK/peers/results"  # keep the recorded runs out of the copy's way; ours go to RESULTS_DIR
  "$WORK/peers/driver/build.sh"
  export PEERS_DRIVER_JAR="$WORK/peers/driver/target/peers-driver-0.1.jar"
  export ADAPTER_DIR="$WORK/adapter"
  mkdir -p "$ADAPTER_DIR"
  javac -Xlint:all -Werror -d "$ADAPTER_DIR" -cp "$QKV_CP:$PEERS_DRIVER_JAR" "$HERE/QuorumKvPeersClient.java"
fi
export CLIENTS="${CLIENTS:-16 64 256}" DURATION="${DURATION:-20}" WARMUP="${WARMUP:-30}" CONNS="${CONNS:-1}"

read -r -a order <<<"$SYSTEMS"
failed=()
for run in $(seq 1 "$RUNS"); do
  n=${#order[@]}
  for k in $(seq 0 $((n - 1))); do
    sys="${order[$(( (k + run - 1) % n ))]}"
    out="$RESULTS_DIR/$sys-run$run.jsonl"
    echo "# run $run/$RUNS: $sys -> $out" >&2
    case "$sys" in
      quorumkv) script="$HERE/bench.sh" ;;
      etcd|rheakv) script="$WORK/peers/$sys/bench.sh" ;;
      *) echo "unknown system $sys (quorumkv, etcd, rheakv)" >&2; exit 1 ;;
    esac
    if ! OUT_FILE="$out" "$script" >/dev/null; then
      echo "# $sys run $run FAILED (its lines so far are in $out)" >&2
      failed+=("$sys-run$run")
    fi
  done
done
# The QuorumKV-only measurements, with their own client counts and durations (each script's
# defaults, documented at its top), not the side by side's CLIENTS/DURATION/WARMUP.
for tool in latency scale idle catchup; do
  flag="$(tr '[:lower:]' '[:upper:]' <<<"$tool")"
  [[ "${!flag:-0}" == 1 ]] || continue
  echo "# $tool.sh -> $RESULTS_DIR/$tool.jsonl" >&2
  if ! env -u CLIENTS -u DURATION -u WARMUP OUT_FILE="$RESULTS_DIR/$tool.jsonl" "$HERE/$tool.sh" >/dev/null; then
    echo "# $tool.sh FAILED (its lines so far are in $RESULTS_DIR/$tool.jsonl)" >&2
    failed+=("$tool")
  fi
done
echo "# results: $RESULTS_DIR" >&2
if [[ "$RUNS" != 0 ]]; then
  python3 "$HERE/ratio.py" "$RESULTS_DIR"/*-run*.jsonl
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed runs: ${failed[*]}" >&2
  exit 1
fi
