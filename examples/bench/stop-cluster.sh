#!/usr/bin/env bash
# Stop the cluster started by run-cluster.sh (by PID from the state file: SIGTERM, so each node
# closes gracefully; SIGKILL after 15 s) and delete its data. Env: QKV_STATE, KEEP_DATA=1 keeps the
# temp dir (node logs and data).
set -uo pipefail
STATE="${QKV_STATE:-${TMPDIR:-/tmp}/quorumkv-bench-cluster.env}"
[[ -f "$STATE" ]] || { echo "no state file $STATE: nothing to stop" >&2; exit 0; }
# shellcheck disable=SC1090
source "$STATE"
# node-ctl.sh marks a stopped node with pid 0 (never signal it: kill 0 is the whole process group)
QKV_PIDS="$(tr ' ' '\n' <<<"$QKV_PIDS" | grep -vx 0 | tr '\n' ' ')"
for p in $QKV_PIDS; do kill "$p" 2>/dev/null || true; done
for _ in $(seq 1 75); do
  alive=0; for p in $QKV_PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
  [[ $alive == 0 ]] && break; sleep 0.2
done
for p in $QKV_PIDS; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done
if [[ "${KEEP_DATA:-0}" != 1 && -n "${QKV_DIR:-}" && "$QKV_DIR" == *quorumkv-bench.* ]]; then rm -rf "$QKV_DIR"; fi
rm -f "$STATE"
echo "stopped quorumkv pids: $QKV_PIDS"
