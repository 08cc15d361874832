#!/bin/bash
# Batch-1 decode with the projections stored [in, out] (MatMul, the default) against [out, in] (FusedMatMul transB=1, as
# PyTorch's nn.Linear stores them), side by side on one card:
#   APP=/root/g/app bash gpu/llm/layout_check.sh
# Writes the Llama-1B-shaped model of measure_llm.sh both ways (same seed, same function), then ROUNDS rounds alternating
# the two: `sluice serve --device cuda`, Sluice.LlmBench at concurrency 1 (and 64 in the last round) for SECONDS_PER_LEVEL,
# the client's tok/s and ITL p50 and the server's mean decode step. Writes $OUT/layout.md and layout.log.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
APP=${APP:-/root/g/app}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/llm}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-10}
ROUNDS=${ROUNDS:-3}
mkdir -p "$OUT" "$WORK"
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
  flag=""; [ $layout = outin ] && flag="--transposed"
  log "model ($layout)"
  write_llama1b "$APP" "$WORK/repo-$layout" "$LOG" $flag || log "model write failed ($layout)"
  llama1b_config "$WORK/repo-$layout"
done

echo "| round | layout | concurrency | tok/s | ITL p50 | mean decode step |" > "$OUT/layout.md"
echo "|---|---|---|---|---|---|" >> "$OUT/layout.md"
for round in $(seq 1 $ROUNDS); do
  for layout in inout outin; do
    serve_llama1b "$APP" "$WORK/repo-$layout" "$LOG"
    levels="1"; [ $round = $ROUNDS ] && levels="1 64"
    for c in $levels; do
      before=$(decode_steps)
      timeout 120 "$APP/Sluice.LlmBench" --url http://127.0.0.1:18000 --model llama1b --vocab 32000 --concurrency $c \
        --seconds $SECONDS_PER_LEVEL --prompt 64 --max-tokens 128 --json "$OUT/layout_$layout.json" >>"$LOG" 2>&1
      step=$(decode_step_ms "$before")
      python3 -c "import json; r=json.load(open('$OUT/layout_$layout.json'))[0]; print(f\"| $round | $layout | $c | {r['TokensPerSecond']:.0f} | {r['itl_p50_ms']:.3f} ms | $step |\")" >> "$OUT/layout.md"
      tail -1 "$OUT/layout.md" | tee -a "$LOG"
    done
    kill $SERVER; wait $SERVER 2>/dev/null
  done
done
cat "$OUT/layout.md"
