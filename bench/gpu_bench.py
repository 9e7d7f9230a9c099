#!/usr/bin/env python3
"""chitu against the PyTorch anchor on the GPU machine, in one run, one table.

    # here (needs the compiler): compile each shape from its config, without weights
    for m in llama-3.2-1b llama-3-8b; do
      mkdir -p build/bench/$m && cp test/llm/configs/$m/config.json build/bench/$m/
      build/bin/chitu-compile test/llm/configs/$m -o build/bench/$m/model.cbin --quiet
    done
    # there (the GPU machine; build/bin, build/bench and the anchor carried):
    python3 bench/gpu_bench.py --bin build/bin --models build/bench --anchor torch_decode_anchor.py

For each model directory (config.json + model.cbin compiled from it) it makes random bf16
weights with transformers beside the .cbin (once; speed does not depend on values), runs
chitu-bench (decode at each --batch, context 512, 128 steps; prefill of 2,048 tokens) and the
anchor (torch.compile + CUDA graphs, static cache; eager prefill) for the same shape, and
prints one table: ours, anchor, ratio, and the fraction of the measured ceilings (weight
bytes / GEMV read bandwidth for decode, FLOPs / bf16 GEMM rate for prefill). --json writes
every figure. The runtime is not rebuilt there: the GPU machine lacks the FlatBuffers headers
the build needs, and the binaries built here run there unchanged.
"""
import argparse
import glob
import json
import os
import subprocess
import sys


def run_json_lines(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def make_weights(d):
    """Random bf16 weights for d/config.json, beside it (once; speed does not depend on values)."""
    import torch
    import transformers
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "llm"))
    from check_against_transformers import make_big_weights
    make_big_weights(torch, transformers, d)


def prefill_flops(config, tokens):
    """FLOPs of a causal prefill of `tokens` tokens: the decoder's products for every token,
    the lm-head for the last one, and QK^T and PV over the causal triangle."""
    h, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or h // heads
    per_layer = h * heads * head_dim * 2 + 2 * h * kv_heads * head_dim + 3 * h * inter
    attention = layers * 2 * 2 * heads * head_dim * tokens * (tokens + 1) // 2
    return 2 * tokens * layers * per_layer + 2 * h * config["vocab_size"] + attention


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--anchor", required=True, help="path of torch_decode_anchor.py")
    p.add_argument("--batch", default="1,16")
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--prompt-len", type=int, default=2048)
    p.add_argument("--profile", action="store_true", help="print chitu-bench's kernel profile")
    p.add_argument("--json")
    args = p.parse_args()
    batches = [int(b) for b in args.batch.split(",")]
    report = {"models": {}}
    ceilings = {}
    for d in sorted(glob.glob(os.path.join(args.models, "*"))):
        cbin = os.path.join(d, "model.cbin")
        if not os.path.exists(cbin):
            continue
        name = os.path.basename(d)
        make_weights(d)
        bench = [os.path.join(args.bin, "chitu-bench"), cbin, "--batch", args.batch,
                 "--context", str(args.context), "--steps", str(args.steps),
                 "--prompt-len", str(args.prompt_len), "--json"]
        ours = json.loads(run_json_lines(bench))
        if args.profile:
            print(run_json_lines(bench[:-1] + ["--profile"]), flush=True)
        anchor = {}
        lines = run_json_lines([sys.executable, args.anchor, "--config", os.path.join(d, "config.json"),
                                "--batch", *map(str, batches), "--ctx", str(args.context),
                                "--steps", str(args.steps), "--prefill", str(args.prompt_len)])
        for line in lines.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                if rec["what"].startswith("roofline"):
                    ceilings[rec["what"]] = rec.get("GBps", rec.get("TFLOPs"))
                elif rec["what"] == "decode_compiled":
                    anchor[rec["batch"]] = rec
                elif rec["what"] == "prefill_eager":
                    anchor["prefill"] = rec
        report["models"][name] = {"chitu": ours, "anchor": anchor}
    report["ceilings"] = ceilings
    gemv = ceilings.get("roofline_gemv_read", 0) or 1
    print(f"\n{'model':<14} {'workload':<16} {'chitu':>10} {'anchor':>10} {'ratio':>7} {'of ceiling':>11}")
    for name, r in report["models"].items():
        ours, anchor = r["chitu"], r["anchor"]
        wbytes = ours["weight_bytes"]
        for d in ours["decode"]:
            a = anchor.get(d["batch"], {}).get("ms_per_step")
            floor_ms = wbytes / (gemv * 1e6)
            ms = d["ms_per_step"]
            a_text = "%.3fms" % a if a else "-"
            ratio = "%.2fx" % (a / ms) if a and ms else "-"
            work = "decode b%d" % d["batch"]
            print(f"{name:<14} {work:<16} {ms:>8.3f}ms {a_text:>10} {ratio:>7} "
                  f"{100 * floor_ms / ms if ms else 0:>10.1f}%")
        pf = ours["prefill"]
        a = anchor.get("prefill", {}).get("ms")
        a_text = "%.2fms" % a if a else "-"
        ratio = "%.2fx" % (a / pf["ms"]) if a and pf["ms"] else "-"
        work = "prefill %d" % pf["tokens"]
        with open(os.path.join(args.models, name, "config.json")) as f:
            flops = prefill_flops(json.load(f), pf["tokens"])
        gemm = ceilings.get("roofline_gemm_bf16", 0)
        of_gemm = 100 * flops / (gemm * 1e12) / (pf["ms"] / 1e3) if gemm and pf["ms"] else 0
        print(f"{name:<14} {work:<16} {pf['ms']:>8.2f}ms {a_text:>10} {ratio:>7} {of_gemm:>10.1f}%")
    print(f"ceilings: {ceilings}; 'of ceiling' = weight bytes / GEMV read bandwidth / step time "
          "(decode), FLOPs / bf16 GEMM rate / time (prefill)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
