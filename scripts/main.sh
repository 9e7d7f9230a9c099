#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, compile the bundled tiny Llama checkpoint
# (models/tiny-llama: tokenizer.json, config, bf16 safetensors) into a .cbin and generate
# text from a prompt on the CPU, and on the GPU too when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja
cmake --build build -j "${CHITU_JOBS:-$(nproc)}"
build/bin/chitu-compile models/tiny-llama -o build/tiny-llama.cbin --target sm_80,sm_90
prompt=${CHITU_PROMPT:-"The compiler"}
build/bin/chitu-run build/tiny-llama.cbin --prompt "$prompt" --max-tokens 48 --seed 1
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  build/bin/chitu-run build/tiny-llama.cbin --device cuda --prompt "$prompt" --max-tokens 48 --seed 1
fi
