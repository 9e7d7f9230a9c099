/* The C API from C: load a model, bind an input, run on the CPU, read the output.
 * Built and run by the tests on the op case add_f32 (y = a + b, a: f32[?, 37],
 * b: f32[37]); exits non-zero with a message on any failure. */
#include "chitu/chitu.h"

#include <math.h>
#include <stdio.h>

static int check(chitu_status s, const char *what) {
  if (s != CHITU_OK) {
    fprintf(stderr, "%s failed: %s: %s\n", what, chitu_status_name(s), chitu_last_error());
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s add_f32.cbin\n", argv[0]);
    return 2;
  }
  chitu_model *model = NULL;
  if (check(chitu_model_load(argv[1], NULL, &model), "load"))
    return 1;
  chitu_session *session = NULL;
  if (check(chitu_session_create(model, CHITU_DEVICE_CPU, 0, &session), "session"))
    return 1;

  enum { ROWS = 3, COLS = 37 };
  float a[ROWS * COLS], b[COLS], y[ROWS * COLS];
  for (int i = 0; i < ROWS * COLS; ++i)
    a[i] = 0.25f * (float)i - 7.0f;
  for (int j = 0; j < COLS; ++j)
    b[j] = 1.0f + (float)j;
  int64_t adims[2] = {ROWS, COLS}, bdims[1] = {COLS};
  if (check(chitu_session_set_input(session, 0, "a", CHITU_DTYPE_F32, adims, 2, a, sizeof a),
            "set a") ||
      check(chitu_session_set_input(session, 0, "b", CHITU_DTYPE_F32, bdims, 1, b, sizeof b),
            "set b") ||
      check(chitu_session_run(session, 0), "run"))
    return 1;

  chitu_tensor_info info;
  if (check(chitu_model_output_info(model, 0, 0, &info), "output info") ||
      check(chitu_session_get_output(session, 0, info.name, y, sizeof y), "get output"))
    return 1;
  for (int i = 0; i < ROWS * COLS; ++i)
    if (fabsf(y[i] - (a[i] + b[i % COLS])) > 1e-6f) {
      fprintf(stderr, "y[%d] = %g, expected %g\n", i, y[i], a[i] + b[i % COLS]);
      return 1;
    }
  /* A wrong buffer size is refused with a message, not written past. */
  if (chitu_session_get_output(session, 0, info.name, y, 4) != CHITU_ERROR_INVALID_ARGUMENT)
    return 1;
  chitu_session_free(session);
  chitu_model_free(model);
  printf("capi_example: ok (%d values)\n", ROWS * COLS);
  return 0;
}
