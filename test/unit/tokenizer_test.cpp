// The tokenizer against Hugging Face tokenizers' own output (test/llm/golden, made by
// test/llm/make_tokenizers.py), plus the regex engine and Unicode pieces it rests on.
#include "llm/Regex.h"
#include "llm/Tokenizer.h"
#include "llm/Unicode.h"
#include "support/MappedFile.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

using namespace chitu;

namespace {

// Overridable for runs from a copied build (scripts/gpu-test.sh).
std::string llmTestDir() {
  const char *v = std::getenv("CHITU_LLM_TEST_DIR");
  return v && *v ? v : CHITU_LLM_TEST_DIR;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<int32_t> idsOf(const JsonValue &array) {
  std::vector<int32_t> ids;
  for (const JsonValue &v : array.items())
    ids.push_back(int32_t(v.asInt()));
  return ids;
}

const JsonValue &golden() {
  static const JsonValue doc = [] {
    auto parsed = parseJson(readFile(llmTestDir() + "/golden/tokenizer_cases.json"));
    if (!parsed.isOk()) {
      ADD_FAILURE() << parsed.status().message();
      return JsonValue();
    }
    return *parsed;
  }();
  return doc;
}

class GoldenTokenizer : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    auto t =
        tok::Tokenizer::fromFile(llmTestDir() + "/tokenizers/" + GetParam() + "/tokenizer.json");
    ASSERT_TRUE(t.isOk()) << t.status().message();
    tokenizer = std::move(*t);
    const JsonValue *all = golden().find("tokenizers");
    data = all ? all->find(GetParam()) : nullptr;
    ASSERT_NE(data, nullptr) << "no golden data for " << GetParam();
  }
  std::unique_ptr<tok::Tokenizer> tokenizer;
  const JsonValue *data = nullptr;
};

TEST_P(GoldenTokenizer, EncodeAndDecodeEqualHuggingFace) {
  size_t cases = 0, roundTrips = 0;
  for (const JsonValue &c : data->find("cases")->items()) {
    const std::string &text = c.find("text")->asString();
    auto ids = tokenizer->encode(text, false);
    ASSERT_TRUE(ids.isOk()) << ids.status().message();
    EXPECT_EQ(*ids, idsOf(*c.find("ids"))) << "text: " << text;
    auto withSpecial = tokenizer->encode(text, true);
    ASSERT_TRUE(withSpecial.isOk());
    EXPECT_EQ(*withSpecial, idsOf(*c.find("ids_special"))) << "text: " << text;
    std::string decoded = tokenizer->decode(*ids);
    EXPECT_EQ(decoded, c.find("decoded")->asString()) << "text: " << text;
    // Where the library gives the text back, so must we (it does not for text its
    // normalizer changes, or a prefix space it adds).
    if (c.find("decoded")->asString() == text) {
      EXPECT_EQ(decoded, text);
      ++roundTrips;
    }
    ++cases;
  }
  EXPECT_GT(cases, 100u);
  if (GetParam() != "gpt2") // add_prefix_space: every decode starts with the added space
    EXPECT_GT(roundTrips, cases * 3 / 4);
}

TEST_P(GoldenTokenizer, DecodeArbitraryIdsEqualsHuggingFace) {
  for (const JsonValue &d : data->find("decodes")->items()) {
    std::vector<int32_t> ids = idsOf(*d.find("ids"));
    EXPECT_EQ(tokenizer->decode(ids, false), d.find("text")->asString());
    EXPECT_EQ(tokenizer->decode(ids, true), d.find("text_skip_special")->asString());
  }
}

TEST_P(GoldenTokenizer, StreamingDecodeConcatenatesToTheFullText) {
  for (const JsonValue &c : data->find("cases")->items()) {
    std::vector<int32_t> ids = idsOf(*c.find("ids"));
    if (ids.size() < 4)
      continue;
    // The first two ids are context (a prompt); the rest arrive one by one.
    std::vector<int32_t> context(ids.begin(), ids.begin() + 2);
    tok::StreamDecoder stream(*tokenizer, context);
    std::string streamed;
    for (size_t i = 2; i < ids.size(); ++i)
      streamed += stream.push(ids[i]);
    std::string full = tokenizer->decode(ids, true), prefix = tokenizer->decode(context, true);
    // Exact whenever the context decodes to a prefix of the whole (always, bar the first
    // token's stripped space in SentencePiece decoders).
    if (full.compare(0, prefix.size(), prefix) == 0 &&
        full.find("\xEF\xBF\xBD") == std::string::npos)
      EXPECT_EQ(streamed, full.substr(prefix.size())) << "text: " << c.find("text")->asString();
  }
}

INSTANTIATE_TEST_SUITE_P(Styles, GoldenTokenizer,
                         ::testing::Values("llama3", "qwen2", "gpt2", "llama2", "mistral"));

TEST(Tokenizer, BadFilesAreClearErrors) {
  auto expectError = [](const std::string &json, const std::string &needle) {
    auto t = tok::Tokenizer::fromJson(json);
    ASSERT_FALSE(t.isOk()) << json;
    EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
  };
  expectError("{", "tokenizer.json");
  expectError("[]", "not a JSON object");
  expectError(R"({"model": {"type": "WordPiece", "vocab": {}}})",
              "model 'WordPiece' is not supported");
  expectError(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})",
              "uses a token not in the vocabulary");
  expectError(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})",
              "is not two tokens");
  expectError(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})",
      "unk_token");
  expectError(R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                  "normalizer": {"type": "BertNormalizer"}})",
              "normalizer 'BertNormalizer' is not supported");
  expectError(R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                  "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}})",
              "pattern");
  auto missing = tok::Tokenizer::fromFile("/nonexistent/tokenizer.json");
  EXPECT_FALSE(missing.isOk());
}

TEST(Tokenizer, InvalidUtf8TextIsRefused) {
  auto t =
      tok::Tokenizer::fromJson(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  ASSERT_TRUE(t.isOk());
  auto ids = (*t)->encode("a\xff", false);
  ASSERT_FALSE(ids.isOk());
  EXPECT_NE(ids.status().message().find("UTF-8"), std::string::npos);
}

TEST(Regex, LeftmostFirstWithLookaheadAndClasses) {
  auto re = regex::Regex::compile(R"('s|\s+(?!\S)|\s+| ?\p{L}+|\p{N}{1,3})");
  ASSERT_TRUE(re.isOk()) << re.status().message();
  std::u32string text = U"it's   12345 héllo";
  std::vector<std::u32string> pieces;
  for (size_t from = 0; from < text.size();) {
    auto m = re->search(text, from);
    ASSERT_TRUE(m.has_value());
    pieces.push_back(text.substr(m->first, m->second - m->first));
    from = m->second;
  }
  // Alternatives are tried in order: "\s+(?!\S)" leaves the space before a non-space to the
  // next match, where "\s+" (listed before " ?\p{L}+") takes it alone.
  std::vector<std::u32string> want = {U"it", U"'s", U"  ", U" ", U"123", U"45", U" ", U"héllo"};
  EXPECT_EQ(pieces, want);
}

TEST(Regex, CaseInsensitiveGroupsAndLongRuns) {
  auto re = regex::Regex::compile(R"((?i:'s|'ll))");
  ASSERT_TRUE(re.isOk());
  auto m = re->search(U"HE'LL", 0);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->first, 2u);
  EXPECT_EQ(m->second, 5u);
  // A run far longer than any stack could recurse over.
  auto letters = regex::Regex::compile(R"(\p{L}+)");
  ASSERT_TRUE(letters.isOk());
  std::u32string run(2000000, U'a');
  auto all = letters->search(run, 0);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->second, run.size());
  EXPECT_FALSE(regex::Regex::compile("[z-a]").isOk());
  EXPECT_FALSE(regex::Regex::compile("(?<name>x)").isOk());
}

TEST(Unicode, LossyDecodingReplacesEachMaximalSubpart) {
  // A truncated 3-byte sequence is one U+FFFD; a lone continuation byte is another.
  EXPECT_EQ(unicode::decodeUtf8("a\xE4\xB8"
                                "b\x80"),
            U"a\uFFFDb\uFFFD");
  EXPECT_EQ(unicode::decodeUtf8("\xF0\x9F\x98\x80"), U"\U0001F600");
  EXPECT_EQ(unicode::decodeUtf8("\xED\xA0\x80"), U"\uFFFD\uFFFD\uFFFD"); // a surrogate
  EXPECT_FALSE(unicode::isValidUtf8("\xC0\xAF"));                        // overlong
}

TEST(Unicode, NfcComposesAccentsAndHangul) {
  EXPECT_EQ(unicode::nfc(std::string("cafe\xCC\x81")), "caf\xC3\xA9");
  EXPECT_EQ(unicode::nfc(std::u32string(U"\u1100\u1161\u11A8")), U"\uAC01");
  // Marks are reordered by combining class before composing: a + dot below + acute.
  EXPECT_EQ(unicode::nfc(std::u32string(U"a\u0301\u0323")), U"\u1EA1\u0301");
  EXPECT_STREQ(unicode::category(U'A'), "Lu");
  EXPECT_STREQ(unicode::category(U'\u4E2D'), "Lo");
  EXPECT_STREQ(unicode::category(U'5'), "Nd");
}

} // namespace
