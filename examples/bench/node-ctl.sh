#!/usr/bin/env bash
# Stop, kill or start again one node of the cluster run-cluster.sh started (same flags, same data
# dir), updating the PIDs in its state file. Bounded: a stop waits at most 15 s for the graceful
# close (then SIGKILL); a start waits at most 60 s for the node's /health.
# Usage: node-ctl.sh stop|kill|start N      Env: QKV_STATE (as run-cluster.sh)
set -euo pipefail
STATE="${QKV_STATE:-${TMPDIR:-/tmp}/quorumkv-bench-cluster.env}"
[[ $# == 2 && "$2" =~ ^[123]$ ]] || { echo "usage: node-ctl.sh stop|kill|start 1|2|3" >&2; exit 2; }
action=$1; n=$2
[[ -f "$STATE" ]] || { echo "no state file $STATE: no cluster" >&2; exit 1; }
# shellcheck disable=SC1090
source "$STATE"
read -r -a pids <<<"$QKV_PIDS"
pid="${pids[$((n - 1))]}"
save_pid() {
  pids[$((n - 1))]=$1
  sed -i -e "s/^QKV_PIDS=.*/QKV_PIDS=\"${pids[*]}\"/" -e "s/^PIDS=.*/PIDS=$(IFS=,; echo "${pids[*]}")/" "$STATE"
}
case "$action" in
  stop|kill)
    if [[ "$pid" != 0 ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$([[ $action == kill ]] && echo -9 || echo -TERM)" "$pid"
      for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    # 0 marks a stopped node (stop-cluster.sh and Bench's --node-pids skip it)
    save_pid 0
    echo "node $n ($action): pid $pid gone" >&2
    ;;
  start)
    if [[ "$pid" != 0 ]] && kill -0 "$pid" 2>/dev/null; then
      echo "node $n is running (pid $pid)" >&2; exit 1
    fi
    nohup bash "$QKV_DIR/start-node-$n.sh" </dev/null >/dev/null 2>&1 &
    new=$!
    save_pid "$new"
    port="$(sed -n "s/.*127.0.0.1:\([0-9]*\)\/metrics.*/\1/p" <<<"${METRICS//,/$'\n'}" | sed -n "${n}p")"
    for _ in $(seq 1 120); do
      code="$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /health HTTP/1.0\r\n\r\n' >&3 \
        && read -r -t 5 line <&3 && echo "$line") 2>/dev/null || true)"
      [[ "$code" == *" 200"* ]] && { echo "node $n started: pid $new" >&2; exit 0; }
      kill -0 "$new" 2>/dev/null || { echo "node $n died at start (log: $QKV_DIR/node-$n.log)" >&2; exit 1; }
      sleep 0.5
    done
    echo "node $n not healthy after 60 s" >&2; exit 1
    ;;
  *) echo "usage: node-ctl.sh stop|kill|start 1|2|3" >&2; exit 2 ;;
esac
