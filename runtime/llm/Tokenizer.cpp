#include "Tokenizer.h"

#include "Regex.h"
#include "Unicode.h"
#include "support/MappedFile.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <queue>

namespace chitu::tok {
namespace {

using unicode::decodeUtf8;
using unicode::encodeUtf8;

Status bad(const std::string &what) {
  return Status(StatusCode::InvalidArgument, "tokenizer.json: " + what);
}
Status unsupported(const std::string &kind, const std::string &type, const char *supported) {
  return Status(StatusCode::Unsupported, "tokenizer.json: " + kind + " '" + type +
                                             "' is not supported (supported: " + supported + ")");
}

std::string stringField(const JsonValue &v, std::string_view key, std::string fallback = "") {
  const JsonValue *f = v.find(key);
  return f && f->isString() ? f->asString() : fallback;
}
bool boolField(const JsonValue &v, std::string_view key, bool fallback) {
  const JsonValue *f = v.find(key);
  return f && f->isBool() ? f->asBool() : fallback;
}
char32_t charField(const JsonValue &v, std::string_view key, char32_t fallback) {
  const JsonValue *f = v.find(key);
  if (!f || !f->isString())
    return fallback;
  std::u32string s = decodeUtf8(f->asString());
  return s.size() == 1 ? s[0] : fallback;
}

// Parses the list `key` of a Sequence component with `make`.
template <typename T, typename Make>
Status parseSequence(const JsonValue &v, const char *key, const char *kind, Make make,
                     std::vector<std::unique_ptr<T>> &steps) {
  const JsonValue *list = v.find(key);
  if (!list || !list->isArray())
    return bad(std::string("Sequence ") + kind + " without '" + key + "'");
  for (const JsonValue &item : list->items()) {
    auto step = make(item);
    if (!step.isOk())
      return step.status();
    steps.push_back(std::move(*step));
  }
  return Status::ok();
}

// ---- Patterns and splitting (the library's Pattern and SplitDelimiterBehavior) ----

// Where a pattern matches: a partition of the text into (begin, end, isMatch) spans.
struct Span {
  size_t begin, end;
  bool isMatch;
};

class Pattern {
public:
  static StatusOr<Pattern> fromJson(const JsonValue *p) {
    Pattern out;
    if (p && p->isObject()) {
      if (const JsonValue *s = p->find("String"); s && s->isString()) {
        out.literal_ = decodeUtf8(s->asString());
        return out;
      }
      if (const JsonValue *r = p->find("Regex"); r && r->isString()) {
        auto re = regex::Regex::compile(r->asString());
        if (!re.isOk())
          return re.status().withContext("tokenizer.json: pattern " + jsonQuote(r->asString()));
        out.regex_ = std::make_shared<regex::Regex>(*re);
        return out;
      }
    }
    return bad("a pattern must be {\"String\": ...} or {\"Regex\": ...}");
  }
  static Pattern ofRegex(const regex::Regex &re) {
    Pattern out;
    out.regex_ = std::make_shared<regex::Regex>(re);
    return out;
  }
  static Pattern ofPredicate(std::function<bool(char32_t)> pred) {
    Pattern out;
    out.predicate_ = std::move(pred);
    return out;
  }

  std::vector<Span> find(const std::u32string &s) const {
    std::vector<Span> spans;
    if (s.empty())
      return {{0, 0, false}};
    size_t prev = 0;
    auto add = [&](size_t b, size_t e) {
      if (prev != b)
        spans.push_back({prev, b, false});
      spans.push_back({b, e, true});
      prev = e;
    };
    if (predicate_) {
      for (size_t i = 0; i < s.size(); ++i)
        if (predicate_(s[i]))
          add(i, i + 1);
    } else if (regex_) {
      size_t from = 0;
      while (from <= s.size()) {
        auto m = regex_->search(s, from);
        if (!m)
          break;
        add(m->first, m->second);
        from = m->second > m->first ? m->second : m->second + 1;
      }
    } else if (!literal_.empty()) {
      for (size_t at = s.find(literal_); at != std::u32string::npos;
           at = s.find(literal_, at + literal_.size()))
        add(at, at + literal_.size());
    }
    if (prev != s.size())
      spans.push_back({prev, s.size(), false});
    return spans;
  }

private:
  std::u32string literal_;
  std::shared_ptr<regex::Regex> regex_;
  std::function<bool(char32_t)> predicate_;
};

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

StatusOr<Behavior> behaviorFromJson(const JsonValue &v) {
  std::string b = stringField(v, "behavior", "Isolated");
  if (b == "Removed")
    return Behavior::Removed;
  if (b == "Isolated")
    return Behavior::Isolated;
  if (b == "MergedWithPrevious")
    return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext")
    return Behavior::MergedWithNext;
  if (b == "Contiguous")
    return Behavior::Contiguous;
  return bad("unknown split behavior '" + b + "'");
}

// Splits a piece where `pattern` matches; empty pieces are dropped.
void splitPiece(const Piece &in, const Pattern &pattern, Behavior behavior, bool invert,
                std::vector<Piece> &out) {
  std::vector<Span> spans = pattern.find(in.text);
  if (invert)
    for (Span &s : spans)
      s.isMatch = !s.isMatch;
  std::vector<std::pair<size_t, size_t>> ranges;
  bool previousMatch = false;
  switch (behavior) {
  case Behavior::Isolated:
    for (const Span &s : spans)
      ranges.push_back({s.begin, s.end});
    break;
  case Behavior::Removed:
    for (const Span &s : spans)
      if (!s.isMatch)
        ranges.push_back({s.begin, s.end});
    break;
  case Behavior::Contiguous:
    for (const Span &s : spans) {
      if (s.isMatch == previousMatch && !ranges.empty())
        ranges.back().second = s.end;
      else
        ranges.push_back({s.begin, s.end});
      previousMatch = s.isMatch;
    }
    break;
  case Behavior::MergedWithPrevious:
    for (const Span &s : spans) {
      if (s.isMatch && !previousMatch && !ranges.empty())
        ranges.back().second = s.end;
      else
        ranges.push_back({s.begin, s.end});
      previousMatch = s.isMatch;
    }
    break;
  case Behavior::MergedWithNext:
    for (size_t i = spans.size(); i-- > 0;) {
      const Span &s = spans[i];
      if (s.isMatch && !previousMatch && !ranges.empty())
        ranges.back().first = s.begin;
      else
        ranges.push_back({s.begin, s.end});
      previousMatch = s.isMatch;
    }
    std::reverse(ranges.begin(), ranges.end());
    break;
  }
  for (const auto &[b, e] : ranges) {
    if (b == e)
      continue;
    Piece p;
    p.text = in.text.substr(b, e - b);
    p.atStart = in.atStart && b == 0;
    out.push_back(std::move(p));
  }
}

// ---- Byte-level alphabet (GPT-2): every byte as a printable character ----

struct ByteAlphabet {
  char32_t byteToChar[256];
  std::unordered_map<char32_t, uint8_t> charToByte;
  ByteAlphabet() {
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      byteToChar[b] = printable ? char32_t(b) : char32_t(256 + next++);
      charToByte[byteToChar[b]] = uint8_t(b);
    }
  }
};
const ByteAlphabet &byteAlphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

// GPT-2's pre-tokenizer pattern, used by ByteLevel when use_regex is set.
const regex::Regex &gpt2Regex() {
  static const regex::Regex re =
      *regex::Regex::compile(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|)"
                             R"(\s+(?!\S)|\s+)");
  return re;
}

// ---- Normalizers ----

struct SequenceNormalizer : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> steps;
  void normalize(std::u32string &s) const override {
    for (const auto &n : steps)
      n->normalize(s);
  }
};
struct NfcNormalizer : Normalizer {
  void normalize(std::u32string &s) const override { s = unicode::nfc(s); }
};
struct PrependNormalizer : Normalizer {
  std::u32string prefix;
  void normalize(std::u32string &s) const override {
    if (!s.empty())
      s = prefix + s;
  }
};
struct ReplaceNormalizer : Normalizer {
  Pattern pattern;
  std::u32string content;
  void normalize(std::u32string &s) const override {
    std::u32string out;
    for (const Span &sp : pattern.find(s))
      out += sp.isMatch ? content : s.substr(sp.begin, sp.end - sp.begin);
    s = std::move(out);
  }
};
struct StripNormalizer : Normalizer {
  bool left = true, right = true;
  void normalize(std::u32string &s) const override {
    size_t b = 0, e = s.size();
    while (left && b < e && unicode::isWhiteSpace(s[b]))
      ++b;
    while (right && e > b && unicode::isWhiteSpace(s[e - 1]))
      --e;
    s = s.substr(b, e - b);
  }
};

StatusOr<std::unique_ptr<Normalizer>> makeNormalizer(const JsonValue &v) {
  std::string type = stringField(v, "type");
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    CHITU_RETURN_IF_ERROR(
        parseSequence(v, "normalizers", "normalizer", makeNormalizer, seq->steps));
    return std::unique_ptr<Normalizer>(std::move(seq));
  }
  if (type == "NFC")
    return std::unique_ptr<Normalizer>(std::make_unique<NfcNormalizer>());
  if (type == "Prepend") {
    auto n = std::make_unique<PrependNormalizer>();
    n->prefix = decodeUtf8(stringField(v, "prepend"));
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type == "Replace") {
    auto n = std::make_unique<ReplaceNormalizer>();
    auto pattern = Pattern::fromJson(v.find("pattern"));
    if (!pattern.isOk())
      return pattern.status();
    n->pattern = std::move(*pattern);
    n->content = decodeUtf8(stringField(v, "content"));
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  if (type == "Strip") {
    auto n = std::make_unique<StripNormalizer>();
    n->left = boolField(v, "strip_left", true);
    n->right = boolField(v, "strip_right", true);
    return std::unique_ptr<Normalizer>(std::move(n));
  }
  return unsupported("normalizer", type, "Sequence, NFC, Prepend, Replace, Strip");
}

// ---- Pre-tokenizers ----

struct SequencePreTokenizer : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  void split(const Piece &in, std::vector<Piece> &out) const override {
    std::vector<Piece> pieces{in};
    for (const auto &step : steps) {
      std::vector<Piece> next;
      for (const Piece &p : pieces)
        step->split(p, next);
      pieces = std::move(next);
    }
    for (Piece &p : pieces)
      out.push_back(std::move(p));
  }
};
struct SplitPreTokenizer : PreTokenizer {
  Pattern pattern;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
  void split(const Piece &in, std::vector<Piece> &out) const override {
    splitPiece(in, pattern, behavior, invert, out);
  }
};
struct ByteLevelPreTokenizer : PreTokenizer {
  bool addPrefixSpace = true, useRegex = true;
  void split(const Piece &in, std::vector<Piece> &out) const override {
    Piece p = in;
    if (addPrefixSpace && (p.text.empty() || p.text[0] != U' '))
      p.text.insert(p.text.begin(), U' ');
    std::vector<Piece> pieces;
    if (useRegex)
      splitPiece(p, Pattern::ofRegex(gpt2Regex()), Behavior::Isolated, false, pieces);
    else if (!p.text.empty())
      pieces.push_back(p);
    const ByteAlphabet &alphabet = byteAlphabet();
    for (Piece &piece : pieces) {
      std::string bytes = encodeUtf8(piece.text);
      piece.text.clear();
      for (unsigned char b : bytes)
        piece.text += alphabet.byteToChar[b];
      out.push_back(std::move(piece));
    }
  }
};
enum class PrependScheme { Always, Never, First };
struct MetaspacePreTokenizer : PreTokenizer {
  char32_t replacement = U'\u2581';
  PrependScheme scheme = PrependScheme::Always;
  bool splitOnReplacement = true;
  void split(const Piece &in, std::vector<Piece> &out) const override {
    Piece p = in;
    std::replace(p.text.begin(), p.text.end(), U' ', replacement);
    bool startsWithReplacement = !p.text.empty() && p.text[0] == replacement;
    if (!startsWithReplacement &&
        (scheme == PrependScheme::Always || (scheme == PrependScheme::First && p.atStart)))
      p.text.insert(p.text.begin(), replacement);
    if (!splitOnReplacement) {
      if (!p.text.empty())
        out.push_back(std::move(p));
      return;
    }
    char32_t r = replacement;
    splitPiece(p, Pattern::ofPredicate([r](char32_t c) { return c == r; }),
               Behavior::MergedWithNext, false, out);
  }
};
struct DigitsPreTokenizer : PreTokenizer {
  bool individual = false;
  void split(const Piece &in, std::vector<Piece> &out) const override {
    splitPiece(in, Pattern::ofPredicate([](char32_t c) { return c >= '0' && c <= '9'; }),
               individual ? Behavior::Isolated : Behavior::Contiguous, false, out);
  }
};

StatusOr<PrependScheme> prependSchemeFromJson(const JsonValue &v) {
  if (const JsonValue *s = v.find("prepend_scheme"); s && s->isString()) {
    if (s->asString() == "always")
      return PrependScheme::Always;
    if (s->asString() == "never")
      return PrependScheme::Never;
    if (s->asString() == "first")
      return PrependScheme::First;
    return bad("unknown prepend_scheme '" + s->asString() + "'");
  }
  // Files written before prepend_scheme existed say add_prefix_space.
  return boolField(v, "add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
}

StatusOr<std::unique_ptr<PreTokenizer>> makePreTokenizer(const JsonValue &v) {
  std::string type = stringField(v, "type");
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    CHITU_RETURN_IF_ERROR(
        parseSequence(v, "pretokenizers", "pre-tokenizer", makePreTokenizer, seq->steps));
    return std::unique_ptr<PreTokenizer>(std::move(seq));
  }
  if (type == "Split") {
    auto p = std::make_unique<SplitPreTokenizer>();
    auto pattern = Pattern::fromJson(v.find("pattern"));
    if (!pattern.isOk())
      return pattern.status();
    auto behavior = behaviorFromJson(v);
    if (!behavior.isOk())
      return behavior.status();
    p->pattern = std::move(*pattern);
    p->behavior = *behavior;
    p->invert = boolField(v, "invert", false);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "ByteLevel") {
    auto p = std::make_unique<ByteLevelPreTokenizer>();
    p->addPrefixSpace = boolField(v, "add_prefix_space", true);
    p->useRegex = boolField(v, "use_regex", true);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "Metaspace") {
    auto p = std::make_unique<MetaspacePreTokenizer>();
    p->replacement = charField(v, "replacement", U'\u2581');
    auto scheme = prependSchemeFromJson(v);
    if (!scheme.isOk())
      return scheme.status();
    p->scheme = *scheme;
    p->splitOnReplacement = boolField(v, "split", true);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  if (type == "Digits") {
    auto p = std::make_unique<DigitsPreTokenizer>();
    p->individual = boolField(v, "individual_digits", false);
    return std::unique_ptr<PreTokenizer>(std::move(p));
  }
  return unsupported("pre-tokenizer", type, "Sequence, Split, ByteLevel, Metaspace, Digits");
}

// ---- Post-processors ----

struct TemplatePostProcessor : PostProcessor {
  // The single-sequence template: ids before and after the sequence.
  std::vector<int32_t> before, after;
  void process(std::vector<int32_t> &ids) const override {
    ids.insert(ids.begin(), before.begin(), before.end());
    ids.insert(ids.end(), after.begin(), after.end());
  }
};
struct SequencePostProcessor : PostProcessor {
  std::vector<std::unique_ptr<PostProcessor>> steps;
  void process(std::vector<int32_t> &ids) const override {
    for (const auto &s : steps)
      s->process(ids);
  }
};
struct NoOpPostProcessor : PostProcessor { // ByteLevel: only adjusts offsets
  void process(std::vector<int32_t> &) const override {}
};

StatusOr<std::unique_ptr<PostProcessor>> makePostProcessor(const JsonValue &v) {
  std::string type = stringField(v, "type");
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePostProcessor>();
    CHITU_RETURN_IF_ERROR(
        parseSequence(v, "processors", "post-processor", makePostProcessor, seq->steps));
    return std::unique_ptr<PostProcessor>(std::move(seq));
  }
  if (type == "ByteLevel")
    return std::unique_ptr<PostProcessor>(std::make_unique<NoOpPostProcessor>());
  if (type == "TemplateProcessing") {
    auto p = std::make_unique<TemplatePostProcessor>();
    const JsonValue *single = v.find("single");
    const JsonValue *specials = v.find("special_tokens");
    if (!single || !single->isArray())
      return bad("TemplateProcessing without a 'single' template");
    bool seenSequence = false;
    for (const JsonValue &piece : single->items()) {
      if (piece.find("Sequence")) {
        if (seenSequence)
          return bad("TemplateProcessing 'single' names the sequence twice");
        seenSequence = true;
        continue;
      }
      const JsonValue *special = piece.find("SpecialToken");
      std::string name = special ? stringField(*special, "id") : "";
      const JsonValue *entry = specials ? specials->find(name) : nullptr;
      const JsonValue *ids = entry ? entry->find("ids") : nullptr;
      if (!ids || !ids->isArray())
        return bad("TemplateProcessing refers to special token '" + name +
                   "' missing from special_tokens");
      for (const JsonValue &id : ids->items())
        (seenSequence ? p->after : p->before).push_back(int32_t(id.asInt()));
    }
    return std::unique_ptr<PostProcessor>(std::move(p));
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto p = std::make_unique<TemplatePostProcessor>();
    const JsonValue *cls = v.find("cls"), *sep = v.find("sep");
    if (!cls || !sep || !cls->isArray() || !sep->isArray() || cls->items().size() != 2 ||
        sep->items().size() != 2)
      return bad(type + " needs 'cls' and 'sep' as [token, id]");
    p->before.push_back(int32_t(cls->items()[1].asInt()));
    p->after.push_back(int32_t(sep->items()[1].asInt()));
    return std::unique_ptr<PostProcessor>(std::move(p));
  }
  return unsupported("post-processor", type,
                     "Sequence, ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing");
}

// ---- Decoders ----

struct SequenceDecoder : Decoder {
  std::vector<std::unique_ptr<Decoder>> steps;
  void decode(std::vector<std::string> &tokens) const override {
    for (const auto &s : steps)
      s->decode(tokens);
  }
};
struct ByteLevelDecoder : Decoder {
  void decode(std::vector<std::string> &tokens) const override {
    const ByteAlphabet &alphabet = byteAlphabet();
    std::string bytes;
    for (const std::string &t : tokens) {
      // A token with a character outside the alphabet (an added token) passes as written.
      std::string mapped;
      bool all = true;
      for (char32_t c : decodeUtf8(t)) {
        auto it = alphabet.charToByte.find(c);
        if (it == alphabet.charToByte.end()) {
          all = false;
          break;
        }
        mapped += char(it->second);
      }
      bytes += all ? mapped : t;
    }
    tokens = {encodeUtf8(decodeUtf8(bytes))}; // invalid UTF-8 becomes U+FFFD
  }
};
struct ReplaceDecoder : Decoder {
  Pattern pattern;
  std::u32string content;
  void decode(std::vector<std::string> &tokens) const override {
    for (std::string &t : tokens) {
      std::u32string s = decodeUtf8(t), out;
      for (const Span &sp : pattern.find(s))
        out += sp.isMatch ? content : s.substr(sp.begin, sp.end - sp.begin);
      t = encodeUtf8(out);
    }
  }
};
struct ByteFallbackDecoder : Decoder {
  void decode(std::vector<std::string> &tokens) const override {
    std::vector<std::string> out;
    std::string pending; // bytes of consecutive <0xXX> tokens
    size_t pendingCount = 0;
    auto flush = [&] {
      if (pendingCount == 0)
        return;
      if (unicode::isValidUtf8(pending))
        out.push_back(pending);
      else
        for (size_t i = 0; i < pendingCount; ++i)
          out.push_back("\xEF\xBF\xBD"); // one U+FFFD per byte, as the library does
      pending.clear();
      pendingCount = 0;
    };
    for (const std::string &t : tokens) {
      unsigned value = 0;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
          std::sscanf(t.c_str() + 3, "%2x", &value) == 1 && std::isxdigit(t[3]) &&
          std::isxdigit(t[4])) {
        pending += char(value);
        ++pendingCount;
        continue;
      }
      flush();
      out.push_back(t);
    }
    flush();
    tokens = std::move(out);
  }
};
struct FuseDecoder : Decoder {
  void decode(std::vector<std::string> &tokens) const override {
    std::string all;
    for (const std::string &t : tokens)
      all += t;
    tokens = {all};
  }
};
struct StripDecoder : Decoder {
  char32_t content = U' ';
  size_t start = 0, stop = 0;
  void decode(std::vector<std::string> &tokens) const override {
    for (std::string &t : tokens) {
      std::u32string s = decodeUtf8(t);
      size_t b = 0, e = s.size();
      while (b < e && b < start && s[b] == content)
        ++b;
      while (e > b && s.size() - e < stop && s[e - 1] == content)
        --e;
      t = encodeUtf8(s.substr(b, e - b));
    }
  }
};
struct MetaspaceDecoder : Decoder {
  char32_t replacement = U'\u2581';
  PrependScheme scheme = PrependScheme::Always;
  void decode(std::vector<std::string> &tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::u32string out;
      for (char32_t c : decodeUtf8(tokens[i])) {
        if (c != replacement)
          out += c;
        else if (!(i == 0 && scheme != PrependScheme::Never))
          out += U' '; // the library drops the first token's replacements entirely
      }
      tokens[i] = encodeUtf8(out);
    }
  }
};

StatusOr<std::unique_ptr<Decoder>> makeDecoder(const JsonValue &v) {
  std::string type = stringField(v, "type");
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    CHITU_RETURN_IF_ERROR(parseSequence(v, "decoders", "decoder", makeDecoder, seq->steps));
    return std::unique_ptr<Decoder>(std::move(seq));
  }
  if (type == "ByteLevel")
    return std::unique_ptr<Decoder>(std::make_unique<ByteLevelDecoder>());
  if (type == "Replace") {
    auto d = std::make_unique<ReplaceDecoder>();
    auto pattern = Pattern::fromJson(v.find("pattern"));
    if (!pattern.isOk())
      return pattern.status();
    d->pattern = std::move(*pattern);
    d->content = decodeUtf8(stringField(v, "content"));
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type == "ByteFallback")
    return std::unique_ptr<Decoder>(std::make_unique<ByteFallbackDecoder>());
  if (type == "Fuse")
    return std::unique_ptr<Decoder>(std::make_unique<FuseDecoder>());
  if (type == "Strip") {
    auto d = std::make_unique<StripDecoder>();
    d->content = charField(v, "content", U' ');
    const JsonValue *start = v.find("start"), *stop = v.find("stop");
    d->start = start && start->isInteger() ? size_t(start->asInt()) : 0;
    d->stop = stop && stop->isInteger() ? size_t(stop->asInt()) : 0;
    return std::unique_ptr<Decoder>(std::move(d));
  }
  if (type == "Metaspace") {
    auto d = std::make_unique<MetaspaceDecoder>();
    d->replacement = charField(v, "replacement", U'\u2581');
    auto scheme = prependSchemeFromJson(v);
    if (!scheme.isOk())
      return scheme.status();
    d->scheme = *scheme;
    return std::unique_ptr<Decoder>(std::move(d));
  }
  return unsupported("decoder", type,
                     "Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, "
                     "Metaspace");
}

bool isWordChar(char32_t c) {
  const char *cat = unicode::category(c);
  return cat[0] == 'L' || cat[0] == 'N' || c == U'_';
}

} // namespace

Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromFile(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file.isOk())
    return file.status();
  auto t =
      fromJson(std::string_view(reinterpret_cast<const char *>((*file)->data()), (*file)->size()));
  if (!t.isOk())
    return t.status().withContext(path);
  return t;
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromJson(std::string_view json) {
  auto doc = parseJson(json);
  if (!doc.isOk())
    return doc.status().withContext("tokenizer.json");
  if (!doc->isObject())
    return bad("not a JSON object");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  const JsonValue *model = doc->find("model");
  if (!model || !model->isObject())
    return bad("no 'model'");
  CHITU_RETURN_IF_ERROR(t->loadModel(*model));
  if (const JsonValue *n = doc->find("normalizer"); n && !n->isNull()) {
    auto normalizer = makeNormalizer(*n);
    if (!normalizer.isOk())
      return normalizer.status();
    t->normalizer_ = std::move(*normalizer);
  }
  if (const JsonValue *p = doc->find("pre_tokenizer"); p && !p->isNull()) {
    auto pre = makePreTokenizer(*p);
    if (!pre.isOk())
      return pre.status();
    t->preTokenizer_ = std::move(*pre);
  }
  if (const JsonValue *p = doc->find("post_processor"); p && !p->isNull()) {
    auto post = makePostProcessor(*p);
    if (!post.isOk())
      return post.status();
    t->postProcessor_ = std::move(*post);
  }
  if (const JsonValue *d = doc->find("decoder"); d && !d->isNull()) {
    auto decoder = makeDecoder(*d);
    if (!decoder.isOk())
      return decoder.status();
    t->decoder_ = std::move(*decoder);
  }
  if (const JsonValue *added = doc->find("added_tokens"); added && added->isArray())
    CHITU_RETURN_IF_ERROR(t->loadAddedTokens(*added));
  return t;
}

Status Tokenizer::loadModel(const JsonValue &model) {
  std::string type = stringField(model, "type", "BPE");
  if (type != "BPE")
    return unsupported("model", type, "BPE");
  const JsonValue *vocab = model.find("vocab");
  if (!vocab || !vocab->isObject())
    return bad("the BPE model has no 'vocab' object");
  for (const auto &[token, id] : vocab->members()) {
    if (!id.isInteger() || id.asInt() < 0 || id.asInt() > INT32_MAX)
      return bad("vocab entry " + jsonQuote(token) + " has an invalid id");
    vocab_[token] = int32_t(id.asInt());
    if (size_t(id.asInt()) >= idToToken_.size()) {
      idToToken_.resize(size_t(id.asInt()) + 1);
      hasToken_.resize(size_t(id.asInt()) + 1);
    }
    idToToken_[size_t(id.asInt())] = token;
    hasToken_[size_t(id.asInt())] = true;
  }
  ignoreMerges_ = boolField(model, "ignore_merges", false);
  byteFallback_ = boolField(model, "byte_fallback", false);
  fuseUnk_ = boolField(model, "fuse_unk", false);
  continuingPrefix_ = stringField(model, "continuing_subword_prefix");
  endOfWordSuffix_ = stringField(model, "end_of_word_suffix");
  if (const JsonValue *d = model.find("dropout"); d && !d->isNull() && d->asDouble() != 0)
    return unsupported("BPE option", "dropout", "dropout null or 0");
  if (std::string unk = stringField(model, "unk_token"); !unk.empty()) {
    auto it = vocab_.find(unk);
    if (it == vocab_.end())
      return bad("unk_token " + jsonQuote(unk) + " is not in the vocabulary");
    unkId_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab_.find(name);
    byteFallbackIds_[b] = it == vocab_.end() ? -1 : it->second;
  }
  const JsonValue *merges = model.find("merges");
  if (!merges || !merges->isArray())
    return bad("the BPE model has no 'merges' list");
  int32_t rank = 0;
  for (const JsonValue &m : merges->items()) {
    std::string left, right;
    if (m.isString()) { // "left right"
      size_t space = m.asString().find(' ');
      if (space == std::string::npos || m.asString().find(' ', space + 1) != std::string::npos)
        return bad("merge " + jsonQuote(m.asString()) + " is not two tokens");
      left = m.asString().substr(0, space);
      right = m.asString().substr(space + 1);
    } else if (m.isArray() && m.items().size() == 2 && m.items()[0].isString() &&
               m.items()[1].isString()) {
      left = m.items()[0].asString();
      right = m.items()[1].asString();
    } else {
      return bad("a merge must be \"a b\" or [\"a\", \"b\"]");
    }
    auto l = vocab_.find(left), r = vocab_.find(right);
    std::string rightTail = right;
    if (!continuingPrefix_.empty() &&
        right.compare(0, continuingPrefix_.size(), continuingPrefix_) == 0)
      rightTail = right.substr(continuingPrefix_.size());
    auto merged = vocab_.find(left + rightTail);
    if (l == vocab_.end() || r == vocab_.end() || merged == vocab_.end())
      return bad("merge " + jsonQuote(left + " " + right) + " uses a token not in the vocabulary");
    uint64_t key = (uint64_t(uint32_t(l->second)) << 32) | uint32_t(r->second);
    merges_.emplace(key, std::make_pair(rank++, merged->second));
  }
  return Status::ok();
}

Status Tokenizer::loadAddedTokens(const JsonValue &list) {
  for (const JsonValue &t : list.items()) {
    const JsonValue *id = t.find("id");
    const JsonValue *content = t.find("content");
    if (!id || !id->isInteger() || id->asInt() < 0 || id->asInt() > INT32_MAX || !content ||
        !content->isString() || content->asString().empty())
      return bad("an added token needs an 'id' and a non-empty 'content'");
    AddedToken a;
    a.id = int32_t(id->asInt());
    a.special = boolField(t, "special", false);
    a.lstrip = boolField(t, "lstrip", false);
    a.rstrip = boolField(t, "rstrip", false);
    a.singleWord = boolField(t, "single_word", false);
    a.normalized = boolField(t, "normalized", !a.special);
    a.content = decodeUtf8(content->asString());
    // A normalized token is looked for in normalized text, so it is normalized too.
    if (a.normalized && normalizer_)
      normalizer_->normalize(a.content);
    if (size_t(a.id) >= idToToken_.size()) {
      idToToken_.resize(size_t(a.id) + 1);
      hasToken_.resize(size_t(a.id) + 1);
    }
    // Decoding shows an added token as written, even where the model's vocabulary has the id.
    idToToken_[size_t(a.id)] = content->asString();
    hasToken_[size_t(a.id)] = true;
    addedById_[a.id] = added_.size();
    added_.push_back(std::move(a));
  }
  return Status::ok();
}

std::optional<int32_t> Tokenizer::tokenId(const std::string &token) const {
  auto it = vocab_.find(token);
  if (it != vocab_.end())
    return it->second;
  for (const AddedToken &a : added_)
    if (idToToken_[size_t(a.id)] == token)
      return a.id;
  return std::nullopt;
}

bool Tokenizer::isSpecial(int32_t id) const {
  auto it = addedById_.find(id);
  return it != addedById_.end() && added_[it->second].special;
}

void Tokenizer::splitAdded(std::vector<Piece> &pieces, bool normalized) const {
  std::vector<Piece> out;
  for (Piece &piece : pieces) {
    if (piece.addedId >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    const std::u32string &s = piece.text;
    size_t startOffset = 0; // end of the last piece taken
    auto emitText = [&](size_t b, size_t e) {
      if (b >= e)
        return;
      Piece p;
      p.text = s.substr(b, e - b);
      p.atStart = piece.atStart && b == 0;
      out.push_back(std::move(p));
    };
    size_t pos = 0;
    while (pos < s.size()) {
      // Leftmost-longest match among the added tokens of this kind.
      const AddedToken *best = nullptr;
      for (const AddedToken &a : added_)
        if (a.normalized == normalized && (!best || a.content.size() > best->content.size()) &&
            s.compare(pos, a.content.size(), a.content) == 0)
          best = &a;
      if (!best) {
        ++pos;
        continue;
      }
      size_t start = pos, stop = pos + best->content.size();
      pos = stop;
      if (best->singleWord) {
        bool startOk = start == 0 || !isWordChar(s[start - 1]);
        bool stopOk = stop == s.size() || !isWordChar(s[stop]);
        if (!startOk || !stopOk)
          continue;
      }
      if (best->lstrip) {
        size_t b = start;
        while (b > 0 && unicode::isWhiteSpace(s[b - 1]))
          --b;
        start = std::max(b, startOffset);
      }
      if (best->rstrip)
        while (stop < s.size() && unicode::isWhiteSpace(s[stop]))
          ++stop;
      emitText(startOffset, start);
      Piece token;
      token.addedId = best->id;
      out.push_back(std::move(token));
      startOffset = stop;
      pos = std::max(pos, stop);
    }
    emitText(startOffset, s.size());
  }
  pieces = std::move(out);
}

void Tokenizer::bpe(const std::string &word, std::vector<int32_t> &out) const {
  if (ignoreMerges_) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Initial symbols: one per character (byte fallback or unk when not in the vocabulary).
  std::vector<int32_t> symbols;
  std::u32string chars = decodeUtf8(word);
  std::optional<int32_t> pendingUnk;
  for (size_t i = 0; i < chars.size(); ++i) {
    std::string s;
    if (i > 0)
      s += continuingPrefix_;
    unicode::appendUtf8(s, chars[i]);
    if (i + 1 == chars.size())
      s += endOfWordSuffix_;
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      if (pendingUnk) {
        symbols.push_back(*pendingUnk);
        pendingUnk.reset();
      }
      symbols.push_back(it->second);
      continue;
    }
    if (byteFallback_) {
      bool all = true;
      for (unsigned char b : s)
        all = all && byteFallbackIds_[b] >= 0;
      if (all) {
        // Unlike a vocabulary hit, byte tokens leave a pending unk pending (the library's
        // behaviour): it is emitted at the next hit or at the end.
        for (unsigned char b : s)
          symbols.push_back(byteFallbackIds_[b]);
        continue;
      }
    }
    if (unkId_) {
      if (pendingUnk && !fuseUnk_)
        symbols.push_back(*pendingUnk);
      pendingUnk = *unkId_;
    }
  }
  if (pendingUnk)
    symbols.push_back(*pendingUnk);

  // Merge the lowest-ranked adjacent pair (leftmost on ties) until none applies.
  struct Candidate {
    int32_t rank;
    size_t pos;
    int32_t left, right, merged;
    bool operator>(const Candidate &o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  size_t n = symbols.size();
  std::vector<size_t> next(n), prev(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i == 0 ? SIZE_MAX : i - 1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](size_t i) {
    if (i == SIZE_MAX || next[i] >= n)
      return;
    uint64_t key = (uint64_t(uint32_t(symbols[i])) << 32) | uint32_t(symbols[next[i]]);
    auto it = merges_.find(key);
    if (it != merges_.end())
      queue.push({it->second.first, i, symbols[i], symbols[next[i]], it->second.second});
  };
  for (size_t i = 0; i + 1 < n; ++i)
    consider(i);
  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    size_t i = c.pos;
    if (!alive[i] || next[i] >= n || symbols[i] != c.left || symbols[next[i]] != c.right)
      continue; // stale: one side was merged since
    size_t j = next[i];
    symbols[i] = c.merged;
    alive[j] = false;
    next[i] = next[j];
    if (next[j] < n)
      prev[next[j]] = i;
    consider(prev[i]);
    consider(i);
  }
  for (size_t i = 0; i < n; i = next[i])
    out.push_back(symbols[i]);
}

StatusOr<std::vector<int32_t>> Tokenizer::encode(std::string_view text, bool addSpecial) const {
  if (!unicode::isValidUtf8(text))
    return Status(StatusCode::InvalidArgument, "the text is not valid UTF-8");
  std::vector<Piece> pieces(1);
  pieces[0].text = decodeUtf8(text);
  pieces[0].atStart = true;
  splitAdded(pieces, /*normalized=*/false);
  if (normalizer_)
    for (Piece &p : pieces)
      if (p.addedId < 0)
        normalizer_->normalize(p.text);
  splitAdded(pieces, /*normalized=*/true);
  if (preTokenizer_) {
    std::vector<Piece> split;
    for (const Piece &p : pieces) {
      if (p.addedId >= 0)
        split.push_back(p);
      else
        preTokenizer_->split(p, split);
    }
    pieces = std::move(split);
  }
  std::vector<int32_t> ids;
  for (const Piece &p : pieces) {
    if (p.addedId >= 0)
      ids.push_back(p.addedId);
    else if (!p.text.empty())
      bpe(encodeUtf8(p.text), ids);
  }
  if (addSpecial && postProcessor_)
    postProcessor_->process(ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecial) const {
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= idToToken_.size() || !hasToken_[size_t(id)])
      continue;
    if (skipSpecial && isSpecial(id))
      continue;
    tokens.push_back(idToToken_[size_t(id)]);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i)
      out += (i ? " " : "") + tokens[i];
    return out;
  }
  decoder_->decode(tokens);
  std::string out;
  for (const std::string &t : tokens)
    out += t;
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer &tokenizer, const std::vector<int32_t> &context)
    : tokenizer_(tokenizer), ids_(context) {
  // A few tokens of left context give the first new token its spacing.
  readOffset_ = ids_.size();
  prefixOffset_ = readOffset_ > 5 ? readOffset_ - 5 : 0;
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  auto slice = [&](size_t from, size_t to) {
    return tokenizer_.decode(
        std::vector<int32_t>(ids_.begin() + long(from), ids_.begin() + long(to)),
        /*skipSpecial=*/true);
  };
  std::string before = slice(prefixOffset_, readOffset_);
  std::string now = slice(prefixOffset_, ids_.size());
  // Hold back while the newest bytes end in an incomplete character.
  static const std::string kReplacement = "\xEF\xBF\xBD";
  if (now.size() <= before.size() ||
      (now.size() >= 3 && now.compare(now.size() - 3, 3, kReplacement) == 0))
    return "";
  std::string delta = now.compare(0, before.size(), before) == 0 ? now.substr(before.size()) : now;
  prefixOffset_ = readOffset_;
  readOffset_ = ids_.size();
  return delta;
}

} // namespace chitu::tok
