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
  CHITU_DTYPE_I64 = 4
} chitu_dtype;

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
void chitu_session_free(chitu_session *session);
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
                                     const int64_t *dims, int rank, const void *data,
                                     size_t bytes);
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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CHITU_H */
