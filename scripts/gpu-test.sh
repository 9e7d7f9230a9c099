#!/usr/bin/env bash
# Runs chitu's GPU tests on a machine with an NVIDIA GPU, from a build made elsewhere.
#
# On the build machine (needs MLIR; no GPU):
#   cmake -S . -B build -G Ninja && cmake --build build && (cd build && ctest -R ops.compile)
# then copy build/bin, build/lib and build/test/ops to the GPU machine (same paths under
# the checkout) and run there:
#   bash scripts/gpu-test.sh [LOG_DIR]
# The runtime binaries need only libstdc++ and the NVIDIA driver (libcuda is dlopen'ed).
set -uo pipefail
log=${1:-gpu-test-logs}
mkdir -p "$log"
export CHITU_OP_CASES=${CHITU_OP_CASES:-$PWD/build/test/ops}
status=0
step() { echo "== $*"; }

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || status=1

step "op tests: CUDA vs CPU executor on fresh random inputs (every op and dtype), CPU vs reference"
build/bin/chitu-op-tests --gtest_brief=1 2>&1 | tee "$log/op-tests.log" | tail -n 25 || status=1

step "unit tests (loader, support, C API)"
build/bin/chitu-unit-tests --gtest_brief=1 2>&1 | tee "$log/unit-tests.log" | tail -n 5 || status=1
LD_LIBRARY_PATH=build/lib build/bin/capi_example "$CHITU_OP_CASES/add_f32.cbin" || status=1

step "examples on the GPU"
python3 - "$CHITU_OP_CASES" <<'PY' || status=1
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng()
np.save(f"{d}/x.npy", rng.standard_normal((9, 64)).astype(np.float32))
np.save(f"{d}/mask.npy", np.triu(np.full((9, 9), -np.inf, np.float32), 1))
PY
for dev in cpu cuda; do
  build/bin/chitu-run "$CHITU_OP_CASES/example_attention.cbin" --device $dev \
    --input x="$CHITU_OP_CASES/x.npy" --input mask="$CHITU_OP_CASES/mask.npy" || status=1
done

if command -v compute-sanitizer >/dev/null; then
  step "compute-sanitizer memcheck over a kernel of each family"
  compute-sanitizer --tool memcheck --error-exitcode 3 build/bin/chitu-op-tests --gtest_brief=1 \
    --gtest_filter='*GpuMatchesCpu/*matmul_broadcast_bf16:*GpuMatchesCpu/gather_axis1_f16:*GpuMatchesCpu/softmax1_f32:*GpuMatchesCpu/layer_norm_bf16:*GpuMatchesCpu/reduce_max1_i64:*GpuMatchesCpu/concat_rows_i32:*GpuMatchesCpu/slice_bf16:*GpuMatchesCpu/example_attention:GatherErrors.*' \
    2>&1 | tee "$log/memcheck.log" | tail -n 8 || status=1
fi
echo "== gpu-test.sh: $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
