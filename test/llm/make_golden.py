#!/usr/bin/env python3
"""Golden LLM outputs from Hugging Face transformers (PyTorch, fp32, on the CPU).

    python3 test/llm/make_tiny_models.py /tmp/tiny
    python3 test/llm/make_golden.py --models /tmp/tiny --out test/llm/golden

For each tiny model (make_tiny_models.py, deterministic) it writes NAME.logits.npy, the fp32
logits of every position of the model's test prompt ([T, vocab]), and llm_cases.json with the
prompts and the greedy continuation of GREEDY_TOKENS tokens (argmax, no stopping).
test/unit/llm_test.cpp checks chitu's CPU executor against these. Run it wherever PyTorch and
transformers are installed (the GPU machine has both; no GPU is used) and commit the outputs
(about 150 KiB).
"""
import argparse
import json
import os

import numpy as np

PROMPT_LENGTH = 13
GREEDY_TOKENS = 16


def test_prompt(name, vocab_size, bos, length=PROMPT_LENGTH):
    """The test prompt of a model: BOS, then ids from a fixed stream."""
    seed = sum(ord(c) for c in name)
    rng = np.random.RandomState(seed)
    return [bos] + [int(x) for x in rng.randint(3, vocab_size, size=length - 1)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", required=True, help="directory made by make_tiny_models.py")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    cases = {"transformers": transformers.__version__, "torch": torch.__version__,
             "greedy_tokens": GREEDY_TOKENS, "models": {}}
    for name in sorted(os.listdir(args.models)):
        d = os.path.join(args.models, name)
        if not os.path.exists(os.path.join(d, "config.json")):
            continue
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        cfg = model.config
        prompt = test_prompt(name, cfg.vocab_size, cfg.bos_token_id)
        with torch.no_grad():
            ids = torch.tensor([prompt])
            logits = model(ids).logits[0].float().numpy()
            tokens = list(prompt)
            for _ in range(GREEDY_TOKENS):
                nxt = model(torch.tensor([tokens])).logits[0, -1]
                tokens.append(int(nxt.argmax()))
        np.save(os.path.join(args.out, name + ".logits.npy"), logits.astype(np.float32))
        top2 = np.sort(logits, axis=-1)[:, -2:]
        cases["models"][name] = {"prompt": prompt, "greedy": tokens[len(prompt):],
                                 "min_top2_margin": float((top2[:, 1] - top2[:, 0]).min())}
        print(name, "prompt", len(prompt), "greedy", tokens[len(prompt):])
    with open(os.path.join(args.out, "llm_cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
