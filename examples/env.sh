# Sourced by examples/run-demo.sh, examples/qkv and examples/bench/*.sh: builds the examples module
# and what it depends on when a source is newer than the jar (quietly, skipping tests), then sets
# QKV_CP to its runtime classpath. Works in a clean clone (Maven fetches dependencies the first time).
QKV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
qkv_build() {
  local jar="$QKV_ROOT/examples/target/quorumkv-examples-0.1.0-SNAPSHOT.jar"
  local cpfile="$QKV_ROOT/examples/target/classpath.txt"
  if [[ "${QKV_FORCE_BUILD:-0}" != 1 && -f "$jar" && -f "$cpfile" ]] && [[ -z "$(cd "$QKV_ROOT" && find pom.xml raft storage transport core examples \
      \( -name target -prune \) -o \( -type f \( -name '*.java' -o -name 'pom.xml' -o -name '*.proto' -o -name '*.properties' \) -newer "$jar" -print \) | head -1)" ]]; then
    :
  else
    echo "building QuorumKV (mvn package -DskipTests; the first build downloads dependencies)..." >&2
    # Maven's output is shown only if the build fails (Debian's Maven prints stray colour codes even with -q).
    local log
    log="$(mktemp -t quorumkv-build.XXXXXX)"
    if ! (cd "$QKV_ROOT" && mvn -B -q -ntp -pl examples -am package -DskipTests) >"$log" 2>&1; then
      sed 's/\x1b\[[0-9;]*m//g' "$log" >&2
      rm -f "$log"
      echo "error: the build failed (Maven output above)" >&2
      return 1
    fi
    rm -f "$log"
  fi
  QKV_CP="$jar:$(cat "$cpfile")"
}
