#!/bin/bash
# Overload behaviour of the demo model (MiniLM, CPU) side by side: two server builds, alternating rounds, one at a time.
#   bash benchmarks/overload/run.sh OLD/sluice.dll NEW/sluice.dll [RATE] [SECONDS] [ROUNDS]
# Each round starts a build's `sluice serve` on its defaults in a fresh folder (the demo models; MiniLM: queue of 1024,
# 5 s queue timeout), drives it open-loop at RATE requests/s (default 100, about twice this 2-core box's peak) for SECONDS
# (default 15) with the NEW build's `sluice bench`, and keeps bench.csv. Prints one table row per run: successes/s, success
# p50/p99, failures and how long they took (p50/p99).
set -uo pipefail
OLD=$1; NEW=$2; RATE=${3:-100}; SECONDS_PER_RUN=${4:-15}; ROUNDS=${5:-2}
OUT=${OUT:-/tmp/overload}
rm -rf "$OUT"; mkdir -p "$OUT"
echo "| round | build | offered req/s | served req/s | p50 ms | p99 ms | failures | failure p50 ms | failure p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for which in old new; do
    dll=$OLD; [ $which = new ] && dll=$NEW
    dir=$OUT/$round-$which; mkdir -p "$dir"
    (cd "$dir" && exec dotnet "$dll" serve --http-port 18300 --grpc-port 18301 --metrics-port 0 \
      --address 127.0.0.1 > server.log 2>&1) &
    server=$!
    for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18300/v2/models/minilm/ready >/dev/null && break; sleep 1; done
    curl -sf http://127.0.0.1:18300/v2/models/minilm/ready >/dev/null || { echo "$which: minilm never became ready (see $dir/server.log)" >&2; kill $server; continue; }
    dotnet "$NEW" bench -u http://127.0.0.1:18300 -m minilm -r "$RATE" -d "${SECONDS_PER_RUN}s" --warmup 0s --max-trials 1 \
      --report "$dir" > "$dir/bench.txt" 2>&1
    kill $server; wait $server 2>/dev/null
    python3 - "$dir/bench.csv" "$round" "$which" <<'PY'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
f = lambda k: row.get(k) or "-"
print(f"| {sys.argv[2]} | {sys.argv[3]} | {float(row['sent_per_s']):.1f} | {float(row['requests_per_s']):.1f} | {f('p50_ms')} | {f('p99_ms')} | {row['failures']} | {f('failure_p50_ms')} | {f('failure_p99_ms')} |")
PY
  done
done
