// common.cuh: types, conversions and scalar semantics shared by every generated kernel.
//
// Compiled by NVRTC inside chitu-compile with no system headers, so everything here is
// self-contained. The scalar semantics mirror runtime/cpu/Scalar.h line by line, so that
// the CUDA and CPU executors compute the same function.
#pragma once

namespace chitu {

typedef long long i64;
typedef int i32;

template <typename A, typename B> struct same_type {
  static constexpr bool value = false;
};
template <typename A> struct same_type<A, A> {
  static constexpr bool value = true;
};

// 16-bit floats travel as raw bits; arithmetic happens in f32.
struct bf16 {
  unsigned short bits;
};
struct f16 {
  unsigned short bits;
};
// fp8 e4m3 ("fn": no infinities; 0x7f and 0xff are NaN, which quantized weights never hold).
struct fp8e4m3 {
  unsigned char bits;
};

// int4 weights, two a byte (low nibble: the even element), unsigned 0..15; read through the
// int4 routines of matmul.cuh only (an element is (nibble - zero) * scale of its group).
struct int4x2 {
  unsigned char bits;
};
template <typename T> struct is_int4 {
  static constexpr bool value = false;
};
template <> struct is_int4<int4x2> {
  static constexpr bool value = true;
};
// Nibble k % 2 of a packed byte (held as signed char by the generic routes), 0..15.
__device__ __forceinline__ int int4_nibble(int byte, long long k) {
  return (int)(((unsigned)byte >> (4 * (int)(k & 1))) & 15u);
}
// 128 + nibble j of a 32-bit word of packed int4 (element j of the 8 it holds), as a float:
// the nibble becomes bits 16..19 of the float 128.0 (0x43000000), where one unit of the
// mantissa is 1. Two integer operations an element, no conversion instruction.
template <int J> __device__ __forceinline__ float int4_biased(unsigned word) {
  const unsigned x = J < 4 ? word << (16 - 4 * J) : word >> (4 * J - 16);
  return __uint_as_float((x & 0x000F0000u) | 0x43000000u);
}

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(signed char x) { return (float)x; }
__device__ __forceinline__ float to_float(bf16 x) {
  return __uint_as_float(((unsigned)x.bits) << 16);
}
__device__ __forceinline__ float to_float(f16 x) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
  return f;
}
// e4m3's exponent and mantissa moved into f32's fields, then times 2^(127 - 7): exact for
// normal and subnormal values alike (as runtime/support/DType.cpp decodes them).
__device__ __forceinline__ float to_float(fp8e4m3 x) {
  const unsigned b = x.bits;
  return __uint_as_float(((b & 0x80u) << 24) | ((b & 0x7fu) << 20)) * 0x1p120f;
}

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) {
  bf16 r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.bits) : "f"(x));
  return r;
}
template <> __device__ __forceinline__ f16 from_float<f16>(float x) {
  f16 r;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(x));
  return r;
}

// Loads N consecutive values of T at p as floats: one 16-byte load when N values fill 16
// bytes (p must then be 16-byte aligned), scalar loads otherwise.
// Four int8 values (one 32-bit word, lowest byte first) as floats: byte q + 128 (the sign
// bit flipped) becomes the low mantissa byte of 2^23 + q + 128, then one exact subtraction.
// Integer-pipe byte permutes and an FADD instead of an I2F conversion per value (I2F issues
// at a sixteenth of the FMA rate).
__device__ __forceinline__ void int8x4_to_floats(unsigned word, float *out) {
  const unsigned biased = word ^ 0x80808080u;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    out[i] = __uint_as_float(__byte_perm(biased, 0x4B000000u, 0x7540u | i)) - 8388736.0f;
}

// Four fp8 e4m3 values (one 32-bit word, lowest byte first) as floats: two hardware
// conversions to f16 pairs on sm_89+ (every e4m3 value is an f16 value), else to_float's
// bit moves per value.
__device__ __forceinline__ void fp8x4_to_floats(unsigned word, float *out) {
#if __CUDA_ARCH__ >= 890
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const unsigned short pair = (unsigned short)(word >> (16 * h));
    unsigned halves;
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(halves) : "h"(pair));
    asm("cvt.f32.f16 %0, %1;" : "=f"(out[2 * h]) : "h"((unsigned short)(halves & 0xffffu)));
    asm("cvt.f32.f16 %0, %1;" : "=f"(out[2 * h + 1]) : "h"((unsigned short)(halves >> 16)));
  }
#else
#pragma unroll
  for (int i = 0; i < 4; ++i)
    out[i] = to_float(fp8e4m3{(unsigned char)(word >> (8 * i))});
#endif
}

// Four 1-byte weights of type T (signed char: int8, fp8e4m3) as floats.
template <typename T> __device__ __forceinline__ void bytes4_to_floats(unsigned word, float *out) {
  if constexpr (same_type<T, fp8e4m3>::value)
    fp8x4_to_floats(word, out);
  else
    int8x4_to_floats(word, out);
}

template <int N, typename T>
__device__ __forceinline__ void load_floats(const T *__restrict__ p, float (&out)[N]) {
  if constexpr (N * sizeof(T) == 16) {
    const uint4 v = *reinterpret_cast<const uint4 *>(p);
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
    if constexpr (sizeof(T) == 4) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        out[i] = __uint_as_float(w[i]);
    } else if constexpr (sizeof(T) == 1) {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        bytes4_to_floats<T>(w[i], out + 4 * i);
    } else {
#pragma unroll
      for (int i = 0; i < N; ++i) {
        T t;
        t.bits = (unsigned short)(w[i / 2] >> (16 * (i % 2)));
        out[i] = to_float(t);
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i)
      out[i] = to_float(p[i]);
  }
}

// Rounds an f32 value to the precision of a storage type (casts inside a kernel).
__device__ __forceinline__ float round_bf16(float x) { return to_float(from_float<bf16>(x)); }
__device__ __forceinline__ float round_f16(float x) { return to_float(from_float<f16>(x)); }

__device__ __forceinline__ float inf_f32() { return __int_as_float(0x7f800000); }

// ---- float ops ---------------------------------------------------------------------
__device__ __forceinline__ float max_f32(float a, float b) { return (a > b || a != a) ? a : b; }
__device__ __forceinline__ float min_f32(float a, float b) { return (a < b || a != a) ? a : b; }
__device__ __forceinline__ float sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float silu_f32(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ float gelu_f32(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}
__device__ __forceinline__ float gelu_tanh_f32(float x) {
  return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float relu_f32(float x) { return (x > 0.0f || x != x) ? x : 0.0f; }
__device__ __forceinline__ float rsqrt_f32(float x) { return 1.0f / sqrtf(x); }

// ---- integer ops: wrapping, division by zero gives 0 -------------------------------
__device__ __forceinline__ i32 add_i32(i32 a, i32 b) { return (i32)((unsigned)a + (unsigned)b); }
__device__ __forceinline__ i32 sub_i32(i32 a, i32 b) { return (i32)((unsigned)a - (unsigned)b); }
__device__ __forceinline__ i32 mul_i32(i32 a, i32 b) { return (i32)((unsigned)a * (unsigned)b); }
__device__ __forceinline__ i32 neg_i32(i32 a) { return (i32)(0u - (unsigned)a); }
__device__ __forceinline__ i32 div_i32(i32 a, i32 b) {
  return b == 0 ? 0 : (b == -1 ? neg_i32(a) : a / b);
}
__device__ __forceinline__ i64 add_i64(i64 a, i64 b) {
  return (i64)((unsigned long long)a + (unsigned long long)b);
}
__device__ __forceinline__ i64 sub_i64(i64 a, i64 b) {
  return (i64)((unsigned long long)a - (unsigned long long)b);
}
__device__ __forceinline__ i64 mul_i64(i64 a, i64 b) {
  return (i64)((unsigned long long)a * (unsigned long long)b);
}
__device__ __forceinline__ i64 neg_i64(i64 a) { return (i64)(0ull - (unsigned long long)a); }
__device__ __forceinline__ i64 div_i64(i64 a, i64 b) {
  return b == 0 ? 0 : (b == -1 ? neg_i64(a) : a / b);
}
template <typename I> __device__ __forceinline__ I max_int(I a, I b) { return a > b ? a : b; }
template <typename I> __device__ __forceinline__ I min_int(I a, I b) { return a < b ? a : b; }

// Float to integer: truncate toward zero, saturate, NaN to 0.
__device__ __forceinline__ i32 f32_to_i32(float x) {
  if (x != x)
    return 0;
  if (x >= 2147483647.0f)
    return 2147483647;
  if (x <= -2147483648.0f)
    return (i32)(-2147483647 - 1);
  return (i32)x;
}
__device__ __forceinline__ i64 f32_to_i64(float x) {
  if (x != x)
    return 0;
  if (x >= 9223372036854775807.0f)
    return 9223372036854775807LL;
  if (x <= -9223372036854775808.0f)
    return (i64)(-9223372036854775807LL - 1);
  return (i64)x;
}

// ---- size arithmetic used in generated index computations ----------------------------
__device__ __forceinline__ i64 floordiv(i64 a, i64 b) {
  i64 q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
__device__ __forceinline__ i64 ceildiv(i64 a, i64 b) {
  i64 q = a / b;
  return (a % b != 0 && ((a < 0) == (b < 0))) ? q + 1 : q;
}
__device__ __forceinline__ i64 mod(i64 a, i64 b) { return a - floordiv(a, b) * b; }
__device__ __forceinline__ i64 max(i64 a, i64 b) { return a > b ? a : b; }
__device__ __forceinline__ i64 min(i64 a, i64 b) { return a < b ? a : b; }

// Kernels that can fail (an index out of range) set their status word; the runtime reads
// it after the run and reports which kernel failed.
__device__ __forceinline__ void report_error(unsigned *status, unsigned code) {
  atomicExch(status, code);
}
constexpr unsigned kErrorIndexOutOfRange = 1;

} // namespace chitu
