# Shared by the gpu/llm scripts (source it): the Llama-1B-shaped model they all serve and its config.
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}

# write_llama1b APP REPO LOG [GpuBench flags...]: REPO/llama1b/1/model.onnx (+ .data) and decoder_config.json, unless there.
# 16 layers, hidden 2048, 32 heads, 8 KV heads, MLP 5632, vocab 32000, 2048 positions, fp16, seed 1, tied embeddings.
write_llama1b() {
  local app=$1 repo=$2 log=$3; shift 3
  [ -f "$repo/llama1b/1/model.onnx" ] && return 0
  mkdir -p "$repo"
  timeout 300 "$app/GpuBench" llama-model --out "$repo/llama1b" --layers 16 --hidden 2048 --heads 32 --kv-heads 8 --inter 5632 \
    --vocab 32000 --max-len 2048 --dtype float16 --seed 1 --tied "$@" >>"$log" 2>&1
}

# llama1b_config REPO [cuda_graph true|false]: REPO/llama1b/config.yaml for `sluice serve` (up to 64 running sequences).
llama1b_config() {
  cat > "$1/llama1b/config.yaml" <<YAML
name: llama1b
backend: decoder
generation:
  tokenizer: tiktoken:gpt2   # stand-in: random weights, the benchmarks send token ids
  chat_template: chatml
  eos_token_ids: [2]
  context_length: 2048
  max_running: 64
  max_waiting: 4096
  step_token_budget: 4096
  prefill_chunk: 1024
  cuda_graph: ${2:-true}
YAML
}

# serve_llama1b APP REPO LOG [NAME=VALUE ...]: `sluice serve --device cuda` on REPO in the background (the environment
# settings given), HTTP 18000, gRPC 18001, metrics 18002; sets SERVER to its pid and returns once llama1b answers.
serve_llama1b() {
  local app=$1 repo=$2 log=$3; shift 3
  env "$@" "$app/sluice" serve --model-repository "$repo" --device cuda --http-port 18000 --grpc-port 18001 \
    --metrics-port 18002 --address 127.0.0.1 >>"$log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 180); do curl -sf http://127.0.0.1:18000/v1/models/llama1b >/dev/null && return 0; sleep 1; done
  return 1
}

# decode_steps: "SUM COUNT" of the server's sluice_llm_decode_step_time_seconds; decode_step_ms BEFORE: the mean step since.
decode_steps() {
  curl -s http://127.0.0.1:18002/metrics | awk '/^sluice_llm_decode_step_time_seconds_sum/ {s=$2} /^sluice_llm_decode_step_time_seconds_count/ {c=$2} END {print s+0, c+0}'
}
decode_step_ms() {
  local before=${1:-0 0}
  decode_steps | awk -v b="$before" '{split(b, p, " "); if ($2 > p[2]) printf "%.3f ms", 1000 * ($1 - p[1]) / ($2 - p[2])}'
}
