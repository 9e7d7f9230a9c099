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
# per row), VARIANT.int4 and VARIANT.int4_asym with --weight-dtype int4 / int4_asym in groups
# of 32 (the tiny models' widths are multiples of 32 at best).
VARIANTS = [("fp32", 16), ("bf16", 16), ("bf16", 1), ("fp32", 16, "nofuse"), ("bf16", 16, "nofuse"),
            ("bf16", 16, "int8"), ("bf16", 16, "fp8"), ("bf16", 16, "int4"),
            ("bf16", 16, "int4_asym")]
WEIGHT_DTYPES = {"int8", "fp8", "int4", "int4_asym"}
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
                  [arg for f in flags if f in WEIGHT_DTYPES for arg in ["--weight-dtype", f]] + \
                  ["--group-size", "32"] * any(f.startswith("int4") for f in flags)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
            print(cbin, flush=True)


if __name__ == "__main__":
    main()
