#!/usr/bin/env bash
# Runs the fuzz targets one after another, N seconds each (default 60):
#
#   fuzz/run.sh [seconds]                 every target
#   TARGETS="parser kafka" fuzz/run.sh 600
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). There is no nightly toolchain here, so the
# build uses RUSTC_BOOTSTRAP=1 (for the fuzz build only). Debug assertions and overflow checks
# are on (-a). The parser target runs under AddressSanitizer (simd-json is unsafe code); the
# others are safe Rust and run without a sanitizer, about three times faster.
#
# Inputs: the committed seeds in fuzz/corpus/<target> (only read) and fuzz/work/corpus/<target>
# (git-ignored), where new inputs go. Logs and CPU time go to fuzz/work/. A crash stops the
# script; the input is saved under fuzz/artifacts/<target>/ and the log's tail shows the
# violation and the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
all="framer parser edn echo unique_ids broadcast g_counter kafka txn_rw_register g_set pn_counter lin_kv txn_list_append"
export RUSTC_BOOTSTRAP=1
mkdir -p work/logs
for t in ${TARGETS:-$all}; do
  if [ "$t" = parser ]; then san=(-s address); else san=(-s none --target-dir target/nosan); fi
  mkdir -p "work/corpus/$t" "corpus/$t"
  log="work/logs/$t.log"
  echo "== $t: ${secs}s (log: fuzz/$log)"
  start=$(date +%s)
  if ! nice /usr/bin/time -f "$t cpu_s %U %S" -a -o work/cpu.log \
    cargo fuzz run -a "${san[@]}" "$t" "work/corpus/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  then
    tail -n 40 "$log"
    echo "== $t FAILED: the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$log" | tr '\n' ' '
  echo "($(($(date +%s) - start)) s wall)"
done
