#!/bin/bash
# The request path alone on the GPU machine's CPUs: how long a gRPC round trip takes there, and which runtime settings
# shorten it. Needs only the app (no CUDA provider, no GPU): APP=/root/g/app bash gpu/path_check.sh
# 1. pingpong.py: a loopback TCP round trip between two processes (the cost of the wake-ups every hop pays).
# 2. A BERT-shaped stub model (GpuBench stub-bert: inputs and outputs of BERT, next to no compute) served on the CPU, one
#    instance, max_batch_size 32, 500 µs delay; GpuBench at concurrency 1 (timing trailers: server vs outside) and at
#    concurrency 32 on 1 and 4 connections (statistics endpoint), once per server setting, restarting the server each time.
# Writes $OUT/path/path.jsonl and $OUT/path/path.log.
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT/path"; RAW=$OUT/path/path.jsonl; LOG=$OUT/path/path.log; WORK=${WORK:-/root/g/path}
source "$HERE/common.sh"
: > "$RAW"
log "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
python3 "$HERE/pingpong.py" | tee -a "$RAW"
REPO=$WORK/repo; rm -rf "$REPO"; mkdir -p "$REPO/stub/1"
"$APP/GpuBench" stub-bert --out "$REPO/stub/1/model.onnx" >> "$LOG"
printf 'max_batch_size: 32\ndynamic_batching:\n  max_queue_delay_microseconds: 500\ninstance_group: [ { kind: KIND_CPU, count: 1 } ]\n' > "$REPO/stub/config.yaml"
MODELS_SERVED=stub
variant() {   # label, then env assignments and server flags after --
  local label=$1; shift; local envs=(); while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  ( cd "$WORK" && env "${envs[@]}" "$APP/sluice" serve --model-repository "$REPO" --address 127.0.0.1 --http-port 8000 --grpc-port 8001 \
      --metrics-port 8002 --data-dir "$WORK/data" "$@" ) > "$WORK/server-$label.log" 2>&1 &
  local server=$!
  wait_ready $server 60 || { log "$label: not ready"; kill $server; return; }
  log "$label: ${envs[*]} $*"
  # Warm the request path (tiered JIT) before measuring.
  env "${envs[@]}" timeout 60 "$APP/GpuBench" grpc --port 8001 --model stub --concurrency 32 --seconds 4 --warmup 0 > /dev/null 2>>"$LOG"
  env "${envs[@]}" timeout 60 "$APP/GpuBench" grpc --port 8001 --model stub --concurrency 1 --seconds 10 --requests 2000 --timing --label "$label" 2>>"$LOG" | tee -a "$RAW"
  for ch in 1 4; do
    env "${envs[@]}" timeout 60 "$APP/GpuBench" grpc --port 8001 --model stub --concurrency 32 --channels $ch --seconds 5 --warmup 64 \
      --stats-port 8000 --label "$label" 2>>"$LOG" | tee -a "$RAW"
  done
  kill $server; wait $server 2>/dev/null
}
variant default --
variant inline-io -- --inline-io
variant spin DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=5000 --
variant gcserver DOTNET_gcServer=1 --
variant default-again --
python3 - "$RAW" <<'PY' | tee "$OUT/path/path.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for r in rows:
    if r.get("mode") == "pingpong":
        print(f"loopback TCP round trip between two processes: p50 {r['rtt_us']['p50']} us, p99 {r['rtt_us']['p99']} us\n")
print("| setting | concurrency | channels | items/s | latency p50 / p99 ms | server p50 ms | outside p50 ms | batch |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    if r.get("mode") != "grpc" or "error" in r:
        continue
    st = r.get("server_stats_mean") or {}
    server = r["server_total_ms"]["p50"] if r.get("server_total_ms") else st.get("request_ms")
    outside = r["outside_server_ms"]["p50"] if r.get("outside_server_ms") else None
    batch = r["server_batch_size"]["mean"] if r.get("server_batch_size") else st.get("batch_size")
    print(f"| {r['label']} | {r['concurrency']} | {r['channels']} | {r['items_per_s']:.0f} | {r['latency_ms']['p50']:.3f} / {r['latency_ms']['p99']:.3f} | "
          f"{server} | {outside} | {batch} |")
PY
