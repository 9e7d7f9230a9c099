// The cbin encoding of quantized weights (cbin.fbs Quantization) in terms of
// support/Quantize.h, shared by chitu-compile (writes it), the loader and chitu-inspect.
#pragma once

#include "chitu/cbin/cbin_generated.h"
#include "support/Quantize.h"

#include <optional>
#include <string>
#include <utility>

namespace chitu {

inline cbin::Quantization encodeQuantization(WeightScheme scheme, WeightPart part) {
  const bool values = part == WeightPart::Values;
  switch (scheme) {
  case WeightScheme::Int8Rows:
    return values ? cbin::Quantization::INT8_ROWS_VALUES : cbin::Quantization::INT8_ROWS_SCALES;
  case WeightScheme::Fp8Rows:
    return values ? cbin::Quantization::FP8_ROWS_VALUES : cbin::Quantization::FP8_ROWS_SCALES;
  case WeightScheme::Int4Sym:
    return values ? cbin::Quantization::INT4_SYM_VALUES : cbin::Quantization::INT4_SYM_SCALES;
  case WeightScheme::Int4Asym:
    return values                       ? cbin::Quantization::INT4_ASYM_VALUES
           : part == WeightPart::Scales ? cbin::Quantization::INT4_ASYM_SCALES
                                        : cbin::Quantization::INT4_ASYM_ZEROS;
  }
  return cbin::Quantization::NONE;
}

// The scheme and part of a quantized weight (nullopt: NONE or unknown).
inline std::optional<std::pair<WeightScheme, WeightPart>> decodeQuantization(cbin::Quantization q) {
  using S = WeightScheme;
  using P = WeightPart;
  switch (q) {
  case cbin::Quantization::INT8_ROWS_VALUES:
    return std::make_pair(S::Int8Rows, P::Values);
  case cbin::Quantization::INT8_ROWS_SCALES:
    return std::make_pair(S::Int8Rows, P::Scales);
  case cbin::Quantization::FP8_ROWS_VALUES:
    return std::make_pair(S::Fp8Rows, P::Values);
  case cbin::Quantization::FP8_ROWS_SCALES:
    return std::make_pair(S::Fp8Rows, P::Scales);
  case cbin::Quantization::INT4_SYM_VALUES:
    return std::make_pair(S::Int4Sym, P::Values);
  case cbin::Quantization::INT4_SYM_SCALES:
    return std::make_pair(S::Int4Sym, P::Scales);
  case cbin::Quantization::INT4_ASYM_VALUES:
    return std::make_pair(S::Int4Asym, P::Values);
  case cbin::Quantization::INT4_ASYM_SCALES:
    return std::make_pair(S::Int4Asym, P::Scales);
  case cbin::Quantization::INT4_ASYM_ZEROS:
    return std::make_pair(S::Int4Asym, P::Zeros);
  default:
    return std::nullopt;
  }
}

inline bool isInt4(WeightScheme scheme) {
  return scheme == WeightScheme::Int4Sym || scheme == WeightScheme::Int4Asym;
}

// Names: the scheme as chitu.weight's `quantize` spells it, and a part's tensor suffix.
inline const char *schemeName(WeightScheme scheme) {
  switch (scheme) {
  case WeightScheme::Int8Rows:
    return "int8_rows";
  case WeightScheme::Fp8Rows:
    return "fp8_rows";
  case WeightScheme::Int4Sym:
    return "int4_sym";
  case WeightScheme::Int4Asym:
    return "int4_asym";
  }
  return "?";
}

inline std::optional<WeightScheme> schemeFromName(const std::string &name) {
  for (WeightScheme s : {WeightScheme::Int8Rows, WeightScheme::Fp8Rows, WeightScheme::Int4Sym,
                         WeightScheme::Int4Asym})
    if (name == schemeName(s))
      return s;
  return std::nullopt;
}

inline const char *partName(WeightPart part) {
  return part == WeightPart::Values ? "values" : part == WeightPart::Scales ? "scales" : "zeros";
}

} // namespace chitu

namespace chitu {
// The name of one part of a quantized weight in the .cbin (source ".int8_values",
// ".int4_asym_g128_zeros", ...).
inline std::string quantizedPartName(const std::string &source, WeightScheme scheme, int64_t group,
                                     WeightPart part) {
  std::string prefix = scheme == WeightScheme::Int8Rows  ? ".int8"
                       : scheme == WeightScheme::Fp8Rows ? ".fp8"
                       : scheme == WeightScheme::Int4Sym ? ".int4_g" + std::to_string(group)
                                                         : ".int4_asym_g" + std::to_string(group);
  return source + prefix + "_" + partName(part);
}
} // namespace chitu
