#include "LlmRun.h"

#include "Npy.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace chitu::tools {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kDefaultMaxContext = 8192;

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int64_t parseInt(Args &args, const std::string &flag, const std::string &v, int64_t lo,
                 int64_t hi) {
  char *end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi)
    args.usageError(flag + " takes an integer in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "], got '" + v + "'");
  return x;
}

float parseFloat(Args &args, const std::string &flag, const std::string &v, double lo, double hi) {
  char *end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || errno || !std::isfinite(x) || x < lo || x > hi)
    args.usageError(flag + " takes a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                    "], got '" + v + "'");
  return float(x);
}

std::vector<int32_t> parseIdList(Args &args, const std::string &flag, const std::string &v) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find_first_of(", ", pos);
    std::string item = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty())
      ids.push_back(int32_t(parseInt(args, flag, item, 0, INT32_MAX)));
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  if (ids.empty())
    args.usageError(flag + " takes comma-separated token ids, got '" + v + "'");
  return ids;
}

// Streams text, holding back what could be the start of a stop string.
class StopFilter {
public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what may be printed now. Sets `stopped` once a stop string appears
  // (the text before it is returned, the rest dropped).
  std::string add(const std::string &text, bool &stopped) {
    pending_ += text;
    for (const std::string &s : stops_) {
      size_t at = pending_.find(s);
      if (at != std::string::npos) {
        stopped = true;
        std::string out = pending_.substr(0, at);
        pending_.clear();
        return out;
      }
    }
    size_t hold = 0; // the longest suffix of pending that starts a stop string
    for (const std::string &s : stops_)
      for (size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k)
        if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
  }
  std::string flush() { return std::exchange(pending_, std::string()); }

private:
  std::vector<std::string> stops_;
  std::string pending_;
};

void writeOut(const std::string &s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

} // namespace

bool parseLlmOption(Args &args, LlmRunOptions &o) {
  std::string v;
  if (args.option("--prompt", v)) {
    o.prompt = v;
  } else if (args.option("--prompt-file", v)) {
    std::ifstream in(v, std::ios::binary);
    if (!in)
      fatal(args.tool(), "cannot read the prompt file " + v);
    o.prompt = std::string(std::istreambuf_iterator<char>(in), {});
  } else if (args.option("--tokens", v)) {
    o.tokens = parseIdList(args, "--tokens", v);
  } else if (args.option("--tokenizer", o.tokenizerPath)) {
  } else if (args.option("--max-tokens", v)) {
    o.maxTokens = parseInt(args, "--max-tokens", v, 1, INT32_MAX);
  } else if (args.option("--temperature", v)) {
    o.temperature = parseFloat(args, "--temperature", v, 0, 100);
  } else if (args.option("--top-k", v)) {
    o.topK = int32_t(parseInt(args, "--top-k", v, 0, INT32_MAX));
  } else if (args.option("--top-p", v)) {
    o.topP = parseFloat(args, "--top-p", v, 1e-6, 1);
  } else if (args.option("--min-p", v)) {
    o.minP = parseFloat(args, "--min-p", v, 0, 1);
  } else if (args.option("--repetition-penalty", v)) {
    o.repetitionPenalty = parseFloat(args, "--repetition-penalty", v, 1e-3, 100);
  } else if (args.option("--seed", v)) {
    o.seed = uint64_t(parseInt(args, "--seed", v, 0, INT64_MAX));
  } else if (args.option("--greedy", v)) {
    o.greedy = parseInt(args, "--greedy", v, 1, INT32_MAX);
  } else if (args.option("--dump-logits", o.dumpLogits)) {
  } else if (args.option("--stop", v)) {
    if (v.empty())
      args.usageError("--stop takes a non-empty string");
    o.stopTexts.push_back(v);
  } else if (args.option("--stop-id", v)) {
    o.stopIds.push_back(int32_t(parseInt(args, "--stop-id", v, 0, INT32_MAX)));
  } else if (args.flag("--ignore-eos")) {
    o.ignoreEos = true;
  } else if (args.flag("--no-special")) {
    o.addSpecial = false;
  } else if (args.option("--max-context", v)) {
    o.maxContext = parseInt(args, "--max-context", v, 1, INT32_MAX);
  } else if (args.option("--prefill-chunk", v)) {
    o.prefillChunk = parseInt(args, "--prefill-chunk", v, 1, INT32_MAX);
  } else {
    return false;
  }
  return true;
}

bool llmModeRequested(const LlmRunOptions &o) {
  return o.prompt || o.tokens || o.greedy > 0 || !o.dumpLogits.empty();
}

int runLlm(const std::string &tool, Model &model, Session &session, const LlmRunOptions &o) {
  chitu_llm_info info = model.llmInfo();
  if (o.prompt && o.tokens)
    fatal(tool, "give --prompt or --tokens, not both");
  if (!o.prompt && !o.tokens)
    fatal(tool, "give the prompt as --prompt TEXT or --tokens IDS");

  std::optional<Tokenizer> tokenizer;
  if (!o.tokenizerPath.empty())
    tokenizer = Tokenizer::load(o.tokenizerPath);
  else if (info.has_tokenizer)
    tokenizer = Tokenizer::fromModel(model);
  std::vector<int32_t> prompt;
  if (o.tokens) {
    prompt = *o.tokens;
  } else {
    if (!tokenizer)
      fatal(tool, "the model has no tokenizer (its checkpoint had no tokenizer.json): give "
                  "--tokens IDS or --tokenizer tokenizer.json");
    prompt = tokenizer->encode(*o.prompt, o.addSpecial);
    if (prompt.empty())
      fatal(tool, "the prompt encodes to no tokens");
  }

  // One sequence; its KV cache sized for the context. A model's full context (128K for
  // Llama 3.x) would reserve gigabytes, so without --max-context it is capped.
  int64_t maxContext =
      o.maxContext ? o.maxContext : std::min<int64_t>(info.max_context, kDefaultMaxContext);
  if (int64_t(prompt.size()) > maxContext)
    fatal(tool, "the prompt has " + std::to_string(prompt.size()) +
                    " tokens, more than the context of " + std::to_string(maxContext) +
                    (o.maxContext || maxContext == int64_t(info.max_context)
                         ? std::string()
                         : " (raise it with --max-context, up to the model's " +
                               std::to_string(info.max_context) + ")"));
  chitu_llm_options llmOptions{1, maxContext, 0, o.prefillChunk};
  Llm llm(session, &llmOptions);

  if (!o.dumpLogits.empty()) {
    auto start = Clock::now();
    std::vector<float> logits = llm.promptLogits(prompt, info.vocab_size);
    double ms = msSince(start);
    Status st = writeNpy(o.dumpLogits, "<f4", {int64_t(prompt.size()), int64_t(info.vocab_size)},
                         logits.data(), logits.size() * sizeof(float));
    if (!st.isOk())
      fatal(tool, st.message());
    if (!o.quiet)
      std::fprintf(stderr, "wrote logits [%zu, %u] to %s (%.1f ms)\n", prompt.size(),
                   info.vocab_size, o.dumpLogits.c_str(), ms);
    if (o.greedy <= 0)
      return 0;
  }

  chitu_sampling sampling{};
  sampling.top_p = 1.0f;
  sampling.repetition_penalty = 1.0f;
  bool greedyIds = o.greedy > 0;
  if (!greedyIds) {
    if (info.do_sample) { // generation_config.json's defaults
      sampling.temperature = info.temperature;
      sampling.top_k = info.top_k;
      sampling.top_p = info.top_p;
    }
    sampling.repetition_penalty = info.repetition_penalty;
    if (o.temperature)
      sampling.temperature = *o.temperature;
    if (o.topK)
      sampling.top_k = *o.topK;
    if (o.topP)
      sampling.top_p = *o.topP;
    if (o.minP)
      sampling.min_p = *o.minP;
    if (o.repetitionPenalty)
      sampling.repetition_penalty = *o.repetitionPenalty;
    sampling.seed = o.seed;
  }
  std::vector<int32_t> stop = o.stopIds;
  if (!o.ignoreEos && !greedyIds)
    stop.insert(stop.end(), info.eos_token_ids, info.eos_token_ids + info.num_eos_token_ids);
  int64_t maxNew = greedyIds ? o.greedy : o.maxTokens;
  int32_t sequence =
      llm.addSequence(prompt, sampling, maxNew, greedyIds ? std::vector<int32_t>{} : stop);

  std::optional<TextStream> stream;
  if (tokenizer && !greedyIds) {
    stream.emplace(*tokenizer, prompt);
    if (o.prompt)
      writeOut(*o.prompt); // the continuation follows the prompt, as it reads
  }
  StopFilter stopFilter(o.stopTexts);
  std::vector<int32_t> generated;
  bool finished = false, stoppedByText = false;
  double prefillMs = 0;
  auto start = Clock::now();
  auto decodeStart = start;
  while (!finished) {
    llm.step([&](int32_t, int32_t token, bool done) {
      generated.push_back(token);
      finished = done;
      if (greedyIds)
        return;
      if (!stream) {
        writeOut((generated.size() > 1 ? " " : "") + std::to_string(token));
        return;
      }
      bool isStop = std::find(stop.begin(), stop.end(), token) != stop.end();
      if (!isStop && !stoppedByText) {
        std::string text = stopFilter.add(stream->push(token), stoppedByText);
        writeOut(text);
        if (stoppedByText)
          finished = true;
      }
    });
    if (generated.size() == 1 && prefillMs == 0) {
      prefillMs = msSince(start);
      decodeStart = Clock::now();
    }
  }
  double decodeMs = msSince(decodeStart);
  if (stoppedByText)
    llm.removeSequence(sequence);
  else if (stream)
    writeOut(stopFilter.flush());

  if (greedyIds) {
    for (size_t i = 0; i < generated.size(); ++i)
      std::printf(i ? " %d" : "%d", generated[i]);
    std::printf("\n");
    if (int64_t(generated.size()) < o.greedy)
      std::fprintf(stderr, "note: the context filled after %zu of %lld tokens\n", generated.size(),
                   (long long)o.greedy);
  } else {
    writeOut("\n");
  }
  if (!o.quiet) {
    const char *why =
        stoppedByText ? "a stop string"
        : !generated.empty() && std::find(stop.begin(), stop.end(), generated.back()) != stop.end()
            ? "an end-of-sequence token"
        : int64_t(generated.size()) >= maxNew ? "the token limit"
                                              : "the context limit";
    size_t decoded = generated.empty() ? 0 : generated.size() - 1;
    std::fprintf(stderr,
                 "[%s] prompt %zu tokens, generated %zu (stopped at %s)\n"
                 "prefill: %zu tokens in %.1f ms, %.1f tok/s\n"
                 "decode: %zu tokens in %.1f ms, %.1f tok/s\n",
                 session.deviceName().c_str(), prompt.size(), generated.size(), why, prompt.size(),
                 prefillMs, prefillMs > 0 ? 1000.0 * double(prompt.size()) / prefillMs : 0.0,
                 decoded, decodeMs, decodeMs > 0 ? 1000.0 * double(decoded) / decodeMs : 0.0);
  }
  return 0;
}

} // namespace chitu::tools
