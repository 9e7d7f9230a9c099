#include "Generator.h"

#include <algorithm>
#include <cstring>

namespace chitu::rt {

StatusOr<std::unique_ptr<Generator>> Generator::create(Session &session,
                                                       const GeneratorOptions &options) {
  const Model &model = session.model();
  const cbin::Llm *info = model.artifact().llm();
  if (!info)
    return invalidArgument("the model is not a compiled LLM (compile a Hugging Face checkpoint "
                           "directory with chitu-compile)");
  std::unique_ptr<Generator> g(new Generator(session));
  g->info_ = info;
  g->entry_ = model.findEntry("forward");
  if (g->entry_ < 0)
    return invalidArtifact("the LLM has no 'forward' entry");
  if (!info->kv_block_size() || !info->max_context() || !info->vocab_size())
    return invalidArtifact("the LLM metadata is incomplete");
  if (options.maxSequences < 1)
    return invalidArgument("at least one sequence is needed");
  g->maxContext_ = options.maxContext > 0
                       ? std::min<int64_t>(options.maxContext, info->max_context())
                       : int64_t(info->max_context());
  g->blockSize_ = info->kv_block_size();
  g->maxBlocksPerSequence_ = (g->maxContext_ + g->blockSize_ - 1) / g->blockSize_;
  g->maxSequences_ = options.maxSequences;
  g->prefillChunk_ = options.prefillChunk;
  int64_t blocks =
      options.kvBlocks > 0 ? options.kvBlocks : g->maxBlocksPerSequence_ * options.maxSequences;
  std::vector<int64_t> dims = {blocks, g->blockSize_, int64_t(info->num_kv_heads()),
                               int64_t(info->head_dim())};
  DType dtype = toDType(info->cache_dtype());
  for (uint32_t l = 0; l < info->num_layers(); ++l)
    for (const char *kind : {"k_cache_", "v_cache_"}) {
      Status st = session.setState(kind + std::to_string(l), dtype, dims, nullptr, 0);
      if (!st.isOk())
        return st.withContext("allocating the KV cache (" + std::to_string(blocks) + " blocks of " +
                              std::to_string(g->blockSize_) + " tokens)");
    }
  for (int64_t b = blocks - 1; b >= 0; --b)
    g->freeBlocks_.push_back(int32_t(b));
  return g;
}

size_t Generator::activeSequences() const {
  return size_t(std::count_if(sequences_.begin(), sequences_.end(),
                              [](const Sequence &s) { return !s.finished; }));
}

StatusOr<int32_t> Generator::addSequence(const std::vector<int32_t> &prompt,
                                         const SamplingParams &params, int64_t maxNewTokens,
                                         std::vector<int32_t> stopTokens) {
  if (prompt.empty())
    return invalidArgument("the prompt is empty");
  if (int64_t(prompt.size()) > maxContext_)
    return invalidArgument("the prompt has " + std::to_string(prompt.size()) +
                           " tokens, more than the context of " + std::to_string(maxContext_));
  for (int32_t t : prompt)
    if (t < 0 || uint32_t(t) >= info_->vocab_size())
      return invalidArgument("token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                             std::to_string(info_->vocab_size() - 1) + ")");
  if (int64_t(activeSequences()) >= maxSequences_)
    return invalidArgument("already " + std::to_string(maxSequences_) +
                           " sequences (the generator's maximum)");
  if (!(params.topP > 0.0f && params.topP <= 1.0f) || params.minP < 0.0f || params.minP > 1.0f ||
      params.topK < 0 || !(params.repetitionPenalty > 0.0f))
    return invalidArgument("sampling parameters out of range (0 < top_p <= 1, 0 <= min_p <= 1, "
                           "top_k >= 0, repetition_penalty > 0)");
  Sequence s;
  s.id = nextId_++;
  s.tokens = prompt;
  s.promptLength = prompt.size();
  s.params = params;
  s.maxNewTokens = maxNewTokens > 0 ? maxNewTokens : maxContext_;
  s.stop = std::move(stopTokens);
  sequences_.push_back(std::move(s));
  return sequences_.back().id;
}

Status Generator::ensureBlocks(Sequence &s, size_t positions) {
  size_t need = (positions + size_t(blockSize_) - 1) / size_t(blockSize_);
  while (s.blocks.size() < need) {
    if (freeBlocks_.empty())
      return Status(StatusCode::OutOfMemory, "the KV cache is full: no free block for sequence " +
                                                 std::to_string(s.id) +
                                                 " (use more KV blocks or fewer sequences)");
    s.blocks.push_back(freeBlocks_.back());
    freeBlocks_.pop_back();
  }
  return Status::ok();
}

void Generator::release(Sequence &s) {
  for (int32_t b : s.blocks)
    freeBlocks_.push_back(b);
  s.blocks.clear();
}

Status Generator::removeSequence(int32_t id) {
  for (size_t i = 0; i < sequences_.size(); ++i)
    if (sequences_[i].id == id) {
      release(sequences_[i]);
      sequences_.erase(sequences_.begin() + long(i));
      return Status::ok();
    }
  return invalidArgument("no sequence " + std::to_string(id));
}

Status Generator::setInputI32(const char *name, const std::vector<int64_t> &dims,
                              const std::vector<int32_t> &values) {
  return session_.setInput(entry_, name, DType::I32, dims, values.data(), values.size() * 4);
}

StatusOr<std::vector<TokenEvent>> Generator::step() {
  std::vector<TokenEvent> events;
  std::vector<int32_t> tokens, positions, seqIds, slots, logitsIndex;
  std::vector<Sequence *> batch, rowOwner;
  for (Sequence &s : sequences_) {
    if (s.finished || s.processed >= s.tokens.size())
      continue;
    size_t end = s.tokens.size();
    if (prefillChunk_ > 0 && s.processed < s.promptLength)
      end = std::min(end, s.processed + size_t(prefillChunk_));
    CHITU_RETURN_IF_ERROR(ensureBlocks(s, end));
    int32_t row = int32_t(batch.size());
    batch.push_back(&s);
    for (size_t p = s.processed; p < end; ++p) {
      if (s.wantAllLogits || p + 1 == s.tokens.size()) {
        logitsIndex.push_back(int32_t(tokens.size()));
        rowOwner.push_back(&s);
      }
      tokens.push_back(s.tokens[p]);
      positions.push_back(int32_t(p));
      seqIds.push_back(row);
      slots.push_back(s.blocks[p / size_t(blockSize_)] * int32_t(blockSize_) +
                      int32_t(p % size_t(blockSize_)));
    }
  }
  if (batch.empty())
    return events;

  // Table width and history length are rounded up (unused entries: block 0, token -1) so
  // that consecutive decode steps have the same shapes and the runtime can replay them as
  // one CUDA graph instead of re-launching every kernel.
  auto roundUp = [](size_t n, size_t step) { return (n + step - 1) / step * step; };
  size_t maxBlocks = 1;
  for (Sequence *s : batch)
    maxBlocks = std::max(maxBlocks, s->blocks.size());
  maxBlocks = std::min(roundUp(maxBlocks, kTableWidthStep), size_t(maxBlocksPerSequence_));
  std::vector<int32_t> tables(batch.size() * maxBlocks, 0);
  for (size_t r = 0; r < batch.size(); ++r)
    std::copy(batch[r]->blocks.begin(), batch[r]->blocks.end(),
              tables.begin() + long(r * maxBlocks));

  // Per logits row: sampling parameters, penalty history, seed.
  size_t rows = logitsIndex.size(), historyLen = 0;
  for (Sequence *s : rowOwner)
    if (s->params.repetitionPenalty != 1.0f)
      historyLen = std::max(historyLen, roundUp(s->tokens.size(), kHistoryStep));
  std::vector<float> temperature, topP, minP, penalty;
  std::vector<int32_t> topK, history(rows * historyLen, -1);
  std::vector<int64_t> seeds;
  for (size_t r = 0; r < rows; ++r) {
    const Sequence &s = *rowOwner[r];
    temperature.push_back(s.params.temperature);
    topK.push_back(s.params.topK);
    topP.push_back(s.params.topP);
    minP.push_back(s.params.minP);
    penalty.push_back(s.params.repetitionPenalty);
    if (s.params.repetitionPenalty != 1.0f)
      std::copy(s.tokens.begin(), s.tokens.end(), history.begin() + long(r * historyLen));
    uint64_t generated = s.tokens.size() - s.promptLength;
    seeds.push_back(int64_t(s.params.seed * 0x9e3779b97f4a7c15ull + generated));
  }

  int64_t T = int64_t(tokens.size()), L = int64_t(rows);
  CHITU_RETURN_IF_ERROR(setInputI32("tokens", {T}, tokens));
  CHITU_RETURN_IF_ERROR(setInputI32("positions", {T}, positions));
  CHITU_RETURN_IF_ERROR(setInputI32("sequence_ids", {T}, seqIds));
  CHITU_RETURN_IF_ERROR(setInputI32("kv_slots", {T}, slots));
  CHITU_RETURN_IF_ERROR(
      setInputI32("block_tables", {int64_t(batch.size()), int64_t(maxBlocks)}, tables));
  CHITU_RETURN_IF_ERROR(setInputI32("logits_index", {L}, logitsIndex));
  auto f32 = [&](const char *name, const std::vector<float> &v) {
    return session_.setInput(entry_, name, DType::F32, {L}, v.data(), v.size() * 4);
  };
  CHITU_RETURN_IF_ERROR(f32("temperature", temperature));
  CHITU_RETURN_IF_ERROR(setInputI32("top_k", {L}, topK));
  CHITU_RETURN_IF_ERROR(f32("top_p", topP));
  CHITU_RETURN_IF_ERROR(f32("min_p", minP));
  CHITU_RETURN_IF_ERROR(f32("repetition_penalty", penalty));
  CHITU_RETURN_IF_ERROR(setInputI32("history", {L, int64_t(historyLen)}, history));
  CHITU_RETURN_IF_ERROR(
      session_.setInput(entry_, "seeds", DType::I64, {L}, seeds.data(), seeds.size() * 8));
  CHITU_RETURN_IF_ERROR(session_.run(entry_));
  lastRowOwners_.clear();
  for (Sequence *s : rowOwner)
    lastRowOwners_.push_back(s->id);

  const HostTensor *next = nullptr;
  bool needTokens =
      std::any_of(rowOwner.begin(), rowOwner.end(), [](Sequence *s) { return !s->wantAllLogits; });
  if (needTokens) {
    auto out = session_.output(entry_, "next_tokens");
    if (!out.isOk())
      return out.status();
    next = *out;
  }
  for (Sequence *s : batch) {
    size_t end = s->tokens.size();
    if (prefillChunk_ > 0 && s->processed < s->promptLength)
      end = std::min(end, s->processed + size_t(prefillChunk_));
    for (size_t p = s->processed; p < end; ++p)
      ++(p < s->promptLength ? promptTokens_ : decodeTokens_);
    s->processed = end;
  }
  for (size_t r = 0; r < rows; ++r) {
    Sequence &s = *rowOwner[r];
    if (s.wantAllLogits || s.processed < s.tokens.size())
      continue;
    int32_t token;
    std::memcpy(&token, next->data.data() + 4 * r, 4);
    s.tokens.push_back(token);
    int64_t generated = int64_t(s.tokens.size() - s.promptLength);
    bool stop = std::find(s.stop.begin(), s.stop.end(), token) != s.stop.end();
    s.finished = stop || generated >= s.maxNewTokens || int64_t(s.tokens.size()) >= maxContext_;
    events.push_back({s.id, token, s.finished});
    if (s.finished)
      release(s);
  }
  return events;
}

StatusOr<HostTensor> Generator::promptLogits(const std::vector<int32_t> &tokens) {
  auto all = promptLogits(std::vector<std::vector<int32_t>>{tokens});
  if (!all.isOk())
    return all.status();
  return std::move(all->front());
}

StatusOr<std::vector<HostTensor>>
Generator::promptLogits(const std::vector<std::vector<int32_t>> &prompts) {
  std::vector<int32_t> ids;
  Status st;
  for (const auto &tokens : prompts) {
    auto id = addSequence(tokens, SamplingParams(), 1, {});
    if (!id.isOk()) {
      st = id.status();
      break;
    }
    sequences_.back().wantAllLogits = true;
    ids.push_back(*id);
  }
  int64_t V = info_->vocab_size();
  std::vector<HostTensor> out(ids.size());
  for (HostTensor &t : out) {
    t.dtype = DType::F32;
    t.dims = {0, V};
  }
  auto pending = [&] {
    for (const Sequence &s : sequences_)
      if (std::find(ids.begin(), ids.end(), s.id) != ids.end() && s.processed < s.tokens.size())
        return true;
    return false;
  };
  while (st.isOk() && pending()) {
    auto events = step();
    if (!events.isOk()) {
      st = events.status();
      break;
    }
    auto logits = session_.output(entry_, "logits");
    if (!logits.isOk()) {
      st = logits.status();
      break;
    }
    const HostTensor &l = **logits;
    for (size_t r = 0; r < lastRowOwners_.size(); ++r) {
      auto it = std::find(ids.begin(), ids.end(), lastRowOwners_[r]);
      if (it == ids.end())
        continue;
      HostTensor &t = out[size_t(it - ids.begin())];
      t.data.insert(t.data.end(), l.data.begin() + long(r * V * 4),
                    l.data.begin() + long((r + 1) * V * 4));
      ++t.dims[0];
    }
  }
  for (int32_t id : ids) {
    Status removed = removeSequence(id);
    if (st.isOk())
      st = removed;
  }
  CHITU_RETURN_IF_ERROR(st);
  return out;
}

} // namespace chitu::rt
