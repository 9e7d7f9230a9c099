#include "Unicode.h"

#include <algorithm>
#include <unordered_map>

namespace chitu::unicode {
namespace {

struct CategoryRange {
  uint32_t lo, hi;
  uint8_t value;
};
struct Decomposition {
  uint32_t cp, first, second; // second == 0: a singleton
};
struct Composition {
  uint32_t first, second, composite;
};

#include "UnicodeTables.inc"

template <size_t N> const CategoryRange *findRange(const CategoryRange (&table)[N], char32_t cp) {
  const CategoryRange *it = std::upper_bound(
      table, table + N, uint32_t(cp), [](uint32_t v, const CategoryRange &r) { return v < r.lo; });
  if (it == table)
    return nullptr;
  --it;
  return cp <= it->hi ? it : nullptr;
}

// Hangul syllables compose and decompose algorithmically.
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

void decompose(char32_t cp, std::u32string &out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    int s = int(cp - kSBase);
    out += char32_t(kLBase + s / kNCount);
    out += char32_t(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount)
      out += char32_t(kTBase + s % kTCount);
    return;
  }
  const Decomposition *end = kDecompositions + sizeof(kDecompositions) / sizeof(kDecompositions[0]);
  const Decomposition *d =
      std::lower_bound(kDecompositions, end, uint32_t(cp),
                       [](const Decomposition &x, uint32_t v) { return x.cp < v; });
  if (d == end || d->cp != cp) {
    out += cp;
    return;
  }
  decompose(d->first, out);
  if (d->second)
    decompose(d->second, out);
}

char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition *end = kCompositions + sizeof(kCompositions) / sizeof(kCompositions[0]);
  const Composition *c =
      std::lower_bound(kCompositions, end, std::pair<uint32_t, uint32_t>(a, b),
                       [](const Composition &x, std::pair<uint32_t, uint32_t> v) {
                         return x.first < v.first || (x.first == v.first && x.second < v.second);
                       });
  if (c != end && c->first == a && c->second == b)
    return c->composite;
  return 0;
}

} // namespace

std::u32string decodeUtf8(std::string_view s) {
  // Well-formed sequences per the Unicode standard (table 3-7). An ill-formed one becomes
  // one U+FFFD per maximal subpart, as Rust's from_utf8_lossy and Python's "replace" do.
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += char32_t(c);
      ++i;
      continue;
    }
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    }
    char32_t cp = len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    int k = 1;
    for (; len > 0 && k < len && i + size_t(k) < s.size(); ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + size_t(k)]);
      if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xBF))
        break;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (len == 0 || k < len) {
      out += char32_t(0xFFFD);
      i += size_t(k);
      continue;
    }
    out += cp;
    i += size_t(len);
  }
  return out;
}

bool isValidUtf8(std::string_view s) {
  std::u32string d = decodeUtf8(s);
  return encodeUtf8(d) == s;
}

std::string encodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s)
    appendUtf8(out, cp);
  return out;
}

const char *category(char32_t cp) {
  if (cp > 0x10FFFF)
    return "Cn";
  const CategoryRange *r = findRange(kCategoryRanges, cp);
  return r ? kCategoryNames[r->value] : "Cn";
}

bool isWhiteSpace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

uint8_t combiningClass(char32_t cp) {
  const CategoryRange *r = findRange(kCombiningRanges, cp);
  return r ? r->value : 0;
}

std::u32string nfc(std::u32string_view s) {
  // Canonical decomposition, canonical ordering of marks, then canonical composition.
  std::u32string d;
  for (char32_t cp : s)
    decompose(cp, d);
  for (size_t i = 1; i < d.size(); ++i) { // stable sort of each run of non-starters
    size_t j = i;
    while (j > 0 && combiningClass(d[j]) != 0 && combiningClass(d[j - 1]) > combiningClass(d[j])) {
      std::swap(d[j], d[j - 1]);
      --j;
    }
  }
  // A character composes with the last starter unless something between them blocks it
  // (a starter, or a mark of the same or a higher class).
  std::u32string out;
  size_t starter = std::u32string::npos;
  for (char32_t cp : d) {
    int cc = combiningClass(cp);
    if (starter != std::u32string::npos) {
      bool adjacent = out.size() == starter + 1;
      int last = adjacent ? -1 : combiningClass(out.back());
      bool blocked = !adjacent && (last == 0 || last >= cc);
      if (!blocked)
        if (char32_t c = compose(out[starter], cp)) {
          out[starter] = c;
          continue;
        }
    }
    if (cc == 0)
      starter = out.size();
    out += cp;
  }
  return out;
}

std::string nfc(std::string_view utf8) { return encodeUtf8(nfc(decodeUtf8(utf8))); }

} // namespace chitu::unicode
