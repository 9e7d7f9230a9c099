// Unicode support for the tokenizer: UTF-8 decoding and encoding, general categories,
// white space, and NFC normalisation. Tables come from Python's unicodedata at build time
// (gen_unicode_tables.py).
#pragma once

#include "support/Utf8.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chitu::unicode {

// Decodes UTF-8; each invalid byte becomes U+FFFD (as a lossy decoder does).
std::u32string decodeUtf8(std::string_view s);
using ::chitu::appendUtf8;
std::string encodeUtf8(std::u32string_view s);
// True if `s` is valid UTF-8.
bool isValidUtf8(std::string_view s);

// The two-letter general category, e.g. "Lu", "Nd", "Zs" ("Cn" when unassigned).
const char *category(char32_t cp);
// Unicode's White_Space property (what regex \s matches).
bool isWhiteSpace(char32_t cp);
uint8_t combiningClass(char32_t cp);

std::u32string nfc(std::u32string_view s);
std::string nfc(std::string_view utf8);

} // namespace chitu::unicode
