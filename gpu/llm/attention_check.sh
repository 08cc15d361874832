#!/bin/bash
# Batch-1 decode with each GroupQueryAttention decode kernel ONNX Runtime 1.31 can pick on this card, side by side:
#   APP=/root/g/app bash gpu/llm/attention_check.sh
# Uses the Llama-1B-shaped model of measure_llm.sh (written if missing). For each setting of ONNX Runtime's attention
# environment variables (read at session creation): `sluice serve --device cuda`, Sluice.LlmBench at concurrency 1 for
# SECONDS_PER_LEVEL, the client's ITL p50 and the server's mean decode step; ROUNDS rounds, settings alternating.
# Writes $OUT/attention.md and attention.log.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
APP=${APP:-/root/g/app}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/llm}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-10}
ROUNDS=${ROUNDS:-2}
mkdir -p "$OUT" "$WORK"
LOG=$OUT/attention.log
REPO=$WORK/repo
write_llama1b "$APP" "$REPO" "$LOG"
llama1b_config "$REPO"
SETTINGS=("default" "ORT_ENABLE_XQA=0" "ORT_ENABLE_XQA=0 ORT_DISABLE_FLASH_DECODE=1" "ORT_ENABLE_XQA=0 ORT_ENABLE_CUDNN_FLASH_ATTENTION=1")
echo "| round | attention setting | c1 tok/s | ITL p50 | mean decode step |" > "$OUT/attention.md"
echo "|---|---|---|---|---|" >> "$OUT/attention.md"
for round in $(seq 1 $ROUNDS); do
  for setting in "${SETTINGS[@]}"; do
    envs=(); [ "$setting" != default ] && envs=($setting)
    serve_llama1b "$APP" "$REPO" "$LOG" "${envs[@]}"
    timeout 120 "$APP/Sluice.LlmBench" --url http://127.0.0.1:18000 --model llama1b --vocab 32000 --concurrency 1 \
      --seconds $SECONDS_PER_LEVEL --prompt 64 --max-tokens 128 --json "$OUT/att.json" >>"$LOG" 2>&1
    step=$(decode_step_ms)
    kill $SERVER; wait $SERVER 2>/dev/null
    python3 -c "import json,sys; r=json.load(open('$OUT/att.json'))[0]; print(f\"| $round | $setting | {r['TokensPerSecond']:.0f} | {r['itl_p50_ms']:.3f} ms | $step |\")" >> "$OUT/attention.md"
  done
done
cat "$OUT/attention.md"
