#!/bin/bash
# Where does concurrency-32 throughput go? One device call after gpu/measure.sh left the app and the exports on the machine:
#   APP=/root/g/app MODELS=/root/g/models bash gpu/serving_diag.sh
# Serves the fused export (fp16_xf) and the opset-23 export side by side in one `sluice serve --device cuda` (configs from
# common.sh's serve_model, whose model_warmup runs every batch size 1..32 at load, so no shape bucket is created under
# load; the 07:31 run recorded in results/ warmed from a client instead, before model_warmup existed), then runs
# closed-loop gRPC at concurrency 32 per model with the server's GC and thread-pool counters scraped before and after each run, under
# workstation GC and again under server GC. Writes $OUT/diag.jsonl and $OUT/diag.md.
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/gpu-out}; WORK=${WORK:-/root/g/diag}; RAW=$OUT/diag.jsonl; LOG=$OUT/diag.log
source "$HERE/common.sh"
SECS=${SECS:-8}

REPO=$WORK/repo; rm -rf "$REPO"
serve_model xf2 fp16_xf_iobinding 2 0 0
serve_model op2 fp16_op23_iobinding 2 0 0
serve_model xf2p fp16_xf_iobinding 2 16 0
serve_model xf1g fp16_xf_dynamic_graph 1 0 1
serve_model xf3p fp16_xf_iobinding 3 16 0
MODELS_SERVED="xf2 op2 xf2p xf1g xf3p"

scrape() { curl -sf http://127.0.0.1:8002/metrics | grep -E '^sluice_process_(gc|threadpool)|^nv_cpu_utilization' | tr '\n' ';' | tr -d '"'; }

run_all() {   # gc mode label, env assignments
  local label=$1; shift
  ( cd "$WORK" && env "$@" "$APP/sluice" serve --device cuda --model-repository "$REPO" --address 127.0.0.1 \
      --http-port 8000 --grpc-port 8001 --metrics-port 8002 --data-dir "$WORK/data" ) > "$OUT/diag_server_$label.log" 2>&1 &
  local server=$!
  wait_ready $server 120
  log "$label: server ready (pid $server); every batch size 1..32 was warmed at load (model_warmup)"
  for m in $MODELS_SERVED; do
    for ch in 32; do
      local before; before=$(scrape)
      log "$label: $m concurrency 32, $ch channels"
      local res; res=$(timeout 60 "$APP/GpuBench" grpc --port 8001 --model $m --batch 1 --seq $SEQ --concurrency 32 --channels $ch \
        --seconds $SECS --timing --warmup 64 2>>"$LOG")
      local after; after=$(scrape)
      echo "{\"gc\":\"$label\",\"result\":$res,\"before\":\"$before\",\"after\":\"$after\"}" >> "$RAW"
    done
  done
  kill $server; wait $server 2>/dev/null
}
# Engine references for the ratios (same call): the bare runner at batch 16 and 32.
for v in xf:$MODELS/bert_fp16_xf.onnx op23:$MODELS/bert_fp16_op23.onnx; do
  timeout 60 "$APP/GpuBench" engine --model "${v#*:}" --name "${v%%:*}" --provider cuda --batches 16,32 --seq $SEQ --iters 200 \
    2>>"$LOG" | sed 's/^/{"gc":"engine","result":/; s/$/}/' >> "$RAW"
done
run_all workstation DOTNET_gcServer=0
run_all server DOTNET_gcServer=1
python3 "$HERE/report.py" diag "$RAW" > "$OUT/diag.md" 2>>"$LOG"
cat "$OUT/diag.md"
