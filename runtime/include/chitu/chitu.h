/*
 * chitu.h: the C API of the chitu runtime.
 *
 * Load a compiled model (.cbin), open a session on a device (the CPU reference executor or
 * a CUDA GPU), bind inputs, run an entry function, read outputs.
 *
 *   chitu_model *model;
 *   if (chitu_model_load("mlp.cbin", NULL, &model) != CHITU_OK)
 *     fprintf(stderr, "%s\n", chitu_last_error());
 *   chitu_session *session;
 *   chitu_session_create(model, CHITU_DEVICE_CUDA, 0, &session);
 *   int64_t dims[2] = {4, 64};
 *   chitu_session_set_input(session, 0, "x", CHITU_DTYPE_F32, dims, 2, x, sizeof x);
 *   chitu_session_run(session, 0);
 *   chitu_session_get_output(session, 0, "y", y, sizeof y);
 *   chitu_session_free(session);
 *   chitu_model_free(model);
 *
 * Every function that can fail returns a chitu_status; on failure chitu_last_error() holds a
 * message for the calling thread. Handles are opaque. No C++ exception crosses this API.
 * A model may be shared by several sessions; a session is used by one thread at a time.
 */
#ifndef CHITU_H
#define CHITU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHITU_API_VERSION 1
#define CHITU_MAX_RANK 8

typedef enum chitu_status {
  CHITU_OK = 0,
  CHITU_ERROR_INVALID_ARGUMENT = 1, /* a bad argument: unknown name, wrong dtype, NULL */
  CHITU_ERROR_IO = 2,               /* a file could not be opened or read */
  CHITU_ERROR_INVALID_ARTIFACT = 3, /* the .cbin is truncated, corrupt or inconsistent */
  CHITU_ERROR_UNSUPPORTED = 4,      /* e.g. the artifact has no code for this GPU */
  CHITU_ERROR_DEVICE = 5,           /* no usable GPU, or a CUDA driver call failed */
  CHITU_ERROR_SHAPE_MISMATCH = 6,   /* inputs disagree with the model's shapes */
  CHITU_ERROR_RUNTIME = 7,          /* a kernel reported an error (e.g. index out of range) */
  CHITU_ERROR_OUT_OF_MEMORY = 8,
  CHITU_ERROR_NOT_FOUND = 9 /* a weight file or entry that does not exist */
} chitu_status;

typedef enum chitu_dtype {
  CHITU_DTYPE_F32 = 0,
  CHITU_DTYPE_F16 = 1,
  CHITU_DTYPE_BF16 = 2,
  CHITU_DTYPE_I32 = 3,
  CHITU_DTYPE_I64 = 4,
  CHITU_DTYPE_BOOL = 5, /* one byte per element, 0 or 1 */
  CHITU_DTYPE_I8 = 6,   /* signed bytes (int8-quantized weights) */
  CHITU_DTYPE_F8E4M3 = 7 /* fp8 e4m3, no infinities (fp8-quantized weights) */
} chitu_dtype;

/* Bytes per element of a dtype (0 for an unknown value). */
static inline size_t chitu_dtype_size(chitu_dtype dtype) {
  switch (dtype) {
  case CHITU_DTYPE_F32:
  case CHITU_DTYPE_I32:
    return 4;
  case CHITU_DTYPE_F16:
  case CHITU_DTYPE_BF16:
    return 2;
  case CHITU_DTYPE_I64:
    return 8;
  case CHITU_DTYPE_BOOL:
  case CHITU_DTYPE_I8:
  case CHITU_DTYPE_F8E4M3:
    return 1;
  }
  return 0;
}

typedef enum chitu_device { CHITU_DEVICE_CPU = 0, CHITU_DEVICE_CUDA = 1 } chitu_device;

typedef struct chitu_tensor_info {
  const char *name; /* owned by the model; valid while it lives */
  chitu_dtype dtype;
  int rank;
  int64_t dims[CHITU_MAX_RANK]; /* -1 for a dynamic dimension (model info only) */
  int is_state;                 /* a state input (KV cache): set with chitu_session_set_state */
} chitu_tensor_info;

typedef struct chitu_load_options {
  /* Directory searched first for external weight files; NULL: next to the .cbin, then the
     directory they were compiled from. */
  const char *weights_dir;
} chitu_load_options;

typedef struct chitu_model chitu_model;
typedef struct chitu_session chitu_session;

const char *chitu_version(void);
const char *chitu_status_name(chitu_status status);
/* Message of the last failed call on this thread ("" if none). */
const char *chitu_last_error(void);

/* ---- models ---------------------------------------------------------------------------- */
chitu_status chitu_model_load(const char *path, const chitu_load_options *options,
                              chitu_model **model);
/* Loads from memory that must stay valid and unchanged until chitu_model_free. */
chitu_status chitu_model_load_memory(const void *data, size_t size,
                                     const chitu_load_options *options, chitu_model **model);
void chitu_model_free(chitu_model *model);

int chitu_model_num_targets(const chitu_model *model);
const char *chitu_model_target(const chitu_model *model, int index); /* e.g. "sm_90" */
int chitu_model_num_entries(const chitu_model *model);
const char *chitu_model_entry_name(const chitu_model *model, int entry);
chitu_status chitu_model_find_entry(const chitu_model *model, const char *name, int *entry);
int chitu_model_num_inputs(const chitu_model *model, int entry);
int chitu_model_num_outputs(const chitu_model *model, int entry);
chitu_status chitu_model_input_info(const chitu_model *model, int entry, int index,
                                    chitu_tensor_info *info);
chitu_status chitu_model_output_info(const chitu_model *model, int entry, int index,
                                     chitu_tensor_info *info);

/* ---- devices --------------------------------------------------------------------------- */
/* Number of CUDA GPUs; 0 when there is no driver or no GPU (chitu_last_error says which). */
int chitu_cuda_device_count(void);

/* ---- sessions -------------------------------------------------------------------------- */
/* Prepares `model` to run on a device: on CUDA this loads the kernels for the GPU's
   architecture and uploads the weights. */
chitu_status chitu_session_create(chitu_model *model, chitu_device device, int device_index,
                                  chitu_session **session);
typedef struct chitu_session_options {
  /* GPU memory the weights may take, in bytes; 0: no limit while the weights fit in the free
     memory less a margin (10% of the GPU's memory, at least 2 GiB), else that. Below the
     model's weights the
     first slices stay resident and the others are streamed from pinned host memory before
     they run (docs/slicing.md). Ignored on the CPU. */
  uint64_t gpu_memory_bytes;
  /* Regular expressions (ECMAScript, matched anywhere in a weight's name): the steps reading
     a matching weight run on the CPU, their weights left in host memory, while the others
     run on the GPU (docs/slicing.md). A pattern matching no weight, or a matched step that
     touches the KV cache, is an error. NULL / 0: none. Checked, then moot, on the CPU. */
  const char *const *cpu_weight_patterns;
  size_t num_cpu_weight_patterns;
} chitu_session_options;
/* chitu_session_create with options (NULL: the defaults). */
chitu_status chitu_session_create_with_options(chitu_model *model, chitu_device device,
                                               int device_index,
                                               const chitu_session_options *options,
                                               chitu_session **session);
void chitu_session_free(chitu_session *session);
/* Where the weights are: "all weights resident (...)", or the resident and streamed slices. */
const char *chitu_session_placement(const chitu_session *session);
/* "cpu" or the GPU's name and architecture, e.g. "NVIDIA H100 80GB HBM3 (sm_90)". */
const char *chitu_session_device_name(const chitu_session *session);

/* Copies `bytes` of row-major data; dtype and rank must match the input, and each static
   dimension its size. */
chitu_status chitu_session_set_input(chitu_session *session, int entry, const char *name,
                                     chitu_dtype dtype, const int64_t *dims, int rank,
                                     const void *data, size_t bytes);
/* Allocates the state input `name` (a KV cache) with these dims on the session's device and
   fills it with `data` (`bytes` of row-major values), or with zeros when `data` is NULL. A
   state that already has these dims is refilled in place. States persist across runs and are
   updated in place; every entry with a state of that name shares it. */
chitu_status chitu_session_set_state(chitu_session *session, const char *name, chitu_dtype dtype,
                                     const int64_t *dims, int rank, const void *data, size_t bytes);
/* Copies a state's current contents (tests, debugging). */
chitu_status chitu_session_get_state(const chitu_session *session, const char *name, void *data,
                                     size_t bytes);
/* Runs the entry on the bound inputs and states; blocks until it is done. Outputs are copied
   from the device only when asked for. */
chitu_status chitu_session_run(chitu_session *session, int entry);
/* Concrete shape of an output of the last run of `entry`. */
chitu_status chitu_session_output_info(const chitu_session *session, int entry, const char *name,
                                       chitu_tensor_info *info);
/* Copies an output of the last run into `data`, which must hold exactly its bytes. */
chitu_status chitu_session_get_output(const chitu_session *session, int entry, const char *name,
                                      void *data, size_t bytes);

/* ---- LLM generation ---------------------------------------------------------------------
 * For models compiled from a Hugging Face checkpoint. A generator owns the session's KV
 * cache and runs sequences (prompt chunks and decode tokens) together, one `forward` per
 * step. See docs/llm.md.
 *
 *   chitu_llm *llm;
 *   chitu_llm_create(session, NULL, &llm);
 *   chitu_sampling greedy = {0};                  // temperature 0: greedy
 *   greedy.top_p = 1; greedy.repetition_penalty = 1;
 *   int32_t seq;
 *   chitu_llm_add_sequence(llm, prompt, n, &greedy, 32, eos, num_eos, &seq);
 *   size_t active = 1;
 *   while (active) chitu_llm_step(llm, on_token, user, &active);
 *   chitu_llm_free(llm);
 */
typedef struct chitu_llm chitu_llm;

typedef struct chitu_llm_info {
  const char *architecture;
  uint32_t vocab_size, num_layers, kv_block_size, max_context;
  int32_t bos_token_id; /* -1: none */
  int32_t eos_token_ids[8];
  int num_eos_token_ids;
  int has_tokenizer; /* the .cbin embeds the checkpoint's tokenizer.json */
  /* generation_config.json defaults */
  float temperature, top_p, repetition_penalty;
  int32_t top_k;
  int do_sample;
} chitu_llm_info;

typedef struct chitu_sampling {
  float temperature;        /* <= 0: greedy */
  int32_t top_k;            /* 0: off */
  float top_p;              /* 1: off */
  float min_p;              /* 0: off */
  float repetition_penalty; /* 1: off */
  uint64_t seed;
} chitu_sampling;

typedef struct chitu_llm_options {
  int32_t max_sequences; /* 0: 8 */
  int64_t max_context;   /* 0: the model's maximum */
  int64_t kv_blocks;     /* 0: enough for max_sequences full contexts */
  int64_t prefill_chunk; /* 0: a whole prompt in one step */
} chitu_llm_options;

typedef void (*chitu_token_callback)(void *user, int32_t sequence, int32_t token, int finished);

chitu_status chitu_model_llm_info(const chitu_model *model, chitu_llm_info *info);
chitu_status chitu_llm_create(chitu_session *session, const chitu_llm_options *options,
                              chitu_llm **llm);
void chitu_llm_free(chitu_llm *llm);
/* Queues a prompt; generation stops at any of `stop_tokens`, after `max_new_tokens` (<= 0: up
   to the context) or when the context is full. */
chitu_status chitu_llm_add_sequence(chitu_llm *llm, const int32_t *prompt, size_t length,
                                    const chitu_sampling *sampling, int64_t max_new_tokens,
                                    const int32_t *stop_tokens, size_t num_stop_tokens,
                                    int32_t *sequence);
/* Runs one step over all active sequences; calls `callback` for every token produced and
   sets *active to the number of sequences still generating. */
chitu_status chitu_llm_step(chitu_llm *llm, chitu_token_callback callback, void *user,
                            size_t *active);
chitu_status chitu_llm_remove_sequence(chitu_llm *llm, int32_t sequence);
/* fp32 logits of every position of `tokens` ([length, vocab_size] into `logits`, which holds
   `capacity` floats), without generating. */
chitu_status chitu_llm_prompt_logits(chitu_llm *llm, const int32_t *tokens, size_t length,
                                     float *logits, size_t capacity);
/* Tokens processed so far: prompt tokens (prefill) and generated tokens (decode). */
void chitu_llm_token_counts(const chitu_llm *llm, int64_t *prompt_tokens, int64_t *decode_tokens);

/* ---- tokenizer -------------------------------------------------------------------------
 * Hugging Face tokenizer.json (BPE: byte-level as in Llama 3, Qwen2, GPT-2, and
 * SentencePiece-style with byte fallback as in Llama 2, Mistral); ids equal the Python
 * `tokenizers` library's. A tokenizer is immutable and may be shared across threads.
 */
typedef struct chitu_tokenizer chitu_tokenizer;
typedef struct chitu_text_stream chitu_text_stream;

chitu_status chitu_tokenizer_load(const char *path, chitu_tokenizer **tokenizer);
/* The tokenizer.json embedded in an LLM .cbin (CHITU_ERROR_NOT_FOUND if it has none). */
chitu_status chitu_model_tokenizer(const chitu_model *model, chitu_tokenizer **tokenizer);
void chitu_tokenizer_free(chitu_tokenizer *tokenizer);
/* One more than the largest token id. */
size_t chitu_tokenizer_vocab_size(const chitu_tokenizer *tokenizer);
/* Encodes `length` bytes of UTF-8 text. Special tokens written in the text are recognised;
   `add_special` adds the template's tokens (e.g. BOS). Sets *count to the number of ids; with
   `ids` NULL only counts, otherwise `capacity` must be at least that. */
chitu_status chitu_tokenizer_encode(const chitu_tokenizer *tokenizer, const char *text,
                                    size_t length, int add_special, int32_t *ids, size_t capacity,
                                    size_t *count);
/* Decodes ids to UTF-8. Sets *length to the text's length in bytes; with `text` NULL only
   measures, otherwise `capacity` must exceed it (the text is NUL-terminated). */
chitu_status chitu_tokenizer_decode(const chitu_tokenizer *tokenizer, const int32_t *ids,
                                    size_t count, int skip_special, char *text, size_t capacity,
                                    size_t *length);
/* Incremental decoding of generated tokens: `context` (e.g. the prompt's last ids) gives the
   first token its spacing; push returns the text a token completes ("" while a character is
   incomplete), valid until the next call on the stream. Special tokens are left out. */
chitu_status chitu_text_stream_create(const chitu_tokenizer *tokenizer, const int32_t *context,
                                      size_t count, chitu_text_stream **stream);
const char *chitu_text_stream_push(chitu_text_stream *stream, int32_t token);
void chitu_text_stream_free(chitu_text_stream *stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CHITU_H */
