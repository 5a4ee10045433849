#!/usr/bin/env bash
# Builds the storage module (offline if possible) and runs LogBenchmark with the given flags.
# Example: storage/bench/run-log-benchmark.sh --mode log --appenders 64 --seconds 5 --dir /tmp/qkv
set -euo pipefail
cd "$(dirname "$0")/../.."
# Always rebuild: a stale class would measure something else. SKIP_BUILD=1 for repeated runs.
if [[ -z "${SKIP_BUILD:-}" || ! -f storage/target/bench-classpath.txt ]]; then
  mvn -B -q -ntp -o -Dstyle.color=never -pl storage -am verify -DskipTests \
    dependency:build-classpath -Dmdep.outputFile=target/bench-classpath.txt \
    -Dmdep.includeScope=test >/dev/null
fi
exec java -cp "storage/target/test-classes:storage/target/classes:$(cat storage/target/bench-classpath.txt)" \
  io.quorumkv.storage.LogBenchmark "$@"
