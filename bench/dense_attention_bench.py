#!/usr/bin/env python3
"""Dense attention (chitu.attention, raised from ONNX encoders) against PyTorch's SDPA.

    # here (needs the compiler): one attention op at a BERT-base shape, bf16
    python3 bench/dense_attention_bench.py --emit build/bench/attention
    # there (the GPU machine; build/bin and build/bench carried):
    python3 bench/dense_attention_bench.py --run build/bench/attention --bin build/bin

--emit writes attention.mlir ([batch, 12, seq, 64] q, k, v and a [batch, 1, 1, seq]
padding mask, bf16) for each shape and compiles it. --run draws inputs, times chitu's
attention kernel with Nsight Compute (gpu__time_duration, clocks left free, the kernel
alone) and torch.nn.functional.scaled_dot_product_attention on the same inputs and mask
(CUDA events over 50 calls after warm-up; PyTorch picks its fastest backend), checks that
the two agree, and prints per shape the FLOPs (4 * batch * heads * seq^2 * 64), both times
and the achieved TFLOP/s.
"""
import argparse
import csv
import io
import os
import subprocess
import sys

SHAPES = [(1, 128), (8, 128), (8, 512), (32, 512)]
HEADS, DIM = 12, 64


def mlir_source(batch, seq):
    t = f"tensor<{batch}x{HEADS}x{seq}x{DIM}xbf16>"
    m = f"tensor<{batch}x1x1x{seq}xbf16>"
    return (f"func.func @main(%q: {t}, %k: {t}, %v: {t}, %mask: {m}) -> ({t} {{chitu.name = \"o\"}}) {{\n"
            f"  %o = chitu.attention %q, %k, %v, %mask scale = 0.125 : ({t}, {t}, {t}, {m}) -> {t}\n"
            f"  return %o : {t}\n}}\n")


def emit(args):
    for batch, seq in SHAPES:
        d = os.path.join(args.emit, f"b{batch}_s{seq}")
        os.makedirs(d, exist_ok=True)
        src = os.path.join(d, "attention.mlir")
        with open(src, "w") as f:
            f.write(mlir_source(batch, seq))
        subprocess.run([os.path.join(args.bin, "chitu-compile"), src, "-o",
                        os.path.join(d, "attention.cbin"), "--quiet"], check=True)
    print(f"compiled {len(SHAPES)} shapes into {args.emit}")


def run(args):
    import numpy as np
    import torch
    import torch.nn.functional as F
    rows = []
    for batch, seq in SHAPES:
        d = os.path.join(args.run, f"b{batch}_s{seq}")
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(batch, HEADS, seq, DIM, device="cuda", generator=g,
                               dtype=torch.float32).to(torch.bfloat16) for _ in range(3))
        mask = torch.zeros(batch, 1, 1, seq, device="cuda", dtype=torch.bfloat16)
        mask[1::2, :, :, seq - seq // 8:] = -10000.0  # padding on every other sequence
        for name, t in (("q", q), ("k", k), ("v", v), ("mask", mask)):
            np.save(os.path.join(d, f"{name}.npy"), t.float().cpu().numpy())
        cmd = ["ncu", "--clock-control", "none", "--metrics", "gpu__time_duration.sum", "--csv",
               "-k", "regex:chitu", os.path.join(args.bin, "chitu-run"),
               os.path.join(d, "attention.cbin"), "--device", "cuda", "--quiet",
               "--output", "o=" + os.path.join(d, "o.npy")]
        cmd += [a for n in ("q", "k", "v", "mask")
                for a in ("--input", f"{n}={os.path.join(d, n + '.npy')}")]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stdout[-2000:] + out.stderr[-2000:])
        lines = out.stdout[out.stdout.index('"ID"'):]
        ns = sum(float(r["Metric Value"].replace(",", "")) for r in csv.DictReader(io.StringIO(lines))
                 if r["Metric Name"] == "gpu__time_duration.sum")
        ours = torch.from_numpy(np.load(os.path.join(d, "o.npy"))).cuda()
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.125)
        err = ((ours - ref.float()).abs().max() / ref.float().abs().max()).item()
        for _ in range(10):
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.125)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.125)
        end.record()
        torch.cuda.synchronize()
        torch_ms = start.elapsed_time(end) / 50
        flops = 4 * batch * HEADS * seq * seq * DIM
        rows.append((batch, seq, flops, ns / 1e6, torch_ms, err))
    print(f"device: {torch.cuda.get_device_name()}")
    print("| batch | seq | GFLOP | chitu ms | chitu TFLOP/s | SDPA ms | SDPA TFLOP/s | chitu/SDPA time | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for b, s, f, ms, tms, err in rows:
        print(f"| {b} | {s} | {f / 1e9:.2f} | {ms:.3f} | {f / ms / 1e9:.1f} | {tms:.3f} | "
              f"{f / tms / 1e9:.1f} | {ms / tms:.2f} | {err:.1e} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emit", help="write and compile the attention models into this directory")
    p.add_argument("--run", help="run the compiled models in this directory on the GPU")
    p.add_argument("--bin", default="build/bin", help="chitu binaries (default: build/bin)")
    args = p.parse_args()
    if bool(args.emit) == bool(args.run):
        p.error("give one of --emit or --run")
    emit(args) if args.emit else run(args)


if __name__ == "__main__":
    main()
