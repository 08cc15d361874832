#!/bin/bash
# Where BERT's batch-32 forward spends its GPU time, and what cuBLAS alone gives for its GEMMs. One device call after the app
# and the exports are on the machine (gpu/README.md):
#   APP=/root/g/app MODELS=/root/g/models bash gpu/kernel_check.sh
# 1. gemm_check.py: cuBLAS (through PyTorch) on the four GEMM shapes of one layer at 4096 tokens, both weight layouts.
# 2. ncu, one metric (gpu__time_duration.sum), clocks and caches left alone, over a few batch-32 runs of the fused export
#    (fp16_xf) through the real runner without CUDA graphs; kernels.py sums the last run by kernel family.
# 3. The runner with ONNX Runtime's tunable ops on, beside the same runner without, batch 1 and 32.
# Writes $OUT/kernels/{gemm.json,ncu.log,kernels.json,engine.jsonl} and $OUT/kernels/check.log.
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/gpu-out}; LOG=$OUT/kernels/check.log; RAW=$OUT/kernels/engine.jsonl
mkdir -p "$OUT/kernels"
source "$HERE/common.sh"
: > "$RAW"
XF=$MODELS/bert_fp16_xf.onnx
log "card: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"

log "gemm_check.py"
timeout 120 python3 "$HERE/gemm_check.py" > "$OUT/kernels/gemm.json" 2>>"$LOG" || log "gemm_check failed"

NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$NCU" ] && [ -f "$XF" ]; then
  log "ncu ($NCU) over 4 batch-32 runs of fp16_xf (2 warm-up + 2 timed)"
  timeout 240 "$NCU" --csv --page raw --metrics gpu__time_duration.sum --clock-control none --cache-control none \
    "$APP/GpuBench" engine --model "$XF" --name fp16_xf_ncu --provider cuda --batches 32 --seq $SEQ --iters 2 --warmup 2 \
    > "$OUT/kernels/ncu.log" 2>>"$LOG" || log "ncu exit $?"
  python3 "$HERE/kernels.py" "$OUT/kernels/ncu.log" > "$OUT/kernels/kernels.json" 2>>"$LOG" || log "kernels.py failed"
  cat "$OUT/kernels/kernels.json" | head -40 | tee -a "$LOG"
else
  log "no ncu on this machine (or no $XF)"
fi

for v in "plain:" "tunable:--option tunable_op_enable=1 --option tunable_op_tuning_enable=1"; do
  log "engine fp16_xf ${v%%:*}"
  # shellcheck disable=SC2086
  timeout 120 "$APP/GpuBench" engine --model "$XF" --name "fp16_xf_${v%%:*}" --provider cuda --batches 1,32 --seq $SEQ --iters 300 ${v#*:} \
    2>>"$LOG" | tee -a "$RAW"
done
cat "$OUT/kernels/gemm.json"
