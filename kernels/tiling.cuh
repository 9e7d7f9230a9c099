// tiling.cuh: the tile sizes and shared-memory footprints of the product routines
// (matmul.cuh) and of prefill attention (llm.cuh), in plain C++ as well as CUDA: the compiler includes this header too, to size
// launch grids and dynamic shared memory from the same numbers the kernels use.
#pragma once

#if defined(__CUDACC__)
#define CHITU_HOST_DEVICE __host__ __device__
#else
#define CHITU_HOST_DEVICE
#endif

namespace chitu {

// CUDA-core tiles (gemm_tile_fused): 64 x 64, K 16 at a time.
constexpr int kGemmBM = 64, kGemmBN = 64, kGemmBK = 16;
// Floats of shared memory gemm_tile_fused<NB> needs.
CHITU_HOST_DEVICE constexpr int gemm_smem_floats(int nb) {
  return (1 + nb) * kGemmBK * (kGemmBN + 4);
}

// Matrix-vector routines: up to kGemvMaxRows rows, kGemvCols columns per block (one per warp
// of 256 threads), A staged kGemvSmemFloats at a time.
constexpr int kGemvMaxRows = 16;
constexpr int kGemvCols = 8;
constexpr int kGemvSmemFloats = 8192;
CHITU_HOST_DEVICE constexpr int gemv_smem_floats() { return kGemvSmemFloats; }

// Tensor-core matrix-vector routine: 16 rows, A rows kept apart by a stride = 32 mod 64
// elements so that neighbouring rows' 16-byte fragment loads fall in different banks.
constexpr int kMmaRows = 16;
CHITU_HOST_DEVICE constexpr int mma_row_stride(long long kc) {
  return (int)((kc + 63) / 64 * 64 + 32);
}

// Tensor-core tiles (gemm_tile_mma): 128 x 128 of all products together, K 32 at a time
// through kMmaStages stages of rows padded by 8 elements.
constexpr int kMmaBM = 128, kMmaBN = 128, kMmaBK = 32, kMmaBKPad = kMmaBK + 8, kMmaStages = 2;
// Floats of shared memory gemm_tile_mma needs (any NB).
CHITU_HOST_DEVICE constexpr int gemm_mma_smem_floats() {
  return kMmaStages * (kMmaBM + kMmaBN) * kMmaBKPad / 2;
}

// A product kernel's functions: one body, compiled once per route (compiler/codegen).
// Library routes: launches of at least kLibraryMinRows rows run their products on a GEMM
// library (cuBLASLt) where the runtime has one: the A function writes A's rows (the
// prologue applied) kLibraryARows per block, the B function writes quantized weights as
// A's 16-bit type (dequantized), the epilogue function computes the kernel's results from
// the library's products, one tile of them per block.
enum ProductRoute : int {
  kRouteTiles = 0,
  kRouteFewRows = 1,
  kRouteLibraryA = 2,
  kRouteLibraryEpilogue = 3,
  kRouteLibraryB = 4
};
// The B function's blocks (a grid-stride loop over the weights).
constexpr int kLibraryBBlocks = 1056;
constexpr int kLibraryMinRows = 64, kLibraryARows = 8;

// Prefill attention (flash_attention_tile in llm.cuh): kFlashRows query tokens of one head per
// block (16 warps x 16 rows), keys through two shared-memory stages of kFlashKeys, each
// computed as halves of kFlashSubKeys (registers: a 16 x kFlashSubKeys score tile per warp).
constexpr int kFlashRows = 256, kFlashKeys = 64, kFlashSubKeys = 32;
constexpr int kFlashMinTokens = 64; // fewer tokens (decode): the per-(token, head) routine
// Bytes of shared memory the tile takes for head dimension d: the queries and two stages of
// K and V, rows padded by 16 bytes (fragment loads then hit 32 different banks), then three
// ints per query row and four of control.
CHITU_HOST_DEVICE constexpr bool flash_attention_supported(int d, int elementBytes) {
  return elementBytes == 2 && d % 16 == 0 && d <= 128;
}
CHITU_HOST_DEVICE constexpr int flash_smem_bytes(int d) {
  return (kFlashRows + 2 * 2 * kFlashKeys) * (d + 8) * 2 + (3 * kFlashRows + 4) * 4;
}

// Shared memory of the per-(token, head group) paged attention routine with kWarps warps and
// gh query heads at once: per head and warp its max, sum, weight and d accumulated values,
// and per head the merged max.
CHITU_HOST_DEVICE constexpr int paged_attention_smem_floats(int d, int warps, int gh) {
  return gh * warps * (3 + d) + gh;
}

// Decode attention split over the keys (paged_attention_all in llm.cuh): launches of at most
// kSplitMaxTokens tokens whose query heads group by GH per KV head cut each (token, group)'s
// keys into up to kSplitMaxParts parts of at least kSplitMinKeys keys (one round of a 16-warp
// block), so that about kSplitTargetBlocks blocks run instead of one per (token, group); the
// last part of each to finish merges the parts. Its global scratch (kernel_scratch): per token
// a 256-byte-aligned row of one u32 counter per group (zero between launches), then per
// (token, head, part) the part's running max, sum and D unnormalised output values.
constexpr int kSplitMaxTokens = 16, kSplitMaxParts = 16, kSplitMinKeys = 32;
constexpr int kSplitTargetBlocks = 128;
CHITU_HOST_DEVICE constexpr long long split_counter_bytes(long long groups) {
  return (groups * 4 + 255) / 256 * 256;
}
CHITU_HOST_DEVICE constexpr long long split_partial_floats(int d) { return 2 + d; }
// Bytes of scratch per token of a launch (tokens beyond kSplitMaxTokens take none).
CHITU_HOST_DEVICE constexpr long long split_scratch_bytes_per_token(long long heads,
                                                                    long long groups, int d) {
  return split_counter_bytes(groups) + heads * kSplitMaxParts * split_partial_floats(d) * 4;
}

// Dense attention (dense_attention in llm.cuh): kDenseRows query rows of one batch element per
// block of kDenseWarps warps (each warp kDenseRows / kDenseWarps rows), keys and values
// through shared memory kDenseKeys at a time (one key per lane). Floats of shared memory for
// head dimension d and value dimension dv: the queries, the keys (rows padded by one float so
// that the lanes' rows fall in different banks) and the values.
constexpr int kDenseRows = 16, kDenseKeys = 32, kDenseWarps = 4;
constexpr int kDenseMaxDim = 256;
CHITU_HOST_DEVICE constexpr int dense_attention_smem_floats(int d, int dv) {
  return kDenseRows * d + kDenseKeys * (d + 1) + kDenseKeys * dv;
}
// Its tensor-core form (dense_flash_attention): kDenseFlashRows query rows per block of
// kDenseFlashWarps warps (16 rows each), keys in two stages of kFlashKeys as in prefill
// attention, for 16-bit types with equal head and value dimensions, a multiple of 16 up to 128.
constexpr int kDenseFlashWarps = 4, kDenseFlashRows = 16 * kDenseFlashWarps;
CHITU_HOST_DEVICE constexpr bool dense_flash_supported(int d, int dv, int elementBytes) {
  return d == dv && flash_attention_supported(d, elementBytes);
}
CHITU_HOST_DEVICE constexpr int dense_flash_smem_bytes(int d) {
  return (kDenseFlashRows + 2 * 2 * kFlashKeys) * (d + 8) * 2;
}

} // namespace chitu
