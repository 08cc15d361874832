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
