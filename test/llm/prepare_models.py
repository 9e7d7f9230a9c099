#!/usr/bin/env python3
"""Makes the tiny test checkpoints and compiles the artifacts the LLM tests use.

    python3 test/llm/prepare_models.py --compiler build/bin/chitu-compile --out build/test/llm

OUT/NAME/ holds each checkpoint of make_tiny_models.py and, next to its weights, the
artifacts VARIANT.cbin for the variants below (PRECISION.bBLOCK: the artifact's float type
and the KV cache block size). The .cbin files reference the safetensors beside them, so the
directory can be copied to another machine as a whole (the GPU runs do).
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_tiny_models  # noqa: E402

# fp32 artifacts are checked against transformers' fp32 logits (CPU and GPU); bf16 ones on the
# GPU against transformers in bf16, with paged KV blocks of 16 and of 1 token.
# VARIANT.nofuse artifacts are compiled with --no-fusion, to check that fusion changes no bits;
# VARIANT.int8 and VARIANT.fp8 with --weight-dtype int8 / fp8 (linear layers' weights quantized
# per row).
VARIANTS = [("fp32", 16), ("bf16", 16), ("bf16", 1), ("fp32", 16, "nofuse"), ("bf16", 16, "nofuse"),
            ("bf16", 16, "int8"), ("bf16", 16, "fp8")]
EXTRA = {"llama": [("fp32", 1), ("fp32", 5)]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--compiler", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--only", action="append")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or make_tiny_models.MODELS:
        d = make_tiny_models.write_model(name, args.out)
        for precision, block, *flags in VARIANTS + EXTRA.get(name, []):
            suffix = "".join("." + f for f in flags)
            cbin = os.path.join(d, f"{precision}.b{block}{suffix}.cbin")
            cmd = [args.compiler, d, "-o", cbin, "--precision", precision,
                   "--kv-block-size", str(block)] + ["--no-fusion"] * ("nofuse" in flags) + \
                  ["--weight-dtype", "int8"] * ("int8" in flags) + \
                  ["--weight-dtype", "fp8"] * ("fp8" in flags)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
            print(cbin, flush=True)


if __name__ == "__main__":
    main()
