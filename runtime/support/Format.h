// Small formatting helpers shared by the tools.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace chitu {

// "1.5 KiB", "12.3 MiB", "2.00 GiB".
inline std::string humanBytes(uint64_t b) {
  char buf[32];
  if (b >= (uint64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(uint64_t(1) << 30));
  else if (b >= (uint64_t(1) << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(uint64_t(1) << 20));
  else if (b >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)b);
  return buf;
}

// A byte count as users write it: "6GiB", "512 MiB", "1.5G", "100000" (bytes). K/M/G/T and
// KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000. Nothing for anything else
// (negative, empty, unknown unit, overflow).
inline std::optional<uint64_t> parseBytes(const std::string &text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.'))
    ++i;
  if (i == 0 || text.find_first_of("0123456789") >= i || text.find('.') != text.rfind('.'))
    return std::nullopt;
  double value = 0;
  try {
    value = std::stod(text.substr(0, i));
  } catch (...) {
    return std::nullopt;
  }
  std::string unit;
  for (size_t j = i; j < text.size(); ++j)
    if (text[j] != ' ')
      unit += char(std::tolower((unsigned char)text[j]));
  double scale = 0;
  const char *units[] = {"", "k", "m", "g", "t"};
  for (int p = 0; p < 5; ++p) {
    double binary = 1, decimal = 1;
    for (int q = 0; q < p; ++q)
      binary *= 1024, decimal *= 1000;
    std::string u = units[p];
    if (unit == u || unit == u + "b" || (p > 0 && unit == u + "ib") || (p == 0 && unit == "bytes"))
      scale = (p > 0 && unit == u + "b") ? decimal : binary;
  }
  if (scale == 0 || value * scale >= 18446744073709551615.0)
    return std::nullopt;
  return uint64_t(value * scale);
}

} // namespace chitu
