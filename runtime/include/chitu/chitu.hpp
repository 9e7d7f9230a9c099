// chitu.hpp: a thin header-only C++ wrapper over chitu.h. Handles become RAII objects and
// failed calls throw chitu::Error (in the caller's code; nothing is thrown through the C API).
#pragma once

#include "chitu.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace chitu {

class Error : public std::runtime_error {
public:
  Error(chitu_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}
  chitu_status status() const { return status_; }

private:
  chitu_status status_;
};

inline void check(chitu_status s) {
  if (s != CHITU_OK)
    throw Error(s, chitu_last_error());
}

struct Tensor {
  chitu_dtype dtype = CHITU_DTYPE_F32;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

struct TensorInfo {
  std::string name;
  chitu_dtype dtype;
  std::vector<int64_t> dims; // -1 where dynamic
};

class Model {
public:
  static Model load(const std::string &path, const std::string &weightsDir = "") {
    chitu_load_options opts{weightsDir.empty() ? nullptr : weightsDir.c_str()};
    chitu_model *m = nullptr;
    check(chitu_model_load(path.c_str(), &opts, &m));
    return Model(m);
  }
  chitu_model *get() const { return model_.get(); }

  int numEntries() const { return chitu_model_num_entries(get()); }
  std::string entryName(int entry) const { return chitu_model_entry_name(get(), entry); }
  int findEntry(const std::string &name) const {
    int e = -1;
    check(chitu_model_find_entry(get(), name.c_str(), &e));
    return e;
  }
  std::vector<TensorInfo> inputs(int entry) const {
    return infos(entry, chitu_model_num_inputs(get(), entry), chitu_model_input_info);
  }
  std::vector<TensorInfo> outputs(int entry) const {
    return infos(entry, chitu_model_num_outputs(get(), entry), chitu_model_output_info);
  }
  bool isLlm() const {
    chitu_llm_info info;
    return chitu_model_llm_info(get(), &info) == CHITU_OK;
  }
  // LLM metadata; throws if the model is not a compiled LLM.
  chitu_llm_info llmInfo() const {
    chitu_llm_info info;
    check(chitu_model_llm_info(get(), &info));
    return info;
  }

private:
  explicit Model(chitu_model *m) : model_(m, chitu_model_free) {}
  template <typename F> std::vector<TensorInfo> infos(int entry, int n, F fn) const {
    std::vector<TensorInfo> out;
    for (int i = 0; i < n; ++i) {
      chitu_tensor_info info;
      check(fn(get(), entry, i, &info));
      out.push_back(
          {info.name, info.dtype, std::vector<int64_t>(info.dims, info.dims + info.rank)});
    }
    return out;
  }
  std::shared_ptr<chitu_model> model_;
};

class Session {
public:
  chitu_session *get() const { return session_.get(); }
  // gpuMemoryBytes: the GPU memory the weights may take (0: no limit); cpuWeightPatterns:
  // the steps reading a weight whose name matches one run on the CPU (docs/slicing.md).
  Session(const Model &model, chitu_device device, int deviceIndex = 0,
          uint64_t gpuMemoryBytes = 0, const std::vector<std::string> &cpuWeightPatterns = {}) {
    chitu_session *s = nullptr;
    std::vector<const char *> patterns;
    for (const std::string &p : cpuWeightPatterns)
      patterns.push_back(p.c_str());
    chitu_session_options options{gpuMemoryBytes, patterns.data(), patterns.size()};
    check(chitu_session_create_with_options(model.get(), device, deviceIndex, &options, &s));
    session_.reset(s);
  }
  std::string deviceName() const { return chitu_session_device_name(session_.get()); }
  std::string placement() const { return chitu_session_placement(session_.get()); }

  void setInput(int entry, const std::string &name, chitu_dtype dtype,
                const std::vector<int64_t> &dims, const void *data, size_t bytes) {
    check(chitu_session_set_input(session_.get(), entry, name.c_str(), dtype, dims.data(),
                                  int(dims.size()), data, bytes));
  }
  void setInput(int entry, const std::string &name, const Tensor &t) {
    setInput(entry, name, t.dtype, t.dims, t.data.data(), t.data.size());
  }
  void run(int entry) { check(chitu_session_run(session_.get(), entry)); }
  Tensor output(int entry, const std::string &name) const {
    chitu_tensor_info info;
    check(chitu_session_output_info(session_.get(), entry, name.c_str(), &info));
    Tensor t;
    t.dtype = info.dtype;
    t.dims.assign(info.dims, info.dims + info.rank);
    size_t bytes = chitu_dtype_size(info.dtype);
    for (int64_t d : t.dims)
      bytes *= size_t(d);
    t.data.resize(bytes);
    check(chitu_session_get_output(session_.get(), entry, name.c_str(), t.data.data(), bytes));
    return t;
  }

private:
  struct Deleter {
    void operator()(chitu_session *s) const { chitu_session_free(s); }
  };
  std::unique_ptr<chitu_session, Deleter> session_;
};

// A generator over a compiled LLM (see chitu_llm_* in chitu.h).
class Llm {
public:
  Llm(Session &session, const chitu_llm_options *options = nullptr) {
    chitu_llm *l = nullptr;
    check(chitu_llm_create(session.get(), options, &l));
    llm_.reset(l);
  }
  int32_t addSequence(const std::vector<int32_t> &prompt, const chitu_sampling &sampling,
                      int64_t maxNewTokens, const std::vector<int32_t> &stop = {}) {
    int32_t id = -1;
    check(chitu_llm_add_sequence(llm_.get(), prompt.data(), prompt.size(), &sampling, maxNewTokens,
                                 stop.data(), stop.size(), &id));
    return id;
  }
  // Runs one step; `onToken(sequence, token, finished)` for every token produced.
  template <typename F> size_t step(F &&onToken) {
    size_t active = 0;
    check(chitu_llm_step(
        llm_.get(),
        [](void *user, int32_t seq, int32_t token, int finished) {
          (*static_cast<F *>(user))(seq, token, finished != 0);
        },
        &onToken, &active));
    return active;
  }
  void removeSequence(int32_t sequence) { check(chitu_llm_remove_sequence(llm_.get(), sequence)); }
  std::vector<float> promptLogits(const std::vector<int32_t> &tokens, size_t vocab) {
    std::vector<float> logits(tokens.size() * vocab);
    check(chitu_llm_prompt_logits(llm_.get(), tokens.data(), tokens.size(), logits.data(),
                                  logits.size()));
    return logits;
  }
  void tokenCounts(int64_t &prompt, int64_t &decode) const {
    chitu_llm_token_counts(llm_.get(), &prompt, &decode);
  }

private:
  struct Deleter {
    void operator()(chitu_llm *l) const { chitu_llm_free(l); }
  };
  std::unique_ptr<chitu_llm, Deleter> llm_;
};

// A tokenizer.json, from a file or embedded in an LLM .cbin (see chitu_tokenizer_* in chitu.h).
class Tokenizer {
public:
  static Tokenizer load(const std::string &path) {
    chitu_tokenizer *t = nullptr;
    check(chitu_tokenizer_load(path.c_str(), &t));
    return Tokenizer(t);
  }
  static Tokenizer fromModel(const Model &model) {
    chitu_tokenizer *t = nullptr;
    check(chitu_model_tokenizer(model.get(), &t));
    return Tokenizer(t);
  }
  chitu_tokenizer *get() const { return tokenizer_.get(); }
  size_t vocabSize() const { return chitu_tokenizer_vocab_size(get()); }
  std::vector<int32_t> encode(const std::string &text, bool addSpecial) const {
    size_t n = 0;
    check(chitu_tokenizer_encode(get(), text.data(), text.size(), addSpecial, nullptr, 0, &n));
    std::vector<int32_t> ids(n);
    check(chitu_tokenizer_encode(get(), text.data(), text.size(), addSpecial, ids.data(), n, &n));
    return ids;
  }
  std::string decode(const std::vector<int32_t> &ids, bool skipSpecial = false) const {
    size_t n = 0;
    check(chitu_tokenizer_decode(get(), ids.data(), ids.size(), skipSpecial, nullptr, 0, &n));
    std::string text(n + 1, '\0');
    check(chitu_tokenizer_decode(get(), ids.data(), ids.size(), skipSpecial, &text[0], n + 1, &n));
    text.resize(n);
    return text;
  }

private:
  explicit Tokenizer(chitu_tokenizer *t) : tokenizer_(t, chitu_tokenizer_free) {}
  std::shared_ptr<chitu_tokenizer> tokenizer_;
};

// Streams generated tokens as text (see chitu_text_stream_* in chitu.h).
class TextStream {
public:
  TextStream(const Tokenizer &tokenizer, const std::vector<int32_t> &context) {
    chitu_text_stream *s = nullptr;
    check(chitu_text_stream_create(tokenizer.get(), context.data(), context.size(), &s));
    stream_.reset(s);
  }
  std::string push(int32_t token) { return chitu_text_stream_push(stream_.get(), token); }

private:
  struct Deleter {
    void operator()(chitu_text_stream *s) const { chitu_text_stream_free(s); }
  };
  std::unique_ptr<chitu_text_stream, Deleter> stream_;
};

} // namespace chitu
