#!/usr/bin/env bash
# Runs chitu's GPU tests on a machine with an NVIDIA GPU, from a build made elsewhere.
#
# On the build machine (needs MLIR; no GPU):
#   cmake -S . -B build -G Ninja && cmake --build build && (cd build && ctest -R 'ops.compile|llm.prepare')
# then copy build/bin, build/lib, build/test/ops and build/test/llm to the GPU machine (same
# paths under the checkout) and run there:
#   bash scripts/gpu-test.sh [LOG_DIR]
# With PyTorch and transformers installed it also checks the bf16 artifacts against
# transformers (test/llm/check_against_transformers.py), including build/test/llm-big/* when
# present (configs compiled without weights, e.g. test/llm/configs/llama-3.2-1b).
# The runtime binaries need only libstdc++ and the NVIDIA driver (libcuda is dlopen'ed).
set -uo pipefail
log=${1:-gpu-test-logs}
mkdir -p "$log"
export CHITU_OP_CASES=${CHITU_OP_CASES:-$PWD/build/test/ops}
export CHITU_LLM_MODELS=${CHITU_LLM_MODELS:-$PWD/build/test/llm}
export CHITU_LLM_TEST_DIR=$PWD/test/llm
status=0
step() { echo "== $*"; }

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || status=1

step "op tests: CUDA vs CPU executor on fresh random inputs (every op and dtype), CPU vs reference"
build/bin/chitu-op-tests --gtest_brief=1 2>&1 | tee "$log/op-tests.log" | tail -n 25 || status=1

step "unit tests (loader, support, C API)"
build/bin/chitu-unit-tests --gtest_brief=1 2>&1 | tee "$log/unit-tests.log" | tail -n 5 || status=1
LD_LIBRARY_PATH=build/lib build/bin/capi_example "$CHITU_OP_CASES/add_f32.cbin" || status=1
LD_LIBRARY_PATH=build/lib python3 test/llm/test_capi_llm.py --example build/bin/capi_llm_example \
  --models "$CHITU_LLM_MODELS" --device cuda || status=1

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

step "chitu-run generation on the GPU (bundled model, compiled by the build machine's ctest)"
if [ -f build/test/cli/tiny-llama.cbin ]; then
  build/bin/chitu-run build/test/cli/tiny-llama.cbin --device cuda --weights models/tiny-llama \
    --prompt "The compiler" --max-tokens 32 --seed 1 || status=1
  python3 test/llm/test_cli.py --bin build/bin --work "$log/cli" --device cuda \
    --cbin build/test/cli/tiny-llama.cbin || status=1
fi

step "LLM tests: tiny checkpoints vs transformers' golden logits and greedy ids, CPU and GPU"
build/bin/chitu-llm-tests --gtest_brief=1 2>&1 | tee "$log/llm-tests.log" | tail -n 8 || status=1

if [ -f build/test/onnx-node/manifest.json ]; then
  step "ONNX backend node tests on CUDA (compiled by the build machine's ctest)"
  python3 test/onnx/run_node_tests.py run --device cuda --work build/test/onnx-node \
    --expected test/onnx/expected_pass.txt --report "$log/onnx-conformance-cuda.md" 2>&1 \
    | grep -v "  ran:" | tail -n 8 || status=1
fi
if [ -d build/test/onnx-models ]; then
  step "ONNX models (tiny BERT, GPT-2; fp32, bf16, fp16) on CUDA against onnxruntime"
  python3 test/onnx/test_models.py --run-only --device cuda --work build/test/onnx-models 2>&1 \
    | tee "$log/onnx-models.log" | tail -n 26 || status=1
fi

if python3 -c 'import torch, transformers' 2>/dev/null; then
  step "bf16 artifacts vs transformers bf16 on this GPU (cosine >= 0.9995, greedy 32 identical)"
  big=()
  for d in build/test/llm-big/*/; do [ -f "$d/config.json" ] && big+=(--big "$d"); done
  python3 test/llm/check_against_transformers.py --bin build/bin --models "$CHITU_LLM_MODELS" \
    "${big[@]}" --json "$log/transformers.json" 2>&1 | tee "$log/transformers.log" | tail -n 30 \
    || status=1
fi

if command -v compute-sanitizer >/dev/null; then
  step "compute-sanitizer memcheck over a kernel of each family"
  compute-sanitizer --tool memcheck --error-exitcode 3 build/bin/chitu-op-tests --gtest_brief=1 \
    --gtest_filter='*GpuMatchesCpu/*matmul_broadcast_bf16:*GpuMatchesCpu/gather_axis1_f16:*GpuMatchesCpu/softmax1_f32:*GpuMatchesCpu/layer_norm_bf16:*GpuMatchesCpu/reduce_max1_i64:*GpuMatchesCpu/concat_rows_i32:*GpuMatchesCpu/slice_bf16:*GpuMatchesCpu/example_attention:*GpuMatchesCpu/matmul_trhs_longk_bf16:*GpuMatchesCpu/matmul_trhs_longk_rounds_f16:*GpuMatchesCpu/matmul_trhs_tall_bf16:*GpuMatchesCpu/matmul_trhs_wide_bf16:*GpuMatchesCpu/fuse_head_bf16:*GpuMatchesCpu/fuse_swiglu_residual_bf16:*GpuMatchesCpu/paged_attention_long_bf16:*GpuMatchesCpu/paged_attention_prefill_d128_w_bf16:*GpuMatchesCpu/paged_attention_prefill_d80_bs5_f16:*GpuMatchesCpu/paged_attention_d12_f32:*GpuMatchesCpu/multinomial:*GpuMatchesCpu/sampling_probs_greedy:*GpuMatchesCpu/fuse_wide_swiglu_bf16:*GpuMatchesCpu/fuse_wide_head_f32:*GpuMatchesCpu/paged_attention_grouped_d64_w_bf16:*GpuMatchesCpu/paged_attention_grouped_long_d128_bf16:*GpuMatchesCpu/gather_elements_bf16:*GpuMatchesCpu/cumsum_excl_rev_f32:*GpuMatchesCpu/select_i64:*GpuMatchesCpu/compare_lt_f16:*GpuMatchesCpu/iota_bf16:*GpuMatchesCpu/from_sizes_i64:*GpuMatchesCpu/broadcast_to_i32:*GpuMatchesCpu/reduce_max_i1:*GpuMatchesCpu/attention_pad_d16_bf16:*GpuMatchesCpu/attention_nomask_d80_v24_f32:*GpuMatchesCpu/attention_causal_d256_f16:*GpuMatchesCpu/fuse_int8_swiglu_bf16:*GpuMatchesCpu/fuse_fp8_swiglu_f32:*GpuMatchesCpu/fuse_int4_swiglu_bf16:*GpuMatchesCpu/fuse_int4_swiglu_f32:GatherErrors.*' \
    2>&1 | tee "$log/memcheck.log" | tail -n 8 || status=1
  step "compute-sanitizer racecheck over the shared-memory product and attention routines"
  compute-sanitizer --tool racecheck --error-exitcode 3 build/bin/chitu-op-tests --gtest_brief=1 \
    --gtest_filter='*GpuMatchesCpu/matmul_trhs_longk_bf16:*GpuMatchesCpu/matmul_trhs_longk_rounds_bf16:*GpuMatchesCpu/matmul_trhs_tall_f16:*GpuMatchesCpu/matmul_trhs_wide_f16:*GpuMatchesCpu/fuse_swiglu_residual_bf16:*GpuMatchesCpu/paged_attention_prefill_d64_bf16:*GpuMatchesCpu/paged_attention_prefill_d80_bs5_f16:*GpuMatchesCpu/fuse_wide_swiglu_bf16:*GpuMatchesCpu/paged_attention_grouped_d128_f16:*GpuMatchesCpu/paged_attention_grouped_long_d128_bf16:*GpuMatchesCpu/attention_causal_d64_bf16:*GpuMatchesCpu/attention_nomask_d80_v24_f32:*GpuMatchesCpu/fuse_int8_swiglu_bf16:*GpuMatchesCpu/fuse_fp8_swiglu_bf16:*GpuMatchesCpu/fuse_int4_swiglu_bf16' \
    2>&1 | tee "$log/racecheck.log" | tail -n 4 || status=1
  compute-sanitizer --tool memcheck --error-exitcode 3 build/bin/chitu-llm-tests --gtest_brief=1 \
    --gtest_filter='*GpuMatchesTransformers/1:*GpuMatchesTransformers/4:*GpuStreamedWeightsMatchResident/0' \
    2>&1 | tee "$log/memcheck-llm.log" | tail -n 8 || status=1
fi
echo "== gpu-test.sh: $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
