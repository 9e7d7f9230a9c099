/* Generation through the C API (docs/llm.md quotes this file).
 *
 *   capi_llm_example MODEL.cbin cpu|cuda "PROMPT TEXT" MAX_TOKENS     (model with a tokenizer)
 *   capi_llm_example MODEL.cbin cpu|cuda 1,27,468 MAX_TOKENS          (token ids)
 *
 * Streams the generated text (or ids) to stdout as tokens arrive; greedy; stops at the
 * model's EOS ids or after MAX_TOKENS.
 */
#include <chitu/chitu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != CHITU_OK) {                                                                      \
      fprintf(stderr, "%s: %s\n", #call, chitu_last_error());                                      \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

typedef struct {
  chitu_text_stream *text; /* NULL: print ids */
  int printed;
} Printer;

static void on_token(void *user, int32_t sequence, int32_t token, int finished) {
  Printer *p = (Printer *)user;
  (void)sequence;
  (void)finished;
  if (p->text)
    fputs(chitu_text_stream_push(p->text, token), stdout);
  else
    printf(p->printed++ ? " %d" : "%d", token);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s MODEL.cbin cpu|cuda PROMPT MAX_TOKENS\n", argv[0]);
    return 2;
  }
  chitu_model *model;
  CHECK(chitu_model_load(argv[1], NULL, &model));
  chitu_llm_info info;
  CHECK(chitu_model_llm_info(model, &info));
  chitu_session *session;
  CHECK(chitu_session_create(
      model, strcmp(argv[2], "cuda") == 0 ? CHITU_DEVICE_CUDA : CHITU_DEVICE_CPU, 0, &session));

  /* The prompt: token ids when it looks like "1,2,3", else text for the model's tokenizer. */
  int32_t prompt[4096];
  size_t length = 0;
  chitu_tokenizer *tokenizer = NULL;
  if (strspn(argv[3], "0123456789,") == strlen(argv[3])) {
    for (char *s = argv[3]; *s && length < 4096; s += strspn(s, ","))
      prompt[length++] = (int32_t)strtol(s, &s, 10);
  } else {
    CHECK(chitu_model_tokenizer(model, &tokenizer));
    CHECK(chitu_tokenizer_encode(tokenizer, argv[3], strlen(argv[3]), 1, prompt, 4096, &length));
  }

  chitu_llm_options options = {0};
  options.max_sequences = 1;
  options.max_context = 2048;
  chitu_llm *llm;
  CHECK(chitu_llm_create(session, &options, &llm));
  chitu_sampling greedy = {0};
  greedy.top_p = 1.0f;
  greedy.repetition_penalty = 1.0f;
  CHECK(chitu_llm_add_sequence(llm, prompt, length, &greedy, atoi(argv[4]), info.eos_token_ids,
                               (size_t)info.num_eos_token_ids, NULL));

  Printer printer = {NULL, 0};
  if (tokenizer)
    CHECK(chitu_text_stream_create(tokenizer, prompt, length, &printer.text));
  size_t active = 1;
  while (active)
    CHECK(chitu_llm_step(llm, on_token, &printer, &active));
  printf("\n");

  chitu_text_stream_free(printer.text);
  chitu_tokenizer_free(tokenizer);
  chitu_llm_free(llm);
  chitu_session_free(session);
  chitu_model_free(model);
  return 0;
}
