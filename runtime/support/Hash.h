// FNV-1a 64: the checksum of safetensors headers recorded in .cbin files, and the key of the
// compiler's NVRTC cache. Stable across platforms and versions by construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace chitu {

inline uint64_t fnv1a64(const void *data, size_t size, uint64_t seed = 0xcbf29ce484222325ull) {
  const auto *p = static_cast<const uint8_t *>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

inline uint64_t fnv1a64(std::string_view s, uint64_t seed = 0xcbf29ce484222325ull) {
  return fnv1a64(s.data(), s.size(), seed);
}

} // namespace chitu
