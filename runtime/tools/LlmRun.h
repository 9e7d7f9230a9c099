// chitu-run's LLM mode: generate from a prompt (text or token ids), stream the text, and
// report prefill and decode speed; or dump prompt logits / greedy ids (what the tests use).
#pragma once

#include "ToolArgs.h"
#include "chitu/chitu.hpp"

#include <optional>
#include <string>
#include <vector>

namespace chitu::tools {

struct LlmRunOptions {
  std::optional<std::string> prompt;          // --prompt / --prompt-file
  std::optional<std::vector<int32_t>> tokens; // --tokens
  std::string tokenizerPath;                  // --tokenizer (else the model's own)
  int64_t maxTokens = 128;
  // Sampling; unset fields take generation_config.json's defaults when it samples.
  std::optional<float> temperature, topP, minP, repetitionPenalty;
  std::optional<int32_t> topK;
  uint64_t seed = 0;
  int64_t greedy = -1;    // --greedy N: N greedy ids, printed on one line
  std::string dumpLogits; // --dump-logits FILE.npy
  std::vector<std::string> stopTexts;
  std::vector<int32_t> stopIds;
  bool ignoreEos = false;
  bool addSpecial = true; // BOS etc. for --prompt
  int64_t maxContext = 0, prefillChunk = 0;
  bool quiet = false; // no statistics
};

// True if the argument at `args` is an LLM-mode option; consumes it into `options`.
bool parseLlmOption(Args &args, LlmRunOptions &options);
bool llmModeRequested(const LlmRunOptions &options);

// Runs the LLM mode; returns the process exit code (errors are printed).
int runLlm(const std::string &tool, Model &model, Session &session, const LlmRunOptions &options);

} // namespace chitu::tools
