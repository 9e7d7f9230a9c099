#!/usr/bin/env bash
# Installs every system and Python dependency chitu needs to build and test. Safe to run again:
# it only installs what is missing.
set -euo pipefail

APT_PACKAGES=(
  cmake ninja-build g++ git
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools  # compiler: MLIR, FileCheck, lit
  libflatbuffers-dev flatbuffers-compiler                 # .cbin format
  libgtest-dev                                            # unit tests
  clang-14 libclang-rt-14-dev                             # libFuzzer target of the .cbin loader
)
PY_PACKAGES=(numpy safetensors ml_dtypes onnx onnxruntime)  # onnx*: ONNX conformance tests

log() { printf '[setup] %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import numpy, safetensors, ml_dtypes, onnx, onnxruntime' 2>/dev/null; then
  log "installing Python packages: ${PY_PACKAGES[*]}"
  "$PYTHON" -m pip install -q "${PY_PACKAGES[@]}"
else
  log "Python packages present"
fi

CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -f "$CUDA_HOME/include/nvrtc.h" ] || ! ls "$CUDA_HOME"/lib64/libnvrtc.so* >/dev/null 2>&1; then
  echo "[setup] error: the CUDA toolkit (NVRTC) was not found under $CUDA_HOME." >&2
  echo "[setup] chitu-compile needs NVRTC from a CUDA 12.x/13.x toolkit (no GPU needed)." >&2
  echo "[setup] Install it from NVIDIA's packages or set CUDA_HOME to its location." >&2
  exit 1
fi
log "CUDA toolkit: $CUDA_HOME"
