#!/bin/bash
# Batch-1 decode with each GroupQueryAttention decode kernel ONNX Runtime 1.31 can pick on this card, side by side:
#   APP=/root/g/app bash gpu/llm/attention_check.sh
# Uses the Llama-1B-shaped model of measure_llm.sh (written if missing). For each setting of ONNX Runtime's attention
# environment variables (read at session creation): `sluice serve --device cuda`, Sluice.LlmBench at concurrency 1 for
# SECONDS_PER_LEVEL, the client's ITL p50 and the server's mean decode step; ROUNDS rounds, settings alternating.
# Writes $OUT/attention.md and attention.log.
set -uo pipefail
APP=${APP:-/root/g/app}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/llm}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-10}
ROUNDS=${ROUNDS:-2}
mkdir -p "$OUT" "$WORK"
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
LOG=$OUT/attention.log
REPO=$WORK/repo
if [ ! -f "$REPO/llama1b/1/model.onnx" ]; then
  mkdir -p "$REPO"
  "$APP/GpuBench" llama-model --out "$REPO/llama1b" --layers 16 --hidden 2048 --heads 32 --kv-heads 8 --inter 5632 \
    --vocab 32000 --max-len 2048 --dtype float16 --seed 1 --tied >>"$LOG" 2>&1
fi
cat > "$REPO/llama1b/config.yaml" <<YAML
name: llama1b
backend: decoder
generation:
  tokenizer: tiktoken:gpt2
  eos_token_ids: [2]
  context_length: 2048
  max_running: 64
  cuda_graph: true
YAML
SETTINGS=("default" "ORT_ENABLE_XQA=0" "ORT_ENABLE_XQA=0 ORT_DISABLE_FLASH_DECODE=1" "ORT_ENABLE_XQA=0 ORT_ENABLE_CUDNN_FLASH_ATTENTION=1")
echo "| round | attention setting | c1 tok/s | ITL p50 | mean decode step |" > "$OUT/attention.md"
echo "|---|---|---|---|---|" >> "$OUT/attention.md"
for round in $(seq 1 $ROUNDS); do
  for setting in "${SETTINGS[@]}"; do
    envs=(); [ "$setting" != default ] && envs=($setting)
    env "${envs[@]}" "$APP/sluice" serve --model-repository "$REPO" --device cuda --http-port 18000 --grpc-port 18001 \
      --metrics-port 18002 --address 127.0.0.1 >>"$LOG" 2>&1 &
    server=$!
    for i in $(seq 1 120); do curl -sf http://127.0.0.1:18000/v1/models/llama1b >/dev/null && break; sleep 1; done
    timeout 120 "$APP/Sluice.LlmBench" --url http://127.0.0.1:18000 --model llama1b --vocab 32000 --concurrency 1 \
      --seconds $SECONDS_PER_LEVEL --prompt 64 --max-tokens 128 --json "$OUT/att.json" >>"$LOG" 2>&1
    step=$(curl -s http://127.0.0.1:18002/metrics | awk '/^sluice_llm_decode_step_time_seconds_sum/ {s=$2} /^sluice_llm_decode_step_time_seconds_count/ {c=$2} END {if (c > 0) printf "%.3f ms", 1000 * s / c}')
    kill $server; wait $server 2>/dev/null
    python3 -c "import json,sys; r=json.load(open('$OUT/att.json'))[0]; print(f\"| $round | $setting | {r['TokensPerSecond']:.0f} | {r['itl_p50_ms']:.3f} ms | $step |\")" >> "$OUT/attention.md"
  done
done
cat "$OUT/attention.md"
