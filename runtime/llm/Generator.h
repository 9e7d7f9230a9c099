// The LLM engine over a compiled decoder: sequences, the paged KV cache's block manager,
// ragged batches (prompt chunks and decode tokens together), sampling parameters, stop
// conditions. One `step` is one run of the model's `forward` entry (docs/llm.md).
#pragma once

#include "core/Session.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chitu::rt {

struct SamplingParams {
  float temperature = 0.0f; // <= 0: greedy
  int32_t topK = 0;         // 0: off
  float topP = 1.0f;
  float minP = 0.0f;
  float repetitionPenalty = 1.0f;
  uint64_t seed = 0;
};

struct GeneratorOptions {
  int32_t maxSequences = 8;
  int64_t maxContext = 0;   // 0: the model's max_position_embeddings
  int64_t kvBlocks = 0;     // 0: enough for maxSequences full contexts
  int64_t prefillChunk = 0; // 0: a whole prompt in one step
};

// What a step produced for one sequence.
struct TokenEvent {
  int32_t sequence;
  int32_t token;
  bool finished; // the sequence stopped (EOS, max tokens or context full) with this token
};

class Generator {
public:
  static StatusOr<std::unique_ptr<Generator>> create(Session &session,
                                                     const GeneratorOptions &options);

  const cbin::Llm &info() const { return *info_; }
  int64_t maxContext() const { return maxContext_; }

  // Queues a sequence; returns its id. `maxNewTokens` <= 0 means up to the context.
  StatusOr<int32_t> addSequence(const std::vector<int32_t> &prompt, const SamplingParams &params,
                                int64_t maxNewTokens, std::vector<int32_t> stopTokens);
  // Runs one forward over every active sequence.
  StatusOr<std::vector<TokenEvent>> step();
  // Frees a sequence's KV blocks (finished sequences free theirs when they finish).
  Status removeSequence(int32_t sequence);
  size_t activeSequences() const;

  // fp32 logits of every position of `tokens` as one fresh sequence ([T, vocab]), without
  // generating; the sequence is removed afterwards.
  StatusOr<HostTensor> promptLogits(const std::vector<int32_t> &tokens);
  // The same for several prompts run together as one ragged batch.
  StatusOr<std::vector<HostTensor>> promptLogits(const std::vector<std::vector<int32_t>> &prompts);

  // Tokens processed so far by steps: prompt tokens and decode tokens.
  int64_t promptTokensProcessed() const { return promptTokens_; }
  int64_t decodeTokensProcessed() const { return decodeTokens_; }

private:
  struct Sequence {
    int32_t id;
    std::vector<int32_t> tokens; // prompt, then generated
    size_t promptLength = 0;
    size_t processed = 0; // tokens whose K/V are in the cache
    std::vector<int32_t> blocks;
    SamplingParams params;
    int64_t maxNewTokens = 0;
    std::vector<int32_t> stop;
    bool finished = false;
    bool wantAllLogits = false;
  };

  Generator(Session &session) : session_(session) {}
  Status ensureBlocks(Sequence &s, size_t positions);
  void release(Sequence &s);
  Status setInputI32(const char *name, const std::vector<int64_t> &dims,
                     const std::vector<int32_t> &values);

  Session &session_;
  const cbin::Llm *info_ = nullptr;
  int entry_ = -1;
  // Block-table width and penalty-history length are multiples of these (see step()).
  static constexpr size_t kTableWidthStep = 64, kHistoryStep = 256;
  int64_t maxContext_ = 0, blockSize_ = 0, maxBlocksPerSequence_ = 0;
  int32_t maxSequences_ = 0;
  int64_t prefillChunk_ = 0;
  std::vector<int32_t> freeBlocks_;
  std::vector<Sequence> sequences_;
  int32_t nextId_ = 0;
  int64_t promptTokens_ = 0, decodeTokens_ = 0;
  std::vector<int32_t> lastRowOwners_; // the sequence of each logits row of the last step
};

} // namespace chitu::rt
