#!/usr/bin/env python3
"""Decode with weights streamed from host memory (docs/slicing.md), on the GPU machine.

    python3 bench/streaming_bench.py --bin build/bin --model build/bench/llama-3-8b \
        [--fractions 1,0.75,0.5,0.25] [--steps 16]

For a model directory (config.json + model.cbin, as bench/gpu_bench.py prepares them; random
bf16 weights are made beside it once), runs chitu-bench decode (batch 1, context 512) with
--gpu-memory set to each fraction of the weight bytes, and measures in the same run the
machine's pinned host-to-device copy bandwidth (torch, 1 GiB pinned buffer, median of 5).
Per fraction it prints ms/step, the bytes streamed per step, the floor of a streamed step
(streamed bytes / pinned bandwidth, or the resident step time when nothing streams) and the
achieved copy bandwidth (streamed bytes / step time) as a fraction of the measured one.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_bench import make_weights  # noqa: E402


def pinned_h2d_gbps():
    import torch
    n = 1 << 30
    host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(n, dtype=torch.uint8, device="cuda")
    times = []
    for _ in range(6):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dev.copy_(host, non_blocking=True)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    ms = sorted(times[1:])[2]
    return n / ms / 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default="build/bin")
    p.add_argument("--model", required=True, help="directory with config.json and model.cbin")
    p.add_argument("--fractions", default="1,0.75,0.5,0.25")
    p.add_argument("--steps", type=int, default=16)
    args = p.parse_args()
    make_weights(args.model)
    bandwidth = pinned_h2d_gbps()
    rows = []
    for fraction in [float(f) for f in args.fractions.split(",")]:
        cmd = [os.path.join(args.bin, "chitu-bench"), os.path.join(args.model, "model.cbin"),
               "--batch", "1", "--context", "512", "--steps", str(args.steps), "--warmup", "2",
               "--prompt-len", "0", "--json"]
        if fraction < 1:
            # The fraction of the weights, in bytes.
            sizes = json.loads(subprocess.run(
                [os.path.join(args.bin, "chitu-inspect"), cmd[1], "--json"],
                capture_output=True, text=True, check=True).stdout)["sizes"]
            total = sizes["embedded_weights"] + sizes["external_weights"]
            cmd += ["--gpu-memory", str(int(total * fraction))]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            rows.append((fraction, None, out.stderr.strip()[-300:]))
            continue
        r = json.loads(out.stdout)
        ms = r["decode"][0]["ms_per_step"]
        streamed = r.get("streamed_bytes_per_step", 0)
        rows.append((fraction, ms, streamed, r["placement"], r["weight_bytes"]))
    print(f"pinned host-to-device bandwidth: {bandwidth:.1f} GB/s")
    print("| GPU memory for weights | ms/step | tok/s | streamed per step | floor ms | copy GB/s | of pinned bandwidth | placement |")
    print("|---|---|---|---|---|---|---|---|")
    resident_ms = None
    for row in rows:
        if row[1] is None:
            print(f"| {row[0]:.0%} | failed: {row[2]} | | | | | | |")
            continue
        fraction, ms, streamed, placement, total = row
        if streamed == 0:
            resident_ms = ms
        floor = max(streamed / bandwidth / 1e6, resident_ms or 0) if streamed else ms
        gbps = streamed / ms / 1e6 if streamed else 0
        print(f"| {fraction:.0%} ({total * fraction / 2**30:.2f} GiB) | {ms:.2f} | {1000 / ms:.1f} | "
              f"{streamed / 2**30:.2f} GiB | {floor:.2f} | {gbps:.1f} | "
              f"{gbps / bandwidth:.0%} | {placement} |")


if __name__ == "__main__":
    main()
