#!/usr/bin/env python3
"""chitu-run's generation mode end to end on the bundled model (models/tiny-llama): the
streamed text starts with the prompt and equals the tokenizer's decode of the generated ids,
the speed lines are printed, --greedy/--dump-logits/--stop/--seed/--place behave as
documented.

    python3 test/llm/test_cli.py --bin build/bin --work build/test/cli [--device cuda]
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = "The compiler"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout, r.stderr


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cbin", help="use this compiled model instead of compiling (GPU machine)")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    tool = lambda name: os.path.join(args.bin, name)  # noqa: E731
    model_dir = os.path.join(ROOT, "models", "tiny-llama")
    cbin = args.cbin or os.path.join(args.work, "tiny-llama.cbin")
    if not args.cbin:
        run([tool("chitu-compile"), model_dir, "-o", cbin, "--quiet", "--target", "sm_80,sm_90"])
    gen = [tool("chitu-run"), cbin, "--device", args.device, "--weights", model_dir,
           "--prompt", PROMPT]
    tokenizer = os.path.join(ROOT, "models", "tiny-llama", "tokenizer.json")
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    # Sampling (generation_config.json's defaults) with a seed: reproducible, prompt first.
    out1, err1 = run(gen + ["--max-tokens", "24", "--seed", "3"])
    out2, _ = run(gen + ["--max-tokens", "24", "--seed", "3"])
    check(out1 == out2, "the same seed gives the same text")
    check(out1.startswith(PROMPT), "the output starts with the prompt")
    check(re.search(r"^prefill: \d+ tokens in [\d.]+ ms, [\d.]+ tok/s$", err1, re.M),
          "a prefill speed line")
    check(re.search(r"^decode: \d+ tokens in [\d.]+ ms, [\d.]+ tok/s$", err1, re.M),
          "a decode speed line")

    # Greedy: the streamed text is the decode of the greedy ids.
    ids_out, _ = run(gen + ["--greedy", "20"])
    ids = ids_out.split()
    check(len(ids) == 20 and all(i.isdigit() for i in ids), "--greedy 20 prints 20 ids")
    text, _ = run(gen + ["--temperature", "0", "--max-tokens", "20", "--ignore-eos"])
    decoded, _ = run([tool("chitu-tokenize"), "--tokenizer", tokenizer, "--decode",
                      ",".join(ids), "--skip-special"])
    check(text == PROMPT + decoded, f"streamed text {text!r} == prompt + decode {decoded!r}")

    # --stop: the text ends just before the stop string's first occurrence.
    continuation = text[len(PROMPT):].rstrip("\n")
    if len(continuation) >= 6:
        stop = continuation[3:6]
        stopped, _ = run(gen + ["--temperature", "0", "--max-tokens", "20", "--ignore-eos",
                                "--stop", stop])
        want = PROMPT + continuation[:continuation.index(stop)] + "\n"
        check(stopped == want, f"--stop {stop!r}: {stopped!r} == {want!r}")

    # --dump-logits: [T, vocab] float32, whose last row's argmax is the first greedy id.
    npy = os.path.join(args.work, "logits.npy")
    run(gen + ["--dump-logits", npy])
    logits = np.load(npy)
    check(logits.dtype == np.float32 and logits.ndim == 2 and logits.shape[1] == 1024,
          f"logits shape {logits.shape}")
    check(int(logits[-1].argmax()) == int(ids[0]), "the last prompt row's argmax is greedy id 0")

    # --place: the MLP steps on the CPU give the same greedy ids (on the CPU the rules are
    # only checked), the logits to rounding on the GPU; bad rules are clear errors.
    placed = gen + ["--place", "mlp=cpu"]
    placed_ids, placed_err = run(placed + ["--greedy", "20"])
    if args.device == "cpu":
        check(placed_ids.split() == ids, "--place mlp=cpu keeps the greedy ids")
    else:
        check("steps on the CPU" in placed_err, f"the placement line: {placed_err!r}")
        placed_npy = os.path.join(args.work, "placed-logits.npy")
        run(placed + ["--dump-logits", placed_npy])
        a, b = np.load(placed_npy).astype(np.float64), logits.astype(np.float64)
        cosine = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
        check(cosine.min() >= 0.9999, f"--place mlp=cpu logits cosine {cosine.min()}")
    for rule, words in [("mlp", "is not PATTERN=cpu"), ("mlp=gpu", "unknown target 'gpu'"),
                        ("no_such_weight=cpu", "matches no weight of the model"),
                        ("(=cpu", "is not a regular expression")]:
        r = subprocess.run(gen + ["--place", rule, "--max-tokens", "1"], capture_output=True,
                           text=True)
        check(r.returncode != 0 and words in r.stderr, f"--place {rule!r}: {r.stderr!r}")

    for f in failures:
        print("FAIL:", f)
    print(f"{'FAILED' if failures else 'passed'}: chitu-run generation on {args.device}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
