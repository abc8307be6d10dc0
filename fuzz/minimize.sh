#!/usr/bin/env bash
# Folds what fuzz/run.sh found into the committed seed corpus, kept small:
#
#   fuzz/minimize.sh [max files per target]     default 40
#
# libFuzzer's set-cover merge picks a small subset of fuzz/corpus/<t> + fuzz/work/corpus/<t>
# with the same coverage; if that is still over the cap, the largest inputs are kept (longer
# scripts reach deeper states).
set -euo pipefail
cd "$(dirname "$0")"
max=${1:-40}
all="framer parser echo unique_ids broadcast g_counter kafka txn_rw_register g_set pn_counter lin_kv txn_list_append"
export RUSTC_BOOTSTRAP=1
for t in ${TARGETS:-$all}; do
  if [ "$t" = parser ]; then san=(-s address); else san=(-s none --target-dir target/nosan); fi
  new="work/merged/$t"
  rm -rf "$new" && mkdir -p "$new" "work/corpus/$t" "corpus/$t"
  nice cargo fuzz run -a "${san[@]}" "$t" "$new" "corpus/$t" "work/corpus/$t" -- \
    -set_cover_merge=1 >"work/logs/$t.merge.log" 2>&1
  rm -f "corpus/$t"/*
  # Not `ls | head`: under pipefail, ls dying of SIGPIPE would end the script.
  mapfile -t largest < <(ls -S "$new")
  for f in "${largest[@]:0:$max}"; do cp "$new/$f" "corpus/$t/"; done
  echo "$t: $(ls "$new" | wc -l) after merge, $(ls "corpus/$t" | wc -l) kept"
done
