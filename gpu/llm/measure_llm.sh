#!/bin/bash
# Issue 8 on the GPU in one device call, once the app and the CUDA provider are on the machine (gpu/README.md):
#   APP=/root/g/app bash gpu/llm/measure_llm.sh
# 1. writes a Llama-1B-shaped decoder (random fp16 weights, shared KV buffer for GroupQueryAttention) with GpuBench;
# 2. the Hugging Face transformers baseline (generate() batch 1 and static batch 64) and the card's bandwidth;
# 3. `sluice serve --device cuda` on it, driven by Sluice.LlmBench over the OpenAI streaming API at concurrency 1 and 64.
# Writes $OUT/llm_results.md, baseline.json, bench.json, server.log, measure.log.
# COMPARE_APP=/root/g/app-old (optional): afterwards ROUNDS (default 2) alternating rounds of both builds on the same
# card, each with the model its own GpuBench writes and its own Sluice.LlmBench, into $OUT/ab/ and $OUT/ab.md.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
APP=${APP:-/root/g/app}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/llm}
PROMPT=${PROMPT:-64}
NEW=${NEW:-128}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-20}
mkdir -p "$OUT" "$WORK"
export DOTNET_gcServer=0 PYTHONUNBUFFERED=1
LOG=$OUT/measure.log
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
log "card: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"

REPO=$WORK/repo
if [ ! -f "$REPO/llama1b/1/model.onnx" ]; then
  log "writing the Llama-1B-shaped model"
  write_llama1b "$APP" "$REPO" "$LOG" || log "model write failed"
fi
llama1b_config "$REPO" "${CUDA_GRAPH:-true}"
ls -la "$REPO/llama1b" "$REPO/llama1b/1" >>"$LOG" 2>&1

log "Hugging Face baseline"
timeout 400 python3 "$HERE/hf_baseline.py" --out "$OUT/baseline.json" --prompt $PROMPT --new $NEW --batch 64 >>"$LOG" 2>&1 || log "baseline failed"

serve_and_bench() {   # $1 = cuda_graph true|false, $2 = app folder, $3 = where the results go, $4 = repository (default $REPO); writes bench.json (c1 + c64) and metrics_c1.txt / metrics_c64.txt
  local app=$2 dest=$3 repo=${4:-$REPO}
  mkdir -p "$dest"
  sed -i "s/cuda_graph: .*/cuda_graph: $1/" "$repo/llama1b/config.yaml"
  log "sluice serve --device cuda (cuda_graph $1, $app)"
  PORT=18000
  "$app/sluice" serve --model-repository "$repo" --device cuda --http-port $PORT --grpc-port 18001 --metrics-port 18002 \
    --address 127.0.0.1 > "$dest/server_graph_$1.log" 2>&1 &
  SERVER=$!
  for i in $(seq 1 180); do curl -sf http://127.0.0.1:$PORT/v1/models/llama1b >/dev/null && break; sleep 1; done
  curl -s http://127.0.0.1:$PORT/v1/models >>"$LOG"; echo >>"$LOG"
  for c in 1 64; do
    log "LlmBench concurrency $c"
    timeout 150 "$app/Sluice.LlmBench" --url http://127.0.0.1:$PORT --model llama1b --vocab 32000 --concurrency $c \
      --seconds $SECONDS_PER_LEVEL --prompt $PROMPT --max-tokens $NEW --json "$dest/bench_c$c.json" 2>>"$LOG" | tee -a "$dest/bench.md" | tee -a "$LOG"
    curl -s http://127.0.0.1:18002/metrics | grep -E "^sluice_llm|^nv_gpu_memory" > "$dest/metrics_c$c.txt"
  done
  nvidia-smi --query-gpu=memory.used,memory.total --format=csv >> "$LOG"
  kill $SERVER; wait $SERVER 2>/dev/null
  python3 -c "import json,sys; r=[json.load(open(f))[0] for f in sys.argv[1:]]; json.dump(r, open('$dest/bench.json','w'))" "$dest/bench_c1.json" "$dest/bench_c64.json"
}
serve_and_bench ${CUDA_GRAPH:-true} "$APP" "$OUT"
if [ ! -s "$OUT/bench.json" ]; then
  log "no result with CUDA graphs: again without"
  serve_and_bench false "$APP" "$OUT"
fi
python3 "$HERE/report_llm.py" "$OUT/baseline.json" "$OUT/bench.json" > "$OUT/llm_results.md" 2>>"$LOG"
cat "$OUT/llm_results.md"

if [ -n "${COMPARE_APP:-}" ]; then
  # Side by side: this build against COMPARE_APP, alternating, same card. Each build serves the model its own GpuBench
  # writes (same shape, seed and weights; a newer writer may add outputs the older server would not bind).
  COMPARE_REPO=$WORK/repo-compare
  write_llama1b "$COMPARE_APP" "$COMPARE_REPO" "$LOG" || log "compare model write failed"
  cp "$REPO/llama1b/config.yaml" "$COMPARE_REPO/llama1b/config.yaml"
  for round in $(seq 1 ${ROUNDS:-2}); do
    for which in compare this; do
      if [ $which = compare ]; then
        serve_and_bench ${CUDA_GRAPH:-true} "$COMPARE_APP" "$OUT/ab/r${round}_$which" "$COMPARE_REPO"
      else
        serve_and_bench ${CUDA_GRAPH:-true} "$APP" "$OUT/ab/r${round}_$which"
      fi
    done
  done
  python3 - "$OUT/ab" > "$OUT/ab.md" <<'PY'
import json, os, sys, re
root = sys.argv[1]
def metric(path, name):
    total = {}
    for line in open(path):
        m = re.match(r'^' + name + r'_(sum|count)\{[^}]*\} (\S+)', line)
        if m: total[m.group(1)] = float(m.group(2))
    return total
print("| round | build | c1 tok/s | c1 ITL p50 | c64 tok/s | c64 ITL p50 | c64 TTFT p50 | mean decode step (c1+c64 run) | mean prefill step |")
print("|---|---|---|---|---|---|---|---|---|")
for d in sorted(os.listdir(root)):
    try:
        r = {x["Concurrency"]: x for x in json.load(open(os.path.join(root, d, "bench.json")))}
        dec = metric(os.path.join(root, d, "metrics_c64.txt"), "sluice_llm_decode_step_time_seconds")
        pre = metric(os.path.join(root, d, "metrics_c64.txt"), "sluice_llm_prefill_step_time_seconds")
        step = lambda t: f"{1000 * t['sum'] / t['count']:.2f} ms" if t.get('count') else "-"
        rnd, which = d.split("_", 1)
        print(f"| {rnd} | {which} | {r[1]['TokensPerSecond']:.0f} | {r[1]['itl_p50_ms']:.2f} ms | {r[64]['TokensPerSecond']:.0f} | {r[64]['itl_p50_ms']:.2f} ms | {r[64]['ttft_p50_ms']:.1f} ms | {step(dec)} | {step(pre)} |")
    except Exception as e:
        print(f"| {d} | failed: {e} | | | | | | | |")
PY
  cat "$OUT/ab.md" | tee -a "$LOG"
fi
