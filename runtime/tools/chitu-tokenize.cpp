// chitu-tokenize: encode text to token ids, or decode ids to text, with a tokenizer.json.
#include "ToolArgs.h"
#include "llm/Tokenizer.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

using namespace chitu;

static const char *kUsage =
    R"(usage: chitu-tokenize --tokenizer tokenizer.json (--text TEXT | --text-file FILE | --decode IDS)

Encodes text to token ids (printed on one line, separated by spaces) or decodes ids to text,
exactly as Hugging Face tokenizers does.

options:
  --tokenizer FILE     the tokenizer.json to use
  --text TEXT          text to encode
  --text-file FILE     encode the contents of FILE (UTF-8)
  --add-special        add the post-processor's special tokens (e.g. BOS), like
                       add_special_tokens=True; by default none are added
  --decode IDS         decode comma- or space-separated ids and print the text
  --skip-special       with --decode, leave special tokens out
  --help               show this help
)";

namespace {

std::vector<int32_t> parseIds(tools::Args &args, const std::string &text) {
  std::vector<int32_t> ids;
  const char *p = text.c_str();
  while (*p) {
    if (*p == ',' || *p == ' ') {
      ++p;
      continue;
    }
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(p, &end, 10);
    if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' '))
      args.usageError("--decode takes non-negative integer ids separated by commas, got '" + text +
                      "'");
    ids.push_back(int32_t(v));
    p = end;
  }
  return ids;
}

} // namespace

int main(int argc, char **argv) {
  tools::Args args(argc, argv);
  std::string tokenizerPath, decodeIds, textFile;
  std::optional<std::string> text;
  bool addSpecial = false, skipSpecial = false, decodeMode = false;
  while (!args.done()) {
    std::string v;
    if (args.flag("--help") || args.flag("-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (args.option("--tokenizer", tokenizerPath)) {
    } else if (args.option("--text", v)) {
      text = v;
    } else if (args.option("--text-file", textFile)) {
    } else if (args.option("--decode", decodeIds)) {
      decodeMode = true;
    } else if (args.flag("--add-special")) {
      addSpecial = true;
    } else if (args.flag("--skip-special")) {
      skipSpecial = true;
    } else {
      args.usageError("unknown argument '" + args.peek() + "'");
    }
  }
  if (tokenizerPath.empty())
    args.usageError("--tokenizer is required");
  int modes = int(text.has_value()) + int(!textFile.empty()) + int(decodeMode);
  if (modes != 1)
    args.usageError("give exactly one of --text, --text-file, --decode");

  auto tokenizer = tok::Tokenizer::fromFile(tokenizerPath);
  if (!tokenizer.isOk())
    tools::fatal(args.tool(), tokenizer.status().message());

  if (decodeMode) {
    std::vector<int32_t> ids = parseIds(args, decodeIds);
    for (int32_t id : ids)
      if (size_t(id) >= (*tokenizer)->vocabSize())
        tools::fatal(args.tool(), "id " + std::to_string(id) +
                                      " is out of range (the vocabulary has " +
                                      std::to_string((*tokenizer)->vocabSize()) + " ids)");
    std::string out = (*tokenizer)->decode(ids, skipSpecial);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  if (!textFile.empty()) {
    std::ifstream in(textFile, std::ios::binary);
    if (!in)
      tools::fatal(args.tool(), "cannot read " + textFile);
    text = std::string(std::istreambuf_iterator<char>(in), {});
  }
  auto ids = (*tokenizer)->encode(*text, addSpecial);
  if (!ids.isOk())
    tools::fatal(args.tool(), ids.status().message());
  for (size_t i = 0; i < ids->size(); ++i)
    std::printf(i ? " %d" : "%d", (*ids)[i]);
  std::printf("\n");
  return 0;
}
