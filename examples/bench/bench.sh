#!/usr/bin/env bash
# QuorumKV 3-node benchmark, the same shape as ../shared/peers/etcd/bench.sh: for each client count a
# fresh cluster (run-cluster.sh) -> put phase -> linearizable get phase -> cluster stopped and deleted.
# One JSON line per phase on stdout (logs on stderr).
# Env: CLIENTS="16 64 256"  DURATION=20  WARMUP=2  CONNS=1  EXTRA_ARGS (more driver args)  OUT_FILE
#      DRIVER=peers (peers.Bench + QuorumKvPeersClient; needs PEERS_DRIVER_JAR and ADAPTER_DIR, as
#             bench-all.sh sets them) or ours (io.quorumkv.examples.Bench with the same flags)
#      EXTENDED=1 also runs our Bench's phases mix,get-lease,get-follower,get-stale on the same cluster
#      (EXTENDED_PHASES: another comma-separated list of them)
#      DRIVER_JAVA_OPTS (default as in peers/driver/env.sh)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/../env.sh"
qkv_build
CLIENTS="${CLIENTS:-16 64 256}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-1}"
DRIVER="${DRIVER:-peers}"
DRIVER_JAVA_OPTS="${DRIVER_JAVA_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn}"
LABEL="quorumkv-3node-fsync-p${QKV_PARTITIONS:-3}"
if [[ "$DRIVER" == peers ]]; then
  [[ -f "${PEERS_DRIVER_JAR:-}" && -d "${ADAPTER_DIR:-}" ]] || {
    echo "DRIVER=peers needs PEERS_DRIVER_JAR and ADAPTER_DIR (run bench-all.sh, or DRIVER=ours)" >&2; exit 1; }
  # QuorumKV's classpath first: its netty/protobuf win over anything the driver jar could bring.
  DRIVER_CMD=(peers.Bench --system class:io.quorumkv.examples.bench.QuorumKvPeersClient)
  DRIVER_CP="$ADAPTER_DIR:$QKV_CP:$PEERS_DRIVER_JAR"
elif [[ "$DRIVER" == ours ]]; then
  DRIVER_CMD=(io.quorumkv.examples.Bench --system quorumkv --phases put,get --progress lines)
  DRIVER_CP="$QKV_CP"
else
  echo "DRIVER must be peers or ours, was $DRIVER" >&2; exit 1
fi
DRIVER_PID=""
cleanup() {
  set +e
  if [[ -n "$DRIVER_PID" ]]; then kill "$DRIVER_PID" 2>/dev/null; wait "$DRIVER_PID" 2>/dev/null; fi
  "$HERE/stop-cluster.sh" >&2 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "# quorumkv: $(git -C "$QKV_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), driver $DRIVER; $(date -u +%FT%TZ)" >&2
run_driver() {
  # bounded: phases x (warmup + duration) + slack
  local phases=$1; shift
  local limit=$(( phases * (${WARMUP%.*} + ${DURATION%.*} + 1) + 90 ))
  # shellcheck disable=SC2086
  timeout "$limit" java $DRIVER_JAVA_OPTS -cp "$DRIVER_CP" "$@" \
    > >(tee -a "${OUT_FILE:-/dev/null}") &
  DRIVER_PID=$!
  wait "$DRIVER_PID"
  DRIVER_PID=""
}
for c in $CLIENTS; do
  EP_LINE="$("$HERE/run-cluster.sh" | grep '^ENDPOINTS=')"
  EP="${EP_LINE#ENDPOINTS=}"
  # shellcheck disable=SC2086
  run_driver 2 "${DRIVER_CMD[@]}" --endpoints "$EP" --clients "$c" --conns "$CONNS" --duration "$DURATION" \
    --warmup "$WARMUP" --label "$LABEL" ${EXTRA_ARGS:-}
  if [[ "${EXTENDED:-0}" == 1 ]]; then
    # shellcheck disable=SC2086
    DRIVER_CP="$QKV_CP" run_driver 4 io.quorumkv.examples.Bench --system quorumkv --progress lines \
      --phases "${EXTENDED_PHASES:-mix,get-lease,get-follower,get-stale}" --endpoints "$EP" --clients "$c" --conns "$CONNS" \
      --duration "$DURATION" --warmup "$WARMUP" --label "$LABEL" ${EXTRA_ARGS:-}
  fi
  "$HERE/stop-cluster.sh" >&2
done
