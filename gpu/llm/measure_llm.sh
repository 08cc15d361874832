#!/bin/bash
# Issue 8 on the GPU in one device call, once the app and the CUDA provider are on the machine (gpu/README.md):
#   APP=/root/g/app bash gpu/llm/measure_llm.sh
# 1. writes a Llama-1B-shaped decoder (random fp16 weights, shared KV buffer for GroupQueryAttention) with GpuBench;
# 2. the Hugging Face transformers baseline (generate() batch 1 and static batch 64) and the card's bandwidth;
# 3. `sluice serve --device cuda` on it, driven by Sluice.LlmBench over the OpenAI streaming API at concurrency 1 and 64.
# Writes $OUT/llm_results.md, baseline.json, bench.json, server.log, measure.log.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APP=${APP:-/root/g/app}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/llm}
PROMPT=${PROMPT:-64}
NEW=${NEW:-128}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-20}
mkdir -p "$OUT" "$WORK"
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export DOTNET_gcServer=0 PYTHONUNBUFFERED=1
LOG=$OUT/measure.log
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
log "card: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"

REPO=$WORK/repo
if [ ! -f "$REPO/llama1b/1/model.onnx" ]; then
  log "writing the Llama-1B-shaped model"
  mkdir -p "$REPO"
  timeout 300 "$APP/GpuBench" llama-model --out "$REPO/llama1b" --layers 16 --hidden 2048 --heads 32 --kv-heads 8 --inter 5632 \
    --vocab 32000 --max-len 2048 --dtype float16 --seed 1 --tied >>"$LOG" 2>&1 || log "model write failed"
fi
cat > "$REPO/llama1b/config.yaml" <<YAML
name: llama1b
backend: decoder
generation:
  tokenizer: tiktoken:gpt2   # stand-in: random weights, the benchmark sends token ids
  chat_template: chatml
  eos_token_ids: [2]
  context_length: 2048
  max_running: 64
  max_waiting: 4096
  step_token_budget: 4096
  prefill_chunk: 1024
  cuda_graph: ${CUDA_GRAPH:-true}
YAML
ls -la "$REPO/llama1b" "$REPO/llama1b/1" >>"$LOG" 2>&1

log "Hugging Face baseline"
timeout 400 python3 "$HERE/hf_baseline.py" --out "$OUT/baseline.json" --prompt $PROMPT --new $NEW --batch 64 >>"$LOG" 2>&1 || log "baseline failed"

serve_and_bench() {   # $1 = cuda_graph true|false; writes bench.json (c1 + c64) and metrics_c1.txt / metrics_c64.txt
  sed -i "s/cuda_graph: .*/cuda_graph: $1/" "$REPO/llama1b/config.yaml"
  log "sluice serve --device cuda (cuda_graph $1)"
  PORT=18000
  "$APP/sluice" serve --model-repository "$REPO" --device cuda --http-port $PORT --grpc-port 18001 --metrics-port 18002 \
    --address 127.0.0.1 > "$OUT/server_graph_$1.log" 2>&1 &
  SERVER=$!
  for i in $(seq 1 180); do curl -sf http://127.0.0.1:$PORT/v1/models/llama1b >/dev/null && break; sleep 1; done
  curl -s http://127.0.0.1:$PORT/v1/models >>"$LOG"; echo >>"$LOG"
  for c in 1 64; do
    log "LlmBench concurrency $c"
    timeout 150 "$APP/Sluice.LlmBench" --url http://127.0.0.1:$PORT --model llama1b --vocab 32000 --concurrency $c \
      --seconds $SECONDS_PER_LEVEL --prompt $PROMPT --max-tokens $NEW --json "$OUT/bench_c$c.json" 2>>"$LOG" | tee -a "$OUT/bench.md" | tee -a "$LOG"
    curl -s http://127.0.0.1:18002/metrics | grep -E "^sluice_llm|^nv_gpu_memory" > "$OUT/metrics_c$c.txt"
  done
  nvidia-smi --query-gpu=memory.used,memory.total --format=csv >> "$LOG"
  kill $SERVER; wait $SERVER 2>/dev/null
  python3 -c "import json,sys; r=[json.load(open(f))[0] for f in sys.argv[1:]]; json.dump(r, open('$OUT/bench.json','w'))" "$OUT/bench_c1.json" "$OUT/bench_c64.json"
}
serve_and_bench ${CUDA_GRAPH:-true}
if [ ! -s "$OUT/bench.json" ]; then
  log "no result with CUDA graphs: again without"
  serve_and_bench false
fi
python3 "$HERE/report_llm.py" "$OUT/baseline.json" "$OUT/bench.json" > "$OUT/llm_results.md" 2>>"$LOG"
cat "$OUT/llm_results.md"
