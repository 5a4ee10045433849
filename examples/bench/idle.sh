#!/usr/bin/env bash
# What idle Raft groups cost: a fresh 3-node cluster with IDLE_GROUPS hash partitions and no client
# traffic. After SETTLE seconds (elections, leader balancing, JIT) the nodes are observed for
# DURATION seconds: CPU per node from /proc, Raft messages/s on the wire and heartbeat frames/s
# from the nodes' metrics, GC pauses; then each node's live heap after a full GC (jcmd
# GC.class_histogram). One JSON line (op "idle") per group count. About 1.5 min per count.
# Env: IDLE_GROUPS="1000" (e.g. "3 1000" for a baseline)  SETTLE=30  DURATION=20  OUT_FILE  QKV_STATE
#      QKV_BASE_PORT  IDLE_DOWN (empty; e.g. 3: that node is killed once the cluster is up, so the
#      partitions it led elect new leaders and it lags behind in all of them)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/lib.sh"
qkv_build
GROUPS_LIST="${IDLE_GROUPS:-1000}"; SETTLE="${SETTLE:-30}"; DURATION="${DURATION:-20}"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
echo "# idle: quorumkv $(commit_label), groups $GROUPS_LIST; $(date -u +%FT%TZ)" >&2
for g in $GROUPS_LIST; do
  # No wait for balanced leaders: with 1,000 groups that takes minutes; the settle time covers
  # the first transfers and the rest is part of what an idle cluster does.
  QKV_PARTITIONS=$g QKV_BALANCE_WAIT=0 start_cluster
  if [[ -n "${IDLE_DOWN:-}" ]]; then
    "$HERE/node-ctl.sh" kill "$IDLE_DOWN"
  fi
  run_bench $(( SETTLE + DURATION + 180 )) --phases idle --node-heap --duration "$DURATION" \
    --warmup "$SETTLE" --label "idle-p$g${IDLE_DOWN:+-node$IDLE_DOWN-down}"
  "$HERE/stop-cluster.sh" >&2
done
