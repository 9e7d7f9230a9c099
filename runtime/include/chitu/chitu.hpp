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
  Session(const Model &model, chitu_device device, int deviceIndex = 0) {
    chitu_session *s = nullptr;
    check(chitu_session_create(model.get(), device, deviceIndex, &s));
    session_.reset(s);
  }
  std::string deviceName() const { return chitu_session_device_name(session_.get()); }

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
    size_t bytes = info.dtype == CHITU_DTYPE_F32 || info.dtype == CHITU_DTYPE_I32 ? 4
                   : info.dtype == CHITU_DTYPE_I64                                ? 8
                                                                                  : 2;
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
    check(chitu_llm_add_sequence(llm_.get(), prompt.data(), prompt.size(), &sampling,
                                 maxNewTokens, stop.data(), stop.size(), &id));
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

} // namespace chitu
