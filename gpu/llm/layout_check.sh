#!/bin/bash
# Batch-1 decode with the projections stored [in, out] (MatMul, the default) against [out, in] (FusedMatMul transB=1, as
# PyTorch's nn.Linear stores them), side by side on one card:
#   APP=/root/g/app bash gpu/llm/layout_check.sh
# Writes the Llama-1B-shaped model of measure_llm.sh both ways (same seed, same function), then ROUNDS rounds alternating
# the two: `sluice serve --device cuda`, Sluice.LlmBench at concurrency 1 (and 64 in the last round) for SECONDS_PER_LEVEL,
# the client's tok/s and ITL p50 and the server's mean decode step. Writes $OUT/layout.md and layout.log.
set -uo pipefail
APP=${APP:-/root/g/app}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/llm}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-10}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT" "$WORK"
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export DOTNET_gcServer=0
LOG=$OUT/layout.log
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
log "card: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
bw=$(python3 -c "
import torch
x = torch.empty(2 << 30, dtype=torch.uint8, device='cuda'); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(10): y.copy_(x)
e.record(); torch.cuda.synchronize(); print(f'{2 * 10 * (2 << 30) / (s.elapsed_time(e) / 1000) / 1e9:.0f}')
" 2>>"$LOG")
log "device-to-device copy bandwidth: ${bw:-?} GB/s"

for layout in inout outin; do
  repo=$WORK/repo-$layout
  if [ ! -f "$repo/llama1b/1/model.onnx" ]; then
    flag=""; [ $layout = outin ] && flag="--transposed"
    mkdir -p "$repo"
    log "writing the model ($layout)"
    timeout 300 "$APP/GpuBench" llama-model --out "$repo/llama1b" --layers 16 --hidden 2048 --heads 32 --kv-heads 8 --inter 5632 \
      --vocab 32000 --max-len 2048 --dtype float16 --seed 1 --tied $flag >>"$LOG" 2>&1 || log "model write failed ($layout)"
  fi
  cat > "$repo/llama1b/config.yaml" <<YAML
name: llama1b
backend: decoder
generation:
  tokenizer: tiktoken:gpt2
  eos_token_ids: [2]
  context_length: 2048
  max_running: 64
  max_waiting: 4096
  step_token_budget: 4096
  prefill_chunk: 1024
  cuda_graph: true
YAML
done

echo "| round | layout | concurrency | tok/s | ITL p50 | mean decode step |" > "$OUT/layout.md"
echo "|---|---|---|---|---|---|" >> "$OUT/layout.md"
for round in $(seq 1 $ROUNDS); do
  for layout in inout outin; do
    "$APP/sluice" serve --model-repository "$WORK/repo-$layout" --device cuda --http-port 18000 --grpc-port 18001 \
      --metrics-port 18002 --address 127.0.0.1 >>"$LOG" 2>&1 &
    server=$!
    for i in $(seq 1 180); do curl -sf http://127.0.0.1:18000/v1/models/llama1b >/dev/null && break; sleep 1; done
    levels="1"; [ $round = $ROUNDS ] && levels="1 64"
    for c in $levels; do
      before=$(curl -s http://127.0.0.1:18002/metrics | awk '/^sluice_llm_decode_step_time_seconds_sum/ {s=$2} /^sluice_llm_decode_step_time_seconds_count/ {c=$2} END {print s+0, c+0}')
      timeout 120 "$APP/Sluice.LlmBench" --url http://127.0.0.1:18000 --model llama1b --vocab 32000 --concurrency $c \
        --seconds $SECONDS_PER_LEVEL --prompt 64 --max-tokens 128 --json "$OUT/layout_$layout.json" >>"$LOG" 2>&1
      step=$(curl -s http://127.0.0.1:18002/metrics | awk -v b="$before" 'BEGIN {split(b, p, " ")} /^sluice_llm_decode_step_time_seconds_sum/ {s=$2} /^sluice_llm_decode_step_time_seconds_count/ {c=$2} END {if (c > p[2]) printf "%.3f ms", 1000 * (s - p[1]) / (c - p[2])}')
      python3 -c "import json; r=json.load(open('$OUT/layout_$layout.json'))[0]; print(f\"| $round | $layout | $c | {r['TokensPerSecond']:.0f} | {r['itl_p50_ms']:.3f} ms | $step |\")" >> "$OUT/layout.md"
      tail -1 "$OUT/layout.md" | tee -a "$LOG"
    done
    kill $server; wait $server 2>/dev/null
  done
done
cat "$OUT/layout.md"
