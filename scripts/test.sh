#!/usr/bin/env bash
# Sets up a fresh machine, builds chitu and runs every test: ctest (lit, unit, op cases on
# the CPU and, where a GPU is present, on CUDA; C API; generated docs; examples against
# numpy), then a bounded fuzz run of the loader (CHITU_FUZZ_SECONDS, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=${CHITU_JOBS:-$(nproc)}
cmake -S . -B build -G Ninja
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")
bash scripts/fuzz.sh "${CHITU_FUZZ_SECONDS:-60}"
echo "all tests passed"
