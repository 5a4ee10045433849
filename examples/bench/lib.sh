# Sourced by the measurement scripts (latency.sh, scale.sh, idle.sh, catchup.sh): runs the Bench
# driver against the cluster run-cluster.sh started, with the probes its state file offers (the
# nodes' /metrics, PIDs and GC logs), bounded in time, its JSON lines on stdout (and OUT_FILE).
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
STATE="${QKV_STATE:-${TMPDIR:-/tmp}/quorumkv-bench-cluster.env}"
export QKV_STATE="$STATE"
DRIVER_JAVA_OPTS="${DRIVER_JAVA_OPTS:--Xms1g -Xmx1g -XX:+UseG1GC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn}"
BENCH_PID=""

bench_cleanup() {
  set +e
  if [[ -n "$BENCH_PID" ]]; then kill "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null; fi
  "$(dirname "${BASH_SOURCE[0]}")/stop-cluster.sh" >&2
}

# start_cluster: a fresh cluster with a GC log per node; QKV_PARTITIONS etc. pass through.
start_cluster() {
  QKV_GC_LOG=1 "$(dirname "${BASH_SOURCE[0]}")/run-cluster.sh" >/dev/null
}

# run_bench LIMIT_SECONDS BENCH_ARGS...: Bench with --endpoints and the --node-* probes of the
# running cluster; killed after LIMIT_SECONDS.
run_bench() {
  local limit=$1; shift
  # shellcheck disable=SC1090
  source "$STATE"
  # shellcheck disable=SC2086
  timeout "$limit" java $DRIVER_JAVA_OPTS -cp "$QKV_CP" io.quorumkv.examples.Bench --system quorumkv \
    --progress lines --endpoints "$ENDPOINTS" --node-metrics "$METRICS" --node-pids "$PIDS" \
    ${GC_LOGS:+--node-gc-logs "$GC_LOGS"} "$@" > >(tee -a "${OUT_FILE:-/dev/null}") &
  BENCH_PID=$!
  wait "$BENCH_PID"
  BENCH_PID=""
}

commit_label() {
  git -C "$QKV_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'
}
