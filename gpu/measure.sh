#!/bin/bash
# The whole GPU measurement of issue 7 in one device call, once the parts are on the machine (gpu/README.md).
#   APP=/root/g/app MODELS=/root/g/models bash gpu/measure.sh
# Exports BERT-base (random weights) with PyTorch if $MODELS has no exports yet, measures the real runner per model
# variant (GpuBench engine), serves the best FP16 variant with `sluice serve --device cuda` (dynamic batching,
# max_batch_size 32), measures it over gRPC, reads GPU memory three ways, runs the PyTorch eager baseline, and writes
# $OUT/results.md (the table), $OUT/raw.jsonl, $OUT/baseline.json, $OUT/export.json, $OUT/measure.log, $OUT/server.log.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
export DOTNET_gcServer=0
: > "$RAW"
# The load generator's thread pool spins before sleeping (as the spin server below does): on this 16-core machine a client
# whose threads sleep adds ~0.2 ms to every round trip (gpu/path_check.sh, 09:26), which is the tool's cost, not the server's.
bench() { DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=${CLIENT_SPIN:-5000} timeout "${T:-100}" "$APP/GpuBench" "$@" 2>>"$LOG" | tee -a "$RAW"; }

log "card: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
echo "{\"mode\":\"card\",\"name\":\"$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)\",\"driver\":\"$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)\"}" >> "$RAW"

# :: 1. Models (skipped when an earlier call exported them).
if [ ! -f "$MODELS/bert_fp16.onnx" ]; then
  log "exporting BERT-base with PyTorch"
  timeout 300 python3 "$HERE/bert_models.py" export --dir "$MODELS" >>"$LOG" 2>&1 || log "export failed (see log)"
fi
cp "$MODELS/export.json" "$OUT/" 2>/dev/null
# PyTorch eager baseline, same call, same card (first, so a later overrun cannot lose it).
log "PyTorch eager baseline"
timeout 240 python3 "$HERE/bert_models.py" baseline --out "$OUT/baseline.json" >>"$LOG" 2>&1 || log "baseline failed"

# `sluice build --precision fp16` (engineer "build"'s FP16 conversion) from the FP32 export, time-boxed; skipped if built.
if [ "${SLUICE_BUILD:-1}" = 1 ] && [ -f "$MODELS/bert_fp32.onnx" ] && ! ls "$MODELS"/sluice_repo/bert_sluice16/*/model.onnx >/dev/null 2>&1; then
  log "sluice build --precision fp16"
  timeout "${BUILD_TIMEOUT:-120}" "$APP/sluice" build "$MODELS/bert_fp32.onnx" --repository "$MODELS/sluice_repo" --name bert_sluice16 \
    --precision fp16 --execution-provider cuda --sample-seq $SEQ --samples 4 --gate-samples 4 >>"$LOG" 2>&1 \
    && log "sluice build done" || log "sluice build failed or timed out (exit $?)"
  cp "$MODELS"/sluice_repo/bert_sluice16/*/build_report.json "$OUT/" 2>/dev/null
fi
# Names of the free dims of input_ids (e.g. batch seq), for fixed-shape CUDA graph sessions.
read -r DIM0 DIM1 < <(python3 -c "import json;d=json.load(open('$MODELS/export.json'))['input_dims']['input_ids'];print(*d)" 2>/dev/null || echo "batch seq")
log "input_ids dims: $DIM0 $DIM1"

# :: 2. The engine alone: the real OnnxModelRunner on the CUDA provider, compute_infer as GPU time.
engine_variant() {   # name file [options...]
  local name=$1 file=$2; shift 2
  [ -f "$file" ] || { log "skip $name: no $file"; return; }
  log "engine $name"
  bench engine --model "$file" --name "$name" --provider cuda --batches 1,8,32 --seq $SEQ --iters 300 "$@"
}
engine_graph() {     # name file: one fixed-shape session per batch size, CUDA graph captured and replayed
  local name=$1 file=$2
  [ -f "$file" ] || return
  for b in 1 8 32; do
    local fixed="$DIM0=$b"; [[ "$DIM1" =~ ^[0-9]+$ ]] || fixed="$fixed,$DIM1=$SEQ"
    log "engine $name batch $b (CUDA graph, $fixed)"
    bench engine --model "$file" --name "$name" --provider cuda --batches $b --seq $SEQ --iters 300 \
      --option enable_cuda_graph=1 --option "sluice_free_dimensions=$fixed"
  done
}
# (The 02:2x and 07:41 calls also measured FP32, the unfused and opset-23 exports and the fused attention's other kernels;
# all slower, recorded in gpu/results/. Only what the targets and the served configs need runs now.)
engine_variant fp16_iobinding "$MODELS/bert_fp16.onnx"
SB=$(ls "$MODELS"/sluice_repo/bert_sluice16/*/model.onnx 2>/dev/null | tail -1)
[ -n "$SB" ] && engine_variant sluice_build_fp16_iobinding "$SB"
engine_variant fp16_xf_iobinding "$MODELS/bert_fp16_xf.onnx"
engine_graph fp16_xf_graph "$MODELS/bert_fp16_xf.onnx"
# CUDA graphs on the dynamic-shape models (ONNX Runtime warns that shape nodes run on CPU; one graph per shape bucket).
for v in fp16:bert_fp16 fp16_xf:bert_fp16_xf; do
  T=60 engine_variant "${v%%:*}_dynamic_graph" "$MODELS/${v#*:}.onnx" --option enable_cuda_graph=1 --option sluice_max_shape_buckets=40
done

# :: 3. The server, one process serving two models (both FP16, dynamic shapes, dynamic batching, max_batch_size 32):
#    bert        the best IOBinding variant, 2 instances on GPU 0 (each its own session and stream);
#    bert_graph  the best CUDA-graph variant, 1 instance (graph capture is process-wide on the device: one capturing
#                instance at a time is the safe setting).
pick() { python3 "$HERE/report.py" best "$RAW" "$1"; }
BEST=$(pick _iobinding); BEST_GRAPH=$(pick _dynamic_graph)
log "serving: bert=$BEST bert_graph=$BEST_GRAPH"
REPO=$WORK/repo; rm -rf "$REPO"
MODELS_SERVED="bert_graph bert_pipe bert_graph_pipe"
C32_MODELS=${C32_MODELS:-$MODELS_SERVED}
# (Dropped after earlier calls: 2 instances without preferred sizes, 62 % on the H200 at 07:41; 4 instances fed 8 each, 67 %
# there; 4 CUDA-graph instances fed 8 each, 67-69 % on the H100 at 09:0x.)
serve_model bert_graph "$BEST_GRAPH" 1 0 1    # one instance replaying CUDA graphs
serve_model bert_pipe "$BEST" 2 16 0          # two instances fed 16 each: one computes while the other's batch is in transit
# Two CUDA-graph instances fed 16 each (failed on 2026-11-26 when captures happened under concurrent load; model_warmup now
# captures every bucket at load, instance by instance). Last, in case a capture error poisons the process.
serve_model bert_graph_pipe "$BEST_GRAPH" 2 16 1
# (Two instances replaying CUDA graphs failed on the H200 with capture errors that poisoned the process: not served.)
log "NVML alone (GpuBench, 20 s limit)"; T=20 bench nvml

# Two servers over the same repository, side by side, the same clients for both: A with the runtime's own thread-pool spin
# (--thread-pool-spin 70; ports 8000-8002), B as shipped (9000-9002), whose --device cuda default is --thread-pool-spin 5000:
# idle pool threads stay awake ~100x longer, so the hops of a round trip find a running thread. (09:3x call, explicit flags:
# bert_graph_pipe on 4 connections 61-65 % with 70, 83-85 % with 5000. --inline-io, tried at 09:05 and 09:12, changed nothing.)
SERVE_DIR=$WORK/serve; mkdir -p "$SERVE_DIR/a" "$SERVE_DIR/b"
start_server() {   # dir port-base extra-LD-prefix [flags...]
  local dir=$1 base=$2 prefix=$3; shift 3
  ( cd "$dir" && LD_LIBRARY_PATH="$prefix$LD_LIBRARY_PATH" exec "$APP/sluice" serve --device cuda --model-repository "$REPO" \
      --address 127.0.0.1 --http-port $base --grpc-port $((base + 1)) --metrics-port $((base + 2)) --data-dir "$dir/data" "$@" ) > "$dir/server.log" 2>&1 &
  LAST_PID=$!
}
ready_on() { for m in $MODELS_SERVED; do curl -sf http://127.0.0.1:$1/v2/models/$m/ready >/dev/null || return 1; done; }
wait_both() {   # half-seconds
  for _ in $(seq 1 "$1"); do
    ready_on 8000 && ready_on 9000 && return 0
    kill -0 $SERVER 2>/dev/null && kill -0 $SERVER_B 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
NVML_HIDDEN=false
start_server "$SERVE_DIR/a" 8000 "" --thread-pool-spin 70; SERVER=$LAST_PID
start_server "$SERVE_DIR/b" 9000 ""; SERVER_B=$LAST_PID
if ! wait_both ${READY_WAIT:-360}; then
  log "servers not ready with NVML visible: $(curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/v2/health/live) / $(curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:9000/v2/health/live) from /v2/health/live; retrying with NVML hidden"
  cp "$SERVE_DIR/a/server.log" "$OUT/server-nvml.log"
  kill $SERVER $SERVER_B 2>/dev/null; sleep 1; kill -9 $SERVER $SERVER_B 2>/dev/null; wait $SERVER $SERVER_B 2>/dev/null
  mkdir -p "$WORK/nonvml" && gcc -shared -fPIC -o "$WORK/nonvml/libnvidia-ml.so.1" "$HERE/nonvml/fake_nvml.c" && NVML_HIDDEN=true
  start_server "$SERVE_DIR/a" 8000 "$WORK/nonvml:" --thread-pool-spin 70; SERVER=$LAST_PID
  start_server "$SERVE_DIR/b" 9000 "$WORK/nonvml:"; SERVER_B=$LAST_PID
  wait_both ${READY_WAIT:-360} || { log "servers still not ready"; NVML_HIDDEN=failed; }
fi
echo "{\"mode\":\"server_start\",\"nvml_hidden\":\"$NVML_HIDDEN\"}" >> "$RAW"
if ready_on 8000; then
  log "servers ready (A pid $SERVER, B as shipped pid $SERVER_B, NVML hidden: $NVML_HIDDEN)"
  # No client warm-up: every served config carries model_warmup (serve_model), so shape buckets, CUDA graphs and cuDNN
  # attention plans were made while the versions loaded.
  # Lone requests (server-side phases and the transport's share from the timing trailers), on both servers.
  for b in 1 8 32; do
    log "bert_graph: grpc batch $b, concurrency 1, server A then B"
    T=90 bench grpc --port 8001 --model bert_graph --batch $b --seq $SEQ --concurrency 1 --seconds 20 --requests 300 --timing --label A-spin70
    T=90 bench grpc --port 9001 --model bert_graph --batch $b --seq $SEQ --concurrency 1 --seconds 20 --requests 300 --timing --label B-default
  done
  # Concurrency 32: each config on A then on B, 32 clients on one connection and on four, in two rounds. No timing trailers
  # here: asking for them cost ~20 % of the request path's throughput on the dev machine (7 trailers encoded and parsed per
  # request); the server-side means come from the statistics endpoint before and after each run instead, as perf_analyzer
  # does.
  for round in 1 2; do
    for m in $C32_MODELS; do
      for ch in ${C32_CHANNELS:-1 4}; do
        log "round $round, $m: grpc batch 1, concurrency 32, $ch channel(s): A, then B"
        T=90 bench grpc --port 8001 --model $m --batch 1 --seq $SEQ --concurrency 32 --channels $ch --seconds ${C32_SECONDS:-6} --warmup 64 \
          --stats-port 8000 --label A-spin70
        T=90 bench grpc --port 9001 --model $m --batch 1 --seq $SEQ --concurrency 32 --channels $ch --seconds ${C32_SECONDS:-6} --warmup 64 \
          --stats-port 9000 --label B-default
      done
    done
  done
  # The load tool itself (`sluice bench`, gRPC, synthesized BERT inputs): batch 1/8/32 alone, then concurrency 32.
  for b in 1 8 32; do
    log "sluice bench: bert_graph, batch $b, concurrency 1"
    timeout 60 "$APP/sluice" bench -i grpc --grpc-url http://127.0.0.1:9001 -u http://127.0.0.1:9000 -m bert_graph --batch-size $b --output pooler_output \
      --seq-len $SEQ -c 1 -d 5s --max-trials 1 --report "$OUT/sluice_bench/bert_graph_b$b" >>"$LOG" 2>&1 || log "sluice bench failed"
  done
  log "sluice bench: bert_graph_pipe, batch 1, concurrency 32"
  timeout 60 "$APP/sluice" bench -i grpc --grpc-url http://127.0.0.1:9001 -u http://127.0.0.1:9000 -m bert_graph_pipe --batch-size 1 --output pooler_output \
    --seq-len $SEQ -c 32 -d 10s --max-trials 1 --report "$OUT/sluice_bench/bert_graph_pipe_c32" >>"$LOG" 2>&1 || log "sluice bench failed"

  # :: 4. GPU memory: Sluice's /metrics vs nvidia-smi vs NVML read by GpuBench, taken back to back.
  METRICS=$( (curl -sf http://127.0.0.1:8002/metrics || curl -sf http://127.0.0.1:8000/metrics) | grep -E '^nv_gpu_memory_(used|total)_bytes' | tr '\n' ';')
  SMI=$(nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader,nounits | head -1)
  SMI_PROC=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | tr '\n' ';')
  echo "{\"mode\":\"memory\",\"sluice_metrics\":\"$(printf '%s' "$METRICS" | tr -d '"')\",\"nvidia_smi_used_total_mib\":\"$SMI\",\"nvidia_smi_apps\":\"$SMI_PROC\",\"server_pid\":$SERVER}" >> "$RAW"
  T=20 bench nvml --pid $SERVER
  log "memory: metrics=[$METRICS] smi=[$SMI] apps=[$SMI_PROC]"
else
  log "server did not become ready"; tail -30 "$SERVE_DIR/a/server.log" | tee -a "$LOG"
fi
kill $SERVER $SERVER_B 2>/dev/null; wait $SERVER $SERVER_B 2>/dev/null
cp "$SERVE_DIR/a/server.log" "$OUT/server.log" 2>/dev/null; cp "$SERVE_DIR/b/server.log" "$OUT/server-b.log" 2>/dev/null

# :: 5. The table.
python3 "$HERE/report.py" table "$RAW" "$OUT/baseline.json" > "$OUT/results.md" 2>>"$LOG"
cat "$OUT/results.md"
