#!/usr/bin/env python3
"""chitu on the GPU against Hugging Face transformers in bf16 (run on the GPU machine).

    python3 test/llm/check_against_transformers.py --bin build/bin --models build/test/llm \
        [--big DIR] [--json report.json]

For every tiny model under --models (prepare_models.py) and each bf16 artifact (KV blocks of
16 and of 1 token), and for --big (a directory with config.json and a .cbin compiled from it
without weights; random bf16 weights are made here with transformers and saved beside it):

  * logits of every prompt position: cosine similarity with transformers' >= 0.9995;
  * greedy continuation of 32 tokens (no stopping), compared two ways: free-running
    (identical?) and step by step along transformers' sequence, where chitu's argmax must
    equal transformers' token except at a near tie (transformers' top two logits within
    two bf16 steps of each other: there bf16 rounding, in either implementation, decides).

transformers runs in bf16 on the same GPU with its default attention (SDPA). Two more
references put the cosine in context: transformers' fp32 logits (how far is each bf16 result
from fp32?) and transformers' own bf16 with eager attention (how far apart are two bf16
implementations inside transformers?). A model whose eager and SDPA logits already differ
by more than the 0.9995 bound (bf16 rounding noise through many random layers) passes when
chitu is at least as close to transformers' SDPA as transformers' eager path is; the report
says which bound applied. Exit status 0 when all pass, 1 otherwise, 77 (skipped) without
torch/transformers or a GPU.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

COSINE_MIN = 0.9995
GREEDY_TOKENS = 32


def chitu(bin_dir, cbin, prompt, *extra):
    cmd = [os.path.join(bin_dir, "chitu-run"), cbin, "--device", "cuda", "--quiet",
           "--tokens", ",".join(map(str, prompt)), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def make_big_weights(torch, transformers, big):
    """Random bf16 weights for the config in `big`, saved beside it (once)."""
    if glob.glob(os.path.join(big, "*.safetensors")):
        return
    config = transformers.AutoConfig.from_pretrained(big)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(big, safe_serialization=True, max_shard_size="20GB")
    del model
    torch.cuda.empty_cache()


def cosines(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def reference(torch, transformers, d, prompt):
    """transformers' bf16 prompt logits and greedy ids (with each step's top-2 margin and
    whether it is a near tie), and its fp32 prompt logits."""
    out = {}
    for key, dtype, attention in (("fp32", torch.float32, "sdpa"),
                                  ("bf16_eager", torch.bfloat16, "eager"),
                                  ("bf16", torch.bfloat16, "sdpa")):
        model = transformers.AutoModelForCausalLM.from_pretrained(
            d, dtype=dtype, attn_implementation=attention).cuda().eval()
        with torch.no_grad():
            logits = model(torch.tensor([prompt], device="cuda")).logits[0].float().cpu().numpy()
            out[key] = logits
            if key != "bf16":
                del model
                torch.cuda.empty_cache()
                continue
            if dtype == torch.bfloat16:
                tokens, margins, ties = list(prompt), [], []
                for _ in range(GREEDY_TOKENS):
                    last = model(torch.tensor([tokens], device="cuda")).logits[0, -1].float()
                    top2 = torch.topk(last, 2).values
                    # One bf16 step at the top logit's magnitude (8 significant bits).
                    step = 2.0 ** (np.floor(np.log2(max(abs(float(top2[0])), 1e-30))) - 7)
                    margins.append(float(top2[0] - top2[1]))
                    ties.append(margins[-1] <= 2 * step)
                    tokens.append(int(last.argmax()))
                out["greedy"], out["margins"], out["near_tie"] = tokens[len(prompt):], margins, ties
        del model
        torch.cuda.empty_cache()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--big", action="append", default=[])
    p.add_argument("--json")
    args = p.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"SKIPPED: {e}")
        return 77
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA GPU")
        return 77

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_golden import test_prompt

    for big in args.big:
        make_big_weights(torch, transformers, big)
    dirs = sorted(d for d in glob.glob(os.path.join(args.models, "*"))
                  if os.path.exists(os.path.join(d, "config.json"))) + args.big
    report, failures = [], 0
    for d in dirs:
        # bf16 artifacts only: quantized-weight variants are checked against bf16 in llm_test.
        cbins = sorted(c for c in glob.glob(os.path.join(d, "bf16.*.cbin"))
                       if "nofuse" not in c and not any(q in c for q in (".int8", ".fp8", ".int4")))
        if not cbins:
            continue
        name = os.path.basename(d.rstrip("/"))
        cfg = transformers.AutoConfig.from_pretrained(d)
        # The big model gets a prompt long enough to span many KV blocks.
        prompt = test_prompt(name, cfg.vocab_size, cfg.bos_token_id,
                             length=200 if d in args.big else 13)
        ref = reference(torch, transformers, d, prompt)
        full = prompt + ref["greedy"]
        for cbin in cbins:
            with tempfile.TemporaryDirectory() as tmp:
                npy = os.path.join(tmp, "logits.npy")
                chitu(args.bin, cbin, full, "--dump-logits", npy)
                got_all = np.load(npy)
            got = got_all[:len(prompt)]
            greedy = [int(x) for x in chitu(args.bin, cbin, prompt, "--greedy",
                                            str(GREEDY_TOKENS)).split()]
            # Step by step along transformers' sequence: chitu's choice at each step.
            steps = got_all[len(prompt) - 1:len(full) - 1].argmax(-1)
            disagreements = [i for i in range(GREEDY_TOKENS) if steps[i] != ref["greedy"][i]]
            unexplained = [i for i in disagreements if not ref["near_tie"][i]]
            first_diff = next((i for i, (a, b) in enumerate(zip(greedy, ref["greedy"])) if a != b),
                              None)
            cos_bf16 = cosines(got, ref["bf16"])
            floor = float(cosines(ref["bf16_eager"], ref["bf16"]).min())
            bound = COSINE_MIN if floor >= COSINE_MIN else floor
            ok = float(cos_bf16.min()) >= bound and not unexplained
            failures += not ok
            row = {"model": name, "artifact": os.path.basename(cbin), "prompt_tokens": len(prompt),
                   "min_cosine": float(cos_bf16.min()), "mean_cosine": float(cos_bf16.mean()),
                   "min_cosine_vs_fp32": float(cosines(got, ref["fp32"]).min()),
                   "transformers_bf16_min_cosine_vs_fp32": float(
                       cosines(ref["bf16"], ref["fp32"]).min()),
                   "transformers_eager_vs_sdpa_min_cosine": floor, "cosine_bound": bound,
                   "greedy_identical": greedy == ref["greedy"], "first_greedy_difference": first_diff,
                   "stepwise_disagreements": disagreements,
                   "disagreements_not_at_near_ties": unexplained, "ok": ok}
            if first_diff is not None:
                row["greedy"], row["reference_greedy"] = greedy, ref["greedy"]
                row["reference_margin_at_difference"] = ref["margins"][first_diff]
            report.append(row)
            print(("PASS " if ok else "FAIL ") + json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "transformers": transformers.__version__,
                       "gpu": torch.cuda.get_device_name(), "results": report}, f, indent=1)
    print(f"{len(report) - failures} of {len(report)} artifacts pass")
    return 1 if failures or not report else 0


if __name__ == "__main__":
    sys.exit(main())
