#!/usr/bin/env bash
# Browser check for `glomers serve`: builds a small store of real runs (one per verdict, plus a
# half-written run and an interrupted one), serves it, and drives headless Chromium over the
# index, a workload filter and the run pages (scripts/browser-check/check.mjs). Fails on any
# console error, failed request or HTTP error. Saves screenshots.
#
# usage: scripts/browser-check.sh [SCREENSHOT_DIR]   (default target/browser-check)
#   GLOMERS=path/to/glomers   the binary to use (default: target/release/glomers, built if absent)
#
# Installs what it lacks: Debian's chromium (apt-get) and playwright-core (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
shots="${1:-target/browser-check}"
start=$(date +%s.%N)

if ! command -v chromium >/dev/null 2>&1; then
  echo "browser-check: installing Debian's chromium" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d scripts/browser-check/node_modules/playwright-core ]; then
  echo "browser-check: installing playwright-core (npm ci)" >&2
  (cd scripts/browser-check && npm ci --no-audit --no-fund --silent)
fi
glomers="${GLOMERS:-target/release/glomers}"
if [ ! -x "$glomers" ]; then
  cargo build --release --locked --quiet --bin glomers
fi
installed=$(date +%s.%N)

store=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$store"
}
trap cleanup EXIT

# Real runs, one per verdict. The exit status is the verdict (1 invalid, 2 unknown).
t() { "$glomers" test --store "$store" --quiet "$@" >/dev/null || [ $? -le 2 ]; }
t -w echo --time-limit 3 --rate 20
t -w unique-ids --time-limit 3 --rate 50 --node-count 3
t -w g-counter --time-limit 5 --rate 20 --node-count 3
t -w txn-rw-register --time-limit 3 --rate 20 --node-count 2
t -w kafka --time-limit 5 --rate 20 --availability total
t -w broadcast --node-count 5 --time-limit 10 --rate 50 --latency 20 --nemesis partition --log-net-send
# A run that died while writing results.json, and one that never wrote it.
now=$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$store/broadcast/$now.998Z/node-logs" "$store/g-counter/$now.999Z/node-logs"
head -c 150 "$store/broadcast/latest/results.json" >"$store/broadcast/$now.998Z/results.json"
echo "[n1] started" >"$store/g-counter/$now.999Z/node-logs/n1.log"

out=$(mktemp)
"$glomers" serve --store "$store" --port 0 >"$out" 2>&1 &
server=$!
for _ in $(seq 50); do
  url=$(grep -o 'http://[0-9.:]*/' "$out" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "browser-check: the server did not start:" >&2; cat "$out" >&2; exit 1; }
base=${url%/}

runs=()
for w in broadcast kafka txn-rw-register; do
  runs+=("/run/$w/$(readlink "$store/$w/latest")")
done
runs+=("/run/broadcast/$now.998Z" "/run/g-counter/$now.999Z")
node scripts/browser-check/check.mjs "$base" "$shots" "${runs[@]}"

# Then, without screenshots (these files are made up): a run with the files the bench's views
# add (diagram, timeline, more plots, EDN results, text history), to check that the run page
# embeds them without a console error.
fixture="echo/$now.997Z"
cp -r "$store/echo/$(readlink "$store/echo/latest")" "$store/$fixture"
svg='<svg xmlns="http://www.w3.org/2000/svg" width="300" height="120"><line x1="10" y1="10" x2="290" y2="110" stroke="black"><title>{"type":"echo"}</title></line></svg>'
for f in messages.svg rate.svg latency-raw.svg latency-quantiles.svg; do echo "$svg" >"$store/$fixture/$f"; done
cat >"$store/$fixture/timeline.html" <<'HTML'
<!DOCTYPE html>
<html><head><meta charset="utf-8"/><title>timeline</title><style>.op{background:#6db6fe}</style></head>
<body><div class="op" title="ok echo">0 ok echo</div><script>document.body.dataset.ran = "1";</script></body></html>
HTML
echo '{:valid? true}' >"$store/$fixture/results.edn"
printf '0\t:invoke\t:echo\t"x"\n0\t:ok\t:echo\t"x"\n' >"$store/$fixture/history.txt"
node scripts/browser-check/check.mjs "$base" - "/run/$fixture"

end=$(date +%s.%N)
awk -v s="$start" -v i="$installed" -v e="$end" 'BEGIN {
  printf "browser-check: %.1f s in all (%.1f s installing and building, %.1f s runs and browser)\n", e - s, i - s, e - i }'
