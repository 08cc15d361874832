# Sourced by the device scripts: where things are on the GPU machine, its CUDA libraries, and a timestamped log.
# Set WORK, RAW and LOG before sourcing (or take the defaults below).
set -uo pipefail
APP=${APP:-/root/g/app}
MODELS=${MODELS:-/root/g/models}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/root/g/work}
RAW=${RAW:-$OUT/raw.jsonl}
LOG=${LOG:-$OUT/measure.log}
SEQ=128
mkdir -p "$OUT" "$WORK" "$MODELS"
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }

# The BERT export file of a measured variant name (fp16_xf_..., fp16_op23_..., ...).
file_of() { case "$1" in fp16_xf*) echo "$MODELS/bert_fp16_xf.onnx" ;; fp16_fused*) echo "$MODELS/bert_fp16_fused.onnx" ;; fp16_op23*) echo "$MODELS/bert_fp16_op23.onnx" ;; *) echo "$MODELS/bert_fp16.onnx" ;; esac; }

# Writes $REPO/<name>/config.yaml (+ the model) for one served configuration and records it in $RAW.
serve_model() {   # name variant instances preferred-batch-size(or 0) cuda-graph(0/1)
  mkdir -p "$REPO/$1/1"
  cp "$(file_of "$2")" "$REPO/$1/1/model.onnx"
  local preferred=""; [ "$4" != 0 ] && preferred="  preferred_batch_size: [ $4 ]"
  local graph=""; [ "$5" = 1 ] && graph='    enable_cuda_graph: "1"'
  [[ "$2" =~ _sdpa([0-9]+)_ ]] && graph="$graph
    sdpa_kernel: \"${BASH_REMATCH[1]}\""
  # model_warmup: every batch size 1..32, 5 runs each per instance, so shape buckets, cuDNN plans and CUDA graphs are made
  # at load, one instance after another (graph captures never overlap), not under traffic.
  local warmup="model_warmup:"
  for b in $(seq 1 32); do
    warmup="$warmup
  - { name: b$b, batch_size: $b, count: 5, inputs: { input_ids: { data_type: INT64, dims: [$SEQ], zero_data: true }, attention_mask: { data_type: INT64, dims: [$SEQ], random_data: true }, token_type_ids: { data_type: INT64, dims: [$SEQ], zero_data: true } } }"
  done
  cat > "$REPO/$1/config.yaml" <<YAML
$warmup
max_batch_size: 32
dynamic_batching:
  max_queue_delay_microseconds: ${QUEUE_DELAY_US:-500}
$preferred
instance_group: [ { kind: KIND_GPU, count: $3, gpus: [0] } ]
execution:
  provider_options:
    sluice_max_shape_buckets: "40"
$graph
YAML
  echo "{\"mode\":\"server_config\",\"served\":\"$1\",\"model\":\"$2\",\"instances\":$3,\"preferred_batch_size\":$4,\"max_queue_delay_us\":${QUEUE_DELAY_US:-500}}" >> "$RAW"
}

# Waits until every model in $MODELS_SERVED is ready on :8000: 0 when they are, 1 when server PID $1 exits or $2 half-seconds
# pass (default 120). Leaves the half-seconds waited in READY_HALF_SECONDS.
wait_ready() {
  local server=$1 limit=${2:-120}
  for READY_HALF_SECONDS in $(seq 1 "$limit"); do
    local all=1
    for m in $MODELS_SERVED; do curl -sf http://127.0.0.1:8000/v2/models/$m/ready >/dev/null || all=0; done
    [ $all = 1 ] && return 0
    kill -0 "$server" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
