#!/usr/bin/env python3
"""chitu on the GPU against Hugging Face transformers in bf16 (run on the GPU machine).

    python3 test/llm/check_against_transformers.py --bin build/bin --models build/test/llm \
        [--big DIR] [--json report.json]

For every tiny model under --models (prepare_models.py) and each bf16 artifact (KV blocks of
16 and of 1 token), and for --big (a directory with config.json and a .cbin compiled from it
without weights; random bf16 weights are made here with transformers and saved beside it):

  * logits of every prompt position: cosine similarity with transformers' >= 0.9995;
  * greedy continuation of 32 tokens (no stopping): identical to transformers'.

transformers runs in bf16 on the same GPU, eager attention. Exit status 0 when all pass,
1 otherwise, 77 (skipped) without torch/transformers or a GPU.
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
        model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    model.save_pretrained(big, safe_serialization=True)


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
        cbins = sorted(glob.glob(os.path.join(d, "bf16.*.cbin")))
        if not cbins:
            continue
        name = os.path.basename(d.rstrip("/"))
        model = transformers.AutoModelForCausalLM.from_pretrained(
            d, torch_dtype=torch.bfloat16, attn_implementation="eager").cuda().eval()
        cfg = model.config
        # The big model gets a prompt long enough to span many KV blocks.
        prompt = test_prompt(name, cfg.vocab_size, cfg.bos_token_id,
                             length=200 if d in args.big else 13)
        with torch.no_grad():
            ref_logits = model(torch.tensor([prompt], device="cuda")).logits[0].float().cpu().numpy()
            tokens = list(prompt)
            margins = []
            for _ in range(GREEDY_TOKENS):
                last = model(torch.tensor([tokens], device="cuda")).logits[0, -1].float()
                top2 = torch.topk(last, 2).values
                margins.append(float(top2[0] - top2[1]))
                tokens.append(int(last.argmax()))
        ref_greedy = tokens[len(prompt):]
        del model
        torch.cuda.empty_cache()
        for cbin in cbins:
            with tempfile.TemporaryDirectory() as tmp:
                npy = os.path.join(tmp, "logits.npy")
                chitu(args.bin, cbin, prompt, "--dump-logits", npy)
                got = np.load(npy)
            greedy = [int(x) for x in chitu(args.bin, cbin, prompt, "--greedy",
                                            str(GREEDY_TOKENS)).split()]
            cos = (got * ref_logits).sum(-1) / (np.linalg.norm(got, axis=-1) *
                                                np.linalg.norm(ref_logits, axis=-1))
            first_diff = next((i for i, (a, b) in enumerate(zip(greedy, ref_greedy)) if a != b),
                              None)
            ok = float(cos.min()) >= COSINE_MIN and greedy == ref_greedy
            failures += not ok
            row = {"model": name, "artifact": os.path.basename(cbin), "prompt_tokens": len(prompt),
                   "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
                   "max_abs_diff": float(np.abs(got - ref_logits).max()),
                   "greedy_identical": greedy == ref_greedy, "first_greedy_difference": first_diff,
                   "min_reference_top2_margin": min(margins), "ok": ok}
            if first_diff is not None:
                row["greedy"], row["reference_greedy"] = greedy, ref_greedy
                row["margin_at_difference"] = margins[first_diff]
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
