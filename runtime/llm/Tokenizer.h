// Hugging Face `tokenizers` (tokenizer.json) in C++: BPE models, byte-level (GPT-2, Llama 3,
// Qwen2) and SentencePiece-style with byte fallback (Llama 2, Mistral); added and special
// tokens; the normalizers, pre-tokenizers, post-processors and decoders these use.
// Encoding and decoding equal the Python library's exactly on test/llm's golden set.
#pragma once

#include "support/Json.h"
#include "support/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chitu::tok {

// A piece of input on its way to the model: text not yet tokenized, or an added token found.
struct Piece {
  std::u32string text;
  int32_t addedId = -1; // >= 0: this piece is that added token
  bool atStart = false; // begins the original input (Metaspace's "first" prepend scheme)
};

struct Normalizer {
  virtual ~Normalizer() = default;
  virtual void normalize(std::u32string &s) const = 0;
};
struct PreTokenizer {
  virtual ~PreTokenizer() = default;
  // Splits `in` into pieces appended to `out`.
  virtual void split(const Piece &in, std::vector<Piece> &out) const = 0;
};
struct PostProcessor {
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t> &ids) const = 0;
};
struct Decoder {
  virtual ~Decoder() = default;
  // One step of the decoder chain: tokens in, strings out (joined at the end).
  virtual void decode(std::vector<std::string> &tokens) const = 0;
};

class Tokenizer {
public:
  // Parses tokenizer.json; unsupported components fail with a message naming them.
  static StatusOr<std::unique_ptr<Tokenizer>> fromJson(std::string_view json);
  static StatusOr<std::unique_ptr<Tokenizer>> fromFile(const std::string &path);
  ~Tokenizer();

  // Text (UTF-8) to ids. Added and special tokens written in the text are recognised;
  // `addSpecial` adds the post-processor's tokens (e.g. BOS), as add_special_tokens=True does.
  StatusOr<std::vector<int32_t>> encode(std::string_view text, bool addSpecial) const;
  // Ids to text; special tokens are dropped when `skipSpecial`. Ids without a token are
  // skipped, as the Python library does.
  std::string decode(const std::vector<int32_t> &ids, bool skipSpecial = false) const;

  // One more than the largest id of any token.
  size_t vocabSize() const { return idToToken_.size(); }
  std::optional<int32_t> tokenId(const std::string &token) const;
  bool isSpecial(int32_t id) const;

private:
  struct AddedToken {
    std::u32string content; // normalized already when `normalized`
    int32_t id;
    bool special, lstrip, rstrip, singleWord, normalized;
  };

  Tokenizer() = default;
  Status loadModel(const JsonValue &model);
  Status loadAddedTokens(const JsonValue &list);
  // Splits pieces that are not tokens yet on the added tokens with `normalized` == which.
  void splitAdded(std::vector<Piece> &pieces, bool normalized) const;
  void bpe(const std::string &word, std::vector<int32_t> &out) const;

  // BPE model.
  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> idToToken_;
  std::vector<bool> hasToken_;
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  bool ignoreMerges_ = false, byteFallback_ = false, fuseUnk_ = false;
  std::optional<int32_t> unkId_;
  std::string continuingPrefix_, endOfWordSuffix_;
  int32_t byteFallbackIds_[256];

  std::vector<AddedToken> added_;
  std::unordered_map<int32_t, size_t> addedById_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> preTokenizer_;
  std::unique_ptr<PostProcessor> postProcessor_;
  std::unique_ptr<Decoder> decoder_;
};

// Turns generated ids into text as they arrive, holding back bytes of an incomplete
// character and keeping the spacing a decoder gives a token from its left context.
class StreamDecoder {
public:
  StreamDecoder(const Tokenizer &tokenizer, const std::vector<int32_t> &context);
  // The new text that `id` completes (possibly empty).
  std::string push(int32_t id);

private:
  const Tokenizer &tokenizer_;
  std::vector<int32_t> ids_;
  size_t prefixOffset_, readOffset_;
};

} // namespace chitu::tok
