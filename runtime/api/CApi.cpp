// chitu.h implemented over the C++ runtime. Every entry point catches everything (allocation
// failures included) so that no exception crosses the C boundary.
#include "chitu/chitu.h"

#include "core/Session.h"
#include "cuda/CudaExecutor.h"
#include "llm/Generator.h"
#include "llm/Tokenizer.h"

#include <cstring>
#include <new>

using namespace chitu;
using namespace chitu::rt;

struct chitu_model {
  std::shared_ptr<const Model> model;
};

struct chitu_session {
  std::unique_ptr<Session> session;
  std::string deviceName;
  std::string placement;
};

struct chitu_llm {
  std::unique_ptr<Generator> generator;
};

struct chitu_tokenizer {
  std::unique_ptr<tok::Tokenizer> tokenizer;
};

struct chitu_text_stream {
  tok::StreamDecoder decoder;
  std::string last;
};

namespace {

thread_local std::string lastError;

chitu_status fail(const Status &s) {
  lastError = s.message();
  return chitu_status(int(s.code()));
}

chitu_status fail(chitu_status code, std::string message) {
  lastError = std::move(message);
  return code;
}

template <typename F> chitu_status guarded(F &&f) {
  try {
    return f();
  } catch (const std::bad_alloc &) {
    return fail(CHITU_ERROR_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception &e) {
    return fail(CHITU_ERROR_RUNTIME, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(CHITU_ERROR_RUNTIME, "internal error");
  }
}

bool validEntry(const chitu_model *m, int entry) {
  return m && entry >= 0 && uint32_t(entry) < m->model->artifact().entries()->size();
}

chitu_status fillInfo(const Model &m, const cbin::Tensor &t, chitu_tensor_info *info) {
  if (!info)
    return fail(CHITU_ERROR_INVALID_ARGUMENT, "info is NULL");
  std::memset(info, 0, sizeof *info);
  info->name = t.name()->c_str();
  info->dtype = chitu_dtype(int(t.dtype()));
  auto dims = m.declaredDims(t);
  info->rank = int(dims.size());
  for (size_t i = 0; i < dims.size() && i < CHITU_MAX_RANK; ++i)
    info->dims[i] = dims[i];
  info->is_state = t.storage() == cbin::StorageKind::STATE;
  return CHITU_OK;
}

} // namespace

extern "C" {

const char *chitu_version(void) { return "0.1.0"; }

const char *chitu_status_name(chitu_status s) {
  switch (s) {
  case CHITU_OK:
    return "ok";
  case CHITU_ERROR_INVALID_ARGUMENT:
    return "invalid argument";
  case CHITU_ERROR_IO:
    return "I/O error";
  case CHITU_ERROR_INVALID_ARTIFACT:
    return "invalid artifact";
  case CHITU_ERROR_UNSUPPORTED:
    return "unsupported";
  case CHITU_ERROR_DEVICE:
    return "device error";
  case CHITU_ERROR_SHAPE_MISMATCH:
    return "shape mismatch";
  case CHITU_ERROR_RUNTIME:
    return "runtime error";
  case CHITU_ERROR_OUT_OF_MEMORY:
    return "out of memory";
  case CHITU_ERROR_NOT_FOUND:
    return "not found";
  }
  return "unknown status";
}

const char *chitu_last_error(void) { return lastError.c_str(); }

static chitu_status finishLoad(StatusOr<std::shared_ptr<Model>> loaded, chitu_model **model) {
  if (!loaded.isOk())
    return fail(loaded.status());
  *model = new chitu_model{std::move(*loaded)};
  return CHITU_OK;
}

chitu_status chitu_model_load(const char *path, const chitu_load_options *options,
                              chitu_model **model) {
  return guarded([&] {
    if (!path || !model)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "path and model must not be NULL");
    *model = nullptr;
    LoadOptions opts;
    if (options && options->weights_dir)
      opts.weightsDir = options->weights_dir;
    return finishLoad(Model::load(path, opts), model);
  });
}

chitu_status chitu_model_load_memory(const void *data, size_t size,
                                     const chitu_load_options *options, chitu_model **model) {
  return guarded([&] {
    if (!data || !model)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "data and model must not be NULL");
    *model = nullptr;
    LoadOptions opts;
    if (options && options->weights_dir)
      opts.weightsDir = options->weights_dir;
    return finishLoad(Model::loadFromMemory(data, size, opts), model);
  });
}

void chitu_model_free(chitu_model *model) { delete model; }

int chitu_model_num_targets(const chitu_model *m) {
  if (!m || !m->model->artifact().targets())
    return 0;
  return int(m->model->artifact().targets()->size());
}

const char *chitu_model_target(const chitu_model *m, int index) {
  if (index < 0 || index >= chitu_model_num_targets(m))
    return nullptr;
  return m->model->artifact().targets()->Get(uint32_t(index))->c_str();
}

int chitu_model_num_entries(const chitu_model *m) {
  return m ? int(m->model->artifact().entries()->size()) : 0;
}

const char *chitu_model_entry_name(const chitu_model *m, int entry) {
  if (!validEntry(m, entry))
    return nullptr;
  return m->model->artifact().entries()->Get(uint32_t(entry))->name()->c_str();
}

chitu_status chitu_model_find_entry(const chitu_model *m, const char *name, int *entry) {
  return guarded([&] {
    if (!m || !name || !entry)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    *entry = m->model->findEntry(name);
    if (*entry < 0) {
      std::string names;
      for (int i = 0; i < chitu_model_num_entries(m); ++i)
        names += std::string(i ? ", " : "") + chitu_model_entry_name(m, i);
      return fail(CHITU_ERROR_NOT_FOUND,
                  "no entry named '" + std::string(name) + "' (entries: " + names + ")");
    }
    return CHITU_OK;
  });
}

int chitu_model_num_inputs(const chitu_model *m, int entry) {
  if (!validEntry(m, entry))
    return 0;
  return int(m->model->artifact().entries()->Get(uint32_t(entry))->inputs()->size());
}

int chitu_model_num_outputs(const chitu_model *m, int entry) {
  if (!validEntry(m, entry))
    return 0;
  return int(m->model->artifact().entries()->Get(uint32_t(entry))->outputs()->size());
}

chitu_status chitu_model_input_info(const chitu_model *m, int entry, int index,
                                    chitu_tensor_info *info) {
  return guarded([&] {
    if (!validEntry(m, entry) || index < 0 || index >= chitu_model_num_inputs(m, entry))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "entry or input index out of range");
    return fillInfo(*m->model, m->model->inputTensor(entry, index), info);
  });
}

chitu_status chitu_model_output_info(const chitu_model *m, int entry, int index,
                                     chitu_tensor_info *info) {
  return guarded([&] {
    if (!validEntry(m, entry) || index < 0 || index >= chitu_model_num_outputs(m, entry))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "entry or output index out of range");
    return fillInfo(*m->model, m->model->outputTensor(entry, index), info);
  });
}

int chitu_cuda_device_count(void) {
  int result = 0;
  guarded([&] {
    auto n = cudaDeviceCount();
    if (!n.isOk())
      return fail(n.status());
    result = *n;
    return CHITU_OK;
  });
  return result;
}

chitu_status chitu_session_create(chitu_model *m, chitu_device device, int device_index,
                                  chitu_session **session) {
  return chitu_session_create_with_options(m, device, device_index, nullptr, session);
}

chitu_status chitu_session_create_with_options(chitu_model *m, chitu_device device,
                                               int device_index,
                                               const chitu_session_options *options,
                                               chitu_session **session) {
  return guarded([&] {
    if (!m || !session)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "model and session must not be NULL");
    *session = nullptr;
    if (device != CHITU_DEVICE_CPU && device != CHITU_DEVICE_CUDA)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "unknown device kind");
    SessionOptions opts;
    if (options) {
      opts.gpuMemoryBytes = options->gpu_memory_bytes;
      if (options->num_cpu_weight_patterns && !options->cpu_weight_patterns)
        return fail(CHITU_ERROR_INVALID_ARGUMENT, "cpu_weight_patterns is NULL");
      for (size_t i = 0; i < options->num_cpu_weight_patterns; ++i) {
        if (!options->cpu_weight_patterns[i])
          return fail(CHITU_ERROR_INVALID_ARGUMENT, "a cpu weight pattern is NULL");
        opts.cpuWeightPatterns.push_back(options->cpu_weight_patterns[i]);
      }
    }
    auto s =
        Session::create(m->model, device == CHITU_DEVICE_CPU ? DeviceKind::Cpu : DeviceKind::Cuda,
                        device_index, opts);
    if (!s.isOk())
      return fail(s.status());
    auto *handle = new chitu_session{std::move(*s), "", ""};
    handle->deviceName = handle->session->deviceName();
    handle->placement = handle->session->placement();
    *session = handle;
    return CHITU_OK;
  });
}

void chitu_session_free(chitu_session *session) {
  try {
    delete session;
  } catch (...) {
  }
}

const char *chitu_session_device_name(const chitu_session *s) {
  return s ? s->deviceName.c_str() : "";
}

const char *chitu_session_placement(const chitu_session *s) {
  return s ? s->placement.c_str() : "";
}

chitu_status chitu_session_set_input(chitu_session *s, int entry, const char *name,
                                     chitu_dtype dtype, const int64_t *dims, int rank,
                                     const void *data, size_t bytes) {
  return guarded([&] {
    if (!s || !name || (rank > 0 && !dims) || rank < 0 || rank > CHITU_MAX_RANK)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "bad argument to chitu_session_set_input");
    if (!isValidDType(int(dtype)))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "unknown dtype");
    std::vector<int64_t> d(dims, dims + rank);
    Status st = s->session->setInput(entry, name, DType(int(dtype)), d, data, bytes);
    return st.isOk() ? CHITU_OK : fail(st);
  });
}

chitu_status chitu_session_set_state(chitu_session *s, const char *name, chitu_dtype dtype,
                                     const int64_t *dims, int rank, const void *data,
                                     size_t bytes) {
  return guarded([&] {
    if (!s || !name || (rank > 0 && !dims) || rank < 0 || rank > CHITU_MAX_RANK)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "bad argument to chitu_session_set_state");
    if (!isValidDType(int(dtype)))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "unknown dtype");
    Status st = s->session->setState(name, DType(int(dtype)),
                                     std::vector<int64_t>(dims, dims + rank), data, bytes);
    return st.isOk() ? CHITU_OK : fail(st);
  });
}

chitu_status chitu_session_get_state(const chitu_session *s, const char *name, void *data,
                                     size_t bytes) {
  return guarded([&] {
    if (!s || !name || (bytes && !data))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    Status st = s->session->readState(name, data, bytes);
    return st.isOk() ? CHITU_OK : fail(st);
  });
}

chitu_status chitu_session_run(chitu_session *s, int entry) {
  return guarded([&] {
    if (!s)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "session is NULL");
    Status st = s->session->run(entry);
    return st.isOk() ? CHITU_OK : fail(st);
  });
}

chitu_status chitu_session_output_info(const chitu_session *s, int entry, const char *name,
                                       chitu_tensor_info *info) {
  return guarded([&] {
    if (!s || !name || !info)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    auto out = const_cast<chitu_session *>(s)->session->output(entry, name);
    if (!out.isOk())
      return fail(out.status());
    const Model &m = s->session->model();
    fillInfo(m, m.outputTensor(entry, m.findOutput(entry, name)), info);
    const HostTensor &h = **out;
    info->rank = int(h.dims.size());
    for (size_t i = 0; i < h.dims.size() && i < CHITU_MAX_RANK; ++i)
      info->dims[i] = h.dims[i];
    return CHITU_OK;
  });
}

chitu_status chitu_session_get_output(const chitu_session *s, int entry, const char *name,
                                      void *data, size_t bytes) {
  return guarded([&] {
    if (!s || !name || (bytes && !data))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    auto out = const_cast<chitu_session *>(s)->session->output(entry, name);
    if (!out.isOk())
      return fail(out.status());
    const HostTensor &h = **out;
    if (bytes != h.data.size())
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "output '" + std::string(name) + "' has " +
                                                    std::to_string(h.data.size()) +
                                                    " bytes, the buffer " + std::to_string(bytes));
    if (bytes)
      std::memcpy(data, h.data.data(), bytes);
    return CHITU_OK;
  });
}

chitu_status chitu_model_llm_info(const chitu_model *m, chitu_llm_info *info) {
  return guarded([&] {
    if (!m || !info)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    const cbin::Llm *llm = m->model->artifact().llm();
    if (!llm)
      return fail(CHITU_ERROR_INVALID_ARGUMENT,
                  "the model is not a compiled LLM (compile a Hugging Face checkpoint directory)");
    std::memset(info, 0, sizeof *info);
    info->architecture = llm->architecture() ? llm->architecture()->c_str() : "";
    info->vocab_size = llm->vocab_size();
    info->num_layers = llm->num_layers();
    info->kv_block_size = llm->kv_block_size();
    info->max_context = llm->max_context();
    info->bos_token_id = llm->bos_token_id();
    if (llm->eos_token_ids())
      for (int32_t id : *llm->eos_token_ids())
        if (info->num_eos_token_ids < 8)
          info->eos_token_ids[info->num_eos_token_ids++] = id;
    info->has_tokenizer = llm->tokenizer_json() && llm->tokenizer_json()->size() > 0;
    info->temperature = llm->temperature();
    info->top_p = llm->top_p();
    info->top_k = llm->top_k();
    info->repetition_penalty = llm->repetition_penalty();
    info->do_sample = llm->do_sample();
    return CHITU_OK;
  });
}

chitu_status chitu_llm_create(chitu_session *s, const chitu_llm_options *options, chitu_llm **llm) {
  return guarded([&] {
    if (!s || !llm)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    *llm = nullptr;
    GeneratorOptions opts;
    if (options) {
      if (options->max_sequences > 0)
        opts.maxSequences = options->max_sequences;
      opts.maxContext = options->max_context;
      opts.kvBlocks = options->kv_blocks;
      opts.prefillChunk = options->prefill_chunk;
    }
    auto g = Generator::create(*s->session, opts);
    if (!g.isOk())
      return fail(g.status());
    *llm = new chitu_llm{std::move(*g)};
    return CHITU_OK;
  });
}

void chitu_llm_free(chitu_llm *llm) { delete llm; }

chitu_status chitu_llm_add_sequence(chitu_llm *llm, const int32_t *prompt, size_t length,
                                    const chitu_sampling *sampling, int64_t max_new_tokens,
                                    const int32_t *stop_tokens, size_t num_stop_tokens,
                                    int32_t *sequence) {
  return guarded([&] {
    if (!llm || (length && !prompt) || (num_stop_tokens && !stop_tokens))
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    SamplingParams p;
    if (sampling) {
      p.temperature = sampling->temperature;
      p.topK = sampling->top_k;
      p.topP = sampling->top_p;
      p.minP = sampling->min_p;
      p.repetitionPenalty = sampling->repetition_penalty;
      p.seed = sampling->seed;
    }
    auto id = llm->generator->addSequence(
        std::vector<int32_t>(prompt, prompt + length), p, max_new_tokens,
        std::vector<int32_t>(stop_tokens, stop_tokens + num_stop_tokens));
    if (!id.isOk())
      return fail(id.status());
    if (sequence)
      *sequence = *id;
    return CHITU_OK;
  });
}

chitu_status chitu_llm_step(chitu_llm *llm, chitu_token_callback callback, void *user,
                            size_t *active) {
  return guarded([&] {
    if (!llm)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    auto events = llm->generator->step();
    if (!events.isOk())
      return fail(events.status());
    if (callback)
      for (const TokenEvent &e : *events)
        callback(user, e.sequence, e.token, e.finished ? 1 : 0);
    if (active)
      *active = llm->generator->activeSequences();
    return CHITU_OK;
  });
}

chitu_status chitu_llm_remove_sequence(chitu_llm *llm, int32_t sequence) {
  return guarded([&] {
    if (!llm)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    Status st = llm->generator->removeSequence(sequence);
    return st.isOk() ? CHITU_OK : fail(st);
  });
}

chitu_status chitu_llm_prompt_logits(chitu_llm *llm, const int32_t *tokens, size_t length,
                                     float *logits, size_t capacity) {
  return guarded([&] {
    if (!llm || (length && !tokens) || !logits)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    auto out = llm->generator->promptLogits(std::vector<int32_t>(tokens, tokens + length));
    if (!out.isOk())
      return fail(out.status());
    if (out->data.size() != capacity * sizeof(float))
      return fail(CHITU_ERROR_INVALID_ARGUMENT,
                  "the logits need " + std::to_string(out->data.size() / 4) +
                      " floats, the buffer holds " + std::to_string(capacity));
    std::memcpy(logits, out->data.data(), out->data.size());
    return CHITU_OK;
  });
}

void chitu_llm_token_counts(const chitu_llm *llm, int64_t *prompt_tokens, int64_t *decode_tokens) {
  if (prompt_tokens)
    *prompt_tokens = llm ? llm->generator->promptTokensProcessed() : 0;
  if (decode_tokens)
    *decode_tokens = llm ? llm->generator->decodeTokensProcessed() : 0;
}

chitu_status chitu_tokenizer_load(const char *path, chitu_tokenizer **tokenizer) {
  return guarded([&] {
    if (!path || !tokenizer)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    *tokenizer = nullptr;
    auto t = tok::Tokenizer::fromFile(path);
    if (!t.isOk())
      return fail(t.status());
    *tokenizer = new chitu_tokenizer{std::move(*t)};
    return CHITU_OK;
  });
}

chitu_status chitu_model_tokenizer(const chitu_model *m, chitu_tokenizer **tokenizer) {
  return guarded([&] {
    if (!m || !tokenizer)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    *tokenizer = nullptr;
    const cbin::Llm *llm = m->model->artifact().llm();
    if (!llm || !llm->tokenizer_json() || llm->tokenizer_json()->size() == 0)
      return fail(CHITU_ERROR_NOT_FOUND,
                  "the model has no tokenizer (its checkpoint directory had no tokenizer.json)");
    auto t = tok::Tokenizer::fromJson(
        std::string_view(llm->tokenizer_json()->c_str(), llm->tokenizer_json()->size()));
    if (!t.isOk())
      return fail(t.status().withContext("the model's tokenizer"));
    *tokenizer = new chitu_tokenizer{std::move(*t)};
    return CHITU_OK;
  });
}

void chitu_tokenizer_free(chitu_tokenizer *tokenizer) { delete tokenizer; }

size_t chitu_tokenizer_vocab_size(const chitu_tokenizer *tokenizer) {
  return tokenizer ? tokenizer->tokenizer->vocabSize() : 0;
}

chitu_status chitu_tokenizer_encode(const chitu_tokenizer *tokenizer, const char *text,
                                    size_t length, int add_special, int32_t *ids, size_t capacity,
                                    size_t *count) {
  return guarded([&] {
    if (!tokenizer || (length && !text) || !count)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    auto out =
        tokenizer->tokenizer->encode(std::string_view(text ? text : "", length), add_special != 0);
    if (!out.isOk())
      return fail(out.status());
    *count = out->size();
    if (!ids)
      return CHITU_OK;
    if (capacity < out->size())
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "the text has " + std::to_string(out->size()) +
                                                    " tokens, the buffer holds " +
                                                    std::to_string(capacity));
    std::copy(out->begin(), out->end(), ids);
    return CHITU_OK;
  });
}

chitu_status chitu_tokenizer_decode(const chitu_tokenizer *tokenizer, const int32_t *ids,
                                    size_t count, int skip_special, char *text, size_t capacity,
                                    size_t *length) {
  return guarded([&] {
    if (!tokenizer || (count && !ids) || !length)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    std::string out =
        tokenizer->tokenizer->decode(std::vector<int32_t>(ids, ids + count), skip_special != 0);
    *length = out.size();
    if (!text)
      return CHITU_OK;
    if (capacity <= out.size())
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "the text needs " + std::to_string(out.size() + 1) +
                                                    " bytes with its NUL, the buffer holds " +
                                                    std::to_string(capacity));
    std::memcpy(text, out.c_str(), out.size() + 1);
    return CHITU_OK;
  });
}

chitu_status chitu_text_stream_create(const chitu_tokenizer *tokenizer, const int32_t *context,
                                      size_t count, chitu_text_stream **stream) {
  return guarded([&] {
    if (!tokenizer || (count && !context) || !stream)
      return fail(CHITU_ERROR_INVALID_ARGUMENT, "NULL argument");
    *stream = new chitu_text_stream{
        tok::StreamDecoder(*tokenizer->tokenizer, std::vector<int32_t>(context, context + count)),
        std::string()};
    return CHITU_OK;
  });
}

const char *chitu_text_stream_push(chitu_text_stream *stream, int32_t token) {
  if (!stream)
    return "";
  try {
    stream->last = stream->decoder.push(token);
  } catch (...) {
    stream->last.clear();
  }
  return stream->last.c_str();
}

void chitu_text_stream_free(chitu_text_stream *stream) { delete stream; }

} // extern "C"
