#!/usr/bin/env bash
# Start a 3-node QuorumKV cluster on 127.0.0.1 for benchmarks: three JVMs running ExampleNode with
# the production defaults (RocksDB, every write fsynced on a majority before it is acknowledged,
# 100 ms ticks, 3 hash partitions with leaders spread over the nodes), fresh data dirs under a new
# temp dir. Same conventions as ../shared/peers/*/run-cluster.sh: state (dir, pids, endpoints) in
# $QKV_STATE (default ${TMPDIR:-/tmp}/quorumkv-bench-cluster.env) for stop-cluster.sh; waits
# (bounded, 60 s) until every node answers /ready (a leader known for every partition).
# Usage: run-cluster.sh -> prints ENDPOINTS=host:port,... on success, exits non-zero on failure.
# Env: QKV_BASE_PORT (26790: nodes on +1..+3, metrics on +11..+13), QKV_PARTITIONS (3),
#      QKV_NODE_JAVA_OPTS (-Xms1g -Xmx1g -XX:+UseG1GC; "{id}" in it becomes the node id, e.g. for
#      -XX:StartFlightRecording=filename=/tmp/node-{id}.jfr), QKV_NODE_ARGS (more ExampleNode flags),
#      QKV_GC_LOG=1 (a GC log per node, $QKV_DIR/gc-node-N.log, decorated with wall-clock millis for
#      Bench's --node-gc-logs), QKV_BALANCE_WAIT (30: seconds to wait for balanced leaders; 0 skips),
#      QKV_PREFERRED_LEADERS (empty: leaders spread over the nodes; e.g. 1 or 1,2: --preferred-leaders
#      for every node, and the balance wait waits instead until every partition's leader is in the set).
# The state file also has PIDS, METRICS and GC_LOGS, comma-separated in node order, for Bench's
# --node-* flags; $QKV_DIR/start-node-N.sh starts node N again with the same flags (node-ctl.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck disable=SC1091
source "$HERE/../env.sh"
qkv_build
STATE="${QKV_STATE:-${TMPDIR:-/tmp}/quorumkv-bench-cluster.env}"
BASE="${QKV_BASE_PORT:-26790}"
if [[ -f "$STATE" ]]; then
  echo "state file $STATE exists: a cluster may be running; run stop-cluster.sh first" >&2
  exit 1
fi
DIR="$(mktemp -d -t quorumkv-bench.XXXXXX)"
PIDS=()
cleanup_on_fail() {
  echo "run-cluster.sh: failure, stopping started nodes (logs: $DIR)" >&2
  for f in "$DIR"/node-*.log; do [[ -f "$f" ]] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR" "$STATE"
}
trap cleanup_on_fail ERR INT TERM

PEERS=""; ENDPOINTS=""
for i in 1 2 3; do
  PEERS+="${PEERS:+,}$i=127.0.0.1:$((BASE + i))"
  ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:$((BASE + i))"
done
GC_LOGS=""
for i in 1 2 3; do
  opts="${QKV_NODE_JAVA_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC}"
  opts="${opts//\{id\}/$i}"
  if [[ "${QKV_GC_LOG:-0}" == 1 ]]; then
    opts+=" -Xlog:gc*:file=$DIR/gc-node-$i.log:timemillis,uptime,level,tags"
    GC_LOGS+="${GC_LOGS:+,}$DIR/gc-node-$i.log"
  fi
  # The command line goes in a script of its own, so that node-ctl.sh restarts the node as it was.
  cat >"$DIR/start-node-$i.sh" <<EOF
exec java $opts -cp "$QKV_CP" io.quorumkv.examples.ExampleNode \\
  --id $i --listen 127.0.0.1:$((BASE + i)) --peers $PEERS --data-dir "$DIR/node-$i" \\
  --cluster-id quorumkv --partitions ${QKV_PARTITIONS:-3} --metrics-port $((BASE + 10 + i)) \\
  ${QKV_PREFERRED_LEADERS:+--preferred-leaders $QKV_PREFERRED_LEADERS} ${QKV_NODE_ARGS:-} \\
  </dev/null >>"$DIR/node-$i.log" 2>&1
EOF
  nohup bash "$DIR/start-node-$i.sh" </dev/null >/dev/null 2>&1 &
  PIDS+=("$!")
done
{
  echo "QKV_DIR=$DIR"
  echo "QKV_PIDS=\"${PIDS[*]}\""
  echo "PIDS=$(IFS=,; echo "${PIDS[*]}")"
  echo "ENDPOINTS=$ENDPOINTS"
  echo "METRICS=http://127.0.0.1:$((BASE + 11))/metrics,http://127.0.0.1:$((BASE + 12))/metrics,http://127.0.0.1:$((BASE + 13))/metrics"
  echo "GC_LOGS=$GC_LOGS"
} >"$STATE"

# HTTP status of GET $2 on 127.0.0.1:$1 without curl (bash's /dev/tcp); 000 if nothing answers.
http_status() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || { echo 000; exit 0; }
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  read -r -t 8 line <&3 || line=""
  line="${line#HTTP/* }"; echo "${line%% *}"
) 2>/dev/null

for _ in $(seq 1 120); do
  ready=0
  for i in 1 2 3; do
    if [[ "$(http_status "$((BASE + 10 + i))" /ready)" == 200 ]]; then ready=$((ready + 1)); fi
  done
  if [[ $ready == 3 ]]; then
    break
  fi
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { echo "node pid $p died" >&2; false; }; done
  sleep 0.5
done
if [[ $ready != 3 ]]; then
  echo "cluster not ready after 60 s" >&2
  false
fi

# The leaders of the fresh cluster start mostly on whichever node won the first elections; leader
# balancing then moves each node to its share in a round or two (a round every 5 election
# timeouts, 5 s with the defaults; at most 32 transfers per node per round). Wait for that
# (bounded, QKV_BALANCE_WAIT; polled every 0.5 s, so it ends as soon as each node leads at most its
# share) so a benchmark does not measure the transfers: each one stalls a partition.
# With QKV_PREFERRED_LEADERS the nodes move every leadership onto the preferred nodes instead: wait
# until every partition's leader is one of them.
leaders_balanced() (
  exec 3<>"/dev/tcp/127.0.0.1/$((BASE + 11))" || exit 1
  printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  body="$(timeout 8 cat <&3)"
  leaders="$(sed -n 's/.*"leaders":{\([^}]*\)}.*/\1/p' <<<"$body" | tr ',' '\n' | cut -d: -f2)"
  [[ -n "$leaders" ]] || exit 1
  if [[ -n "${QKV_PREFERRED_LEADERS:-}" ]]; then
    # No leader (0 included) outside the set.
    ! grep -qvxF -f <(tr ',' '\n' <<<"$QKV_PREFERRED_LEADERS" | grep .) <<<"$leaders"
    exit
  fi
  share=$(( ($(wc -l <<<"$leaders") + 2) / 3 ))
  most="$(sort <<<"$leaders" | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')"
  (( most <= share )) && ! grep -qx 0 <<<"$leaders"
) 2>/dev/null
BALANCE_WAIT="${QKV_BALANCE_WAIT:-30}"
if (( BALANCE_WAIT > 0 )); then
  waited_from=$SECONDS
  for _ in $(seq 1 $((BALANCE_WAIT * 2))); do
    leaders_balanced && break
    sleep 0.5
  done
  wanted="balanced"
  [[ -z "${QKV_PREFERRED_LEADERS:-}" ]] || wanted="all on nodes $QKV_PREFERRED_LEADERS"
  if leaders_balanced; then
    echo "run-cluster.sh: leaders $wanted after $((SECONDS - waited_from)) s" >&2
  else
    echo "run-cluster.sh: leaders not $wanted after $BALANCE_WAIT s; going on" >&2
  fi
fi
trap - ERR INT TERM
echo "ENDPOINTS=$ENDPOINTS"
