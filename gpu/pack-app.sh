#!/bin/bash
# Packs the GPU publish folder for the device: .gpu/app.tar.xz (without the CUDA provider, which ../shared/gpu/pack.sh
# sends as parts, and without demo/, the MiniLM demo model the measurement does not serve), split in 40 MiB parts
# .gpu/app.partNN when larger. Usage: gpu/pack-app.sh PUBLISH_DIR
set -euo pipefail
pub=$(cd "$1" && pwd)
out=$(cd "$(dirname "$0")/.." && pwd)/.gpu
mkdir -p "$out"; rm -f "$out"/app.tar.xz "$out"/app.part*
( cd "$pub" && tar cf - --exclude=./libonnxruntime_providers_cuda.so --exclude=./libonnxruntime_providers_tensorrt.so --exclude=./demo . | xz -T0 -6 > "$out/app.tar.xz" )
if [ "$(stat -c %s "$out/app.tar.xz")" -gt $((40 * 1024 * 1024)) ]; then
  split -b 40m -d "$out/app.tar.xz" "$out/app.part" && rm "$out/app.tar.xz"
fi
ls -la "$out"
