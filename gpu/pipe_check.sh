#!/bin/bash
# A short follow-up to gpu/measure.sh, for when little device time is left: does pipelining two instances reach 80 % of the
# bare engine at concurrency 32 once CUDA graphs are captured at load (model_warmup) instead of under traffic?
#   (after `python3 gpu/bert_models.py export --only fp16,xf --dir /root/g/models`)
#   APP=/root/g/app MODELS=/root/g/models bash gpu/pipe_check.sh
# Writes $OUT/raw.jsonl (engine references and gRPC runs), $OUT/pipe.md, $OUT/measure.log, $OUT/server.log.
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/root/g/pipe}
source "$HERE/common.sh"
: > "$RAW"
bench() { timeout "${T:-60}" "$APP/GpuBench" "$@" 2>>"$LOG" | tee -a "$RAW"; }

log "card: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader)"
XF=$MODELS/bert_fp16_xf.onnx
# The references: the bare runner at batch 16 and 32, plain and with a CUDA graph per bucket.
bench engine --model "$XF" --name fp16_xf_iobinding --provider cuda --batches 16,32 --seq $SEQ --iters 200
bench engine --model "$XF" --name fp16_xf_dynamic_graph --provider cuda --batches 16,32 --seq $SEQ --iters 200 \
  --option enable_cuda_graph=1 --option sluice_max_shape_buckets=40

REPO=$WORK/repo; rm -rf "$REPO"
MODELS_SERVED="bert_graph_pipe bert_pipe"
serve_model bert_graph_pipe fp16_xf_dynamic_graph 2 16 1
serve_model bert_pipe fp16_xf_iobinding 2 16 0
( cd "$WORK" && exec "$APP/sluice" serve --device cuda --model-repository "$REPO" --address 127.0.0.1 \
    --http-port 8000 --grpc-port 8001 --metrics-port 8002 --data-dir "$WORK/data" ) > "$OUT/server.log" 2>&1 &
SERVER=$!
wait_ready $SERVER 120
log "server ready after $((READY_HALF_SECONDS / 2)) s (model_warmup runs at load)"
for m in $MODELS_SERVED; do
  log "$m: grpc batch 1, concurrency 32"
  bench grpc --port 8001 --model $m --batch 1 --seq $SEQ --concurrency 32 --channels 1 --seconds ${C32_SECONDS:-8} --timing --warmup 64
done
kill $SERVER; wait $SERVER 2>/dev/null
python3 - "$RAW" > "$OUT/pipe.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
bare = {(r["name"], r["batch"]): r["items_per_s"] for r in rows if r.get("mode") == "engine" and "error" not in r}
configs = {r["served"]: r["model"] for r in rows if r.get("mode") == "server_config"}
print("| served | items/s | bare batch 32 | share | p50 / p99 ms | compute p50 ms | batch p50 |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    if r.get("mode") != "grpc":
        continue
    if "error" in r:
        print(f"| error | {r['error'][:300]} |")
        continue
    ref = bare.get((configs.get(r["model"]), 32))
    share = f"{r['items_per_s'] / ref:.0%}" if ref else "-"
    print(f"| {r['model']} | {r['items_per_s']:.0f} | {ref or '-'} | {share} | {r['latency_ms']['p50']:.2f} / {r['latency_ms']['p99']:.2f} | "
          f"{r['server_compute_infer_ms']['p50']:.2f} | {r['server_batch_size']['p50']:.0f} |")
print("\nengine: " + ", ".join(f"{k[0]} b{k[1]} {v:.0f}/s" for k, v in sorted(bare.items())))
PY
cat "$OUT/pipe.md"
