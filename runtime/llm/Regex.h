// A small backtracking regular-expression engine over code points, for the pre-tokenizer
// patterns of tokenizer.json (GPT-2, Llama 3, Qwen2 and similar): alternation, groups
// ((?:...), (?i:...)), lookahead ((?=...), (?!...)), classes with \p{..} categories, \s,
// \d, \w, quantifiers (*, +, ?, {m,n}) and the usual escapes. Matching is leftmost-first,
// like Oniguruma, which Hugging Face tokenizers use.
#pragma once

#include "support/Status.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace chitu::regex {

struct Node;

class Regex {
public:
  // Compiles a UTF-8 pattern; unsupported syntax is an error naming it.
  static StatusOr<Regex> compile(std::string_view pattern);

  // The leftmost match starting at or after `from`: [begin, end).
  std::optional<std::pair<size_t, size_t>> search(const std::u32string &text, size_t from) const;

private:
  std::shared_ptr<const Node> root_;
};

} // namespace chitu::regex
