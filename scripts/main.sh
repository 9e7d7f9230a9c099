#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, compile the bundled MLP example into a
# .cbin, run it on random input and print the result (on the GPU too when there is one).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja
cmake --build build -j "${CHITU_JOBS:-$(nproc)}"
build/bin/chitu-compile examples/mlp.mlir -o build/mlp.cbin --target sm_80,sm_90
python3 -c 'import numpy as np; np.save("build/x.npy", np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32))'
build/bin/chitu-run build/mlp.cbin --input x=build/x.npy --output y=build/y.npy
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  build/bin/chitu-run build/mlp.cbin --device cuda --input x=build/x.npy
fi
