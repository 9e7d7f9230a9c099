#!/usr/bin/env python3
"""Compares the logits and greedy tokens of one model compiled with different weight formats.

Runs `chitu-run --dump-logits --greedy N` for each `.cbin` on the same random prompt and the
same checkpoint, then prints, for every format against the reference (the first `--cbin`):
the minimum and mean cosine of the prompt's logit rows, how many rows agree on the argmax,
and how many greedy tokens agree before the first difference.

    python3 bench/weight_format_accuracy.py --bin build/bin --weights build/bench/llama-3-8b \\
        --cbin bf16=build/bench/llama-3-8b/model.cbin \\
        --cbin int8=build/bench/llama-3-8b-int8/model.cbin --device cuda

The weights directory must hold a checkpoint every `.cbin` accepts (config-only `.cbin`s
quantize it at load). Needs numpy.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def run(args, name, cbin, prompt, work):
    logits = os.path.join(work, f"{name}.npy")
    cmd = [os.path.join(args.bin, "chitu-run"), cbin, "--device", args.device, "--tokens",
           ",".join(map(str, prompt)), "--dump-logits", logits, "--greedy", str(args.greedy)]
    if args.weights:
        cmd += ["--weights", args.weights]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    ids = [int(x) for x in r.stdout.split()[-args.greedy:]]
    return np.load(logits).astype(np.float64), ids


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True, help="directory of chitu-run")
    p.add_argument("--cbin", action="append", required=True,
                   help="NAME=PATH, the first is the reference (repeat)")
    p.add_argument("--weights", help="checkpoint directory for config-only .cbin files")
    p.add_argument("--device", default="cuda")
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--greedy", type=int, default=64)
    p.add_argument("--vocab", type=int, default=32000, help="prompt ids are drawn below this")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    prompt = np.random.default_rng(args.seed).integers(1, args.vocab, args.prompt_len).tolist()
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for item in args.cbin:
            name, _, path = item.partition("=")
            results[name] = run(args, name, path, prompt, work)
    names = list(results)
    ref_logits, ref_ids = results[names[0]]
    print(f"reference {names[0]}; prompt of {args.prompt_len} tokens, {args.greedy} greedy")
    print("format    min cos   mean cos  argmax equal  greedy equal")
    for name in names[1:]:
        logits, ids = results[name]
        cos = (logits * ref_logits).sum(1) / (np.linalg.norm(logits, axis=1) *
                                              np.linalg.norm(ref_logits, axis=1))
        argmax = int((logits.argmax(1) == ref_logits.argmax(1)).sum())
        agree = 0
        while agree < min(len(ids), len(ref_ids)) and ids[agree] == ref_ids[agree]:
            agree += 1
        print(f"{name:8s} {cos.min():8.5f} {cos.mean():9.5f} {argmax:6d}/{len(cos):<6d}"
              f"{agree:6d}/{args.greedy}")


if __name__ == "__main__":
    main()
