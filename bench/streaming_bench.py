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

With --cpu, the same fractions with CPU placement instead (--place): the MLP weights of the
last layers run on the CPU, as many layers as it takes to bring the GPU's weights under the
fraction; where all MLPs on the CPU are not enough, the rest streams (--gpu-memory as well).
It measures in the same run the CPU's memory read bandwidth (bench/cpu_read_bandwidth.c:
every core summing a 4 GiB buffer, best of 5) and torch's own CPU bf16 matrix-vector product of the
MLP's shape, and prints per fraction the CPU's weight bytes per step, the floor (CPU bytes
/ CPU bandwidth, or the streamed bytes' copy time where longer: they overlap) and the CPU
bytes per step time as a fraction of the CPU bandwidth.
"""
import argparse
import json
import os
import re
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


def cpu_read_gbps():
    """bench/cpu_read_bandwidth.c, built here: every core summing a 4 GiB buffer."""
    here = os.path.dirname(os.path.abspath(__file__))
    exe = os.path.join("/tmp", "chitu_cpu_read_bandwidth")
    subprocess.run(["cc", "-O3", "-march=native", "-fopenmp",
                    os.path.join(here, "cpu_read_bandwidth.c"), "-o", exe], check=True)
    return float(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)


def torch_cpu_gemv_gbps(hidden, intermediate):
    import time
    import torch
    w = torch.randn(intermediate, hidden, dtype=torch.bfloat16)
    x = torch.randn(1, hidden, dtype=torch.bfloat16)
    times = []
    for _ in range(6):
        start = time.perf_counter()
        torch.nn.functional.linear(x, w)
        times.append(time.perf_counter() - start)
    return w.numel() * 2 / sorted(times[1:])[2] / 1e9


def inspect(bin_dir, cbin):
    return json.loads(subprocess.run([os.path.join(bin_dir, "chitu-inspect"), cbin, "--json"],
                                     capture_output=True, text=True, check=True).stdout)


def cpu_placement(info, fraction):
    """The --place pattern putting the MLPs of the last layers on the CPU so that the GPU's
    weights fit `fraction` of all, the CPU's bytes, and the GPU memory still to give."""
    weights = info["weights"]
    total = sum(w["bytes"] for w in weights)
    layer_of = lambda w: re.search(r"layers\.(\d+)\.mlp\.", w["name"])
    layers = sorted({int(m.group(1)) for w in weights if (m := layer_of(w))})
    chosen = []
    for layer in reversed(layers):
        on_cpu = sum(w["bytes"] for w in weights
                     if (m := layer_of(w)) and int(m.group(1)) in chosen)
        if total - on_cpu <= total * fraction:
            break
        chosen.append(layer)
    on_cpu = sum(w["bytes"] for w in weights if (m := layer_of(w)) and int(m.group(1)) in chosen)
    pattern = r"layers\.(" + "|".join(str(l) for l in sorted(chosen)) + r")\.mlp\."
    budget = int(total * fraction) if total - on_cpu > total * fraction else 0
    return pattern, on_cpu, budget, total


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default="build/bin")
    p.add_argument("--model", required=True, help="directory with config.json and model.cbin")
    p.add_argument("--fractions", default="1,0.75,0.5,0.25")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--cpu", action="store_true", help="CPU placement instead of streaming")
    args = p.parse_args()
    make_weights(args.model)
    bandwidth = pinned_h2d_gbps()
    if args.cpu:
        return cpu_rows(args, bandwidth)
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


def cpu_rows(args, pinned):
    cbin = os.path.join(args.model, "model.cbin")
    info = inspect(args.bin, cbin)
    config = json.load(open(os.path.join(args.model, "config.json")))
    cpu_bw = cpu_read_gbps()
    torch_gemv = torch_cpu_gemv_gbps(config["hidden_size"], config["intermediate_size"])
    print(f"CPU: {os.cpu_count()} threads, memory read {cpu_bw:.1f} GB/s; torch CPU "
          f"bf16 GEMV {config['intermediate_size']}x{config['hidden_size']}: {torch_gemv:.1f} GB/s; "
          f"pinned host-to-device {pinned:.1f} GB/s")
    print("| GPU memory for weights | ms/step | tok/s | on the CPU per step | streamed per step | "
          "floor ms | CPU GB/s | of CPU bandwidth | placement |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fraction in [float(f) for f in args.fractions.split(",")]:
        cmd = [os.path.join(args.bin, "chitu-bench"), cbin, "--batch", "1", "--context", "512",
               "--steps", str(args.steps), "--warmup", "2", "--prompt-len", "0", "--json"]
        on_cpu, total = 0, None
        if fraction < 1:
            pattern, on_cpu, budget, total = cpu_placement(info, fraction)
            cmd += ["--place", pattern + "=cpu"]
            if budget:
                cmd += ["--gpu-memory", str(budget)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"| {fraction:.0%} | failed: {out.stderr.strip()[-300:]} | | | | | | | |")
            continue
        r = json.loads(out.stdout)
        ms = r["decode"][0]["ms_per_step"]
        streamed = r.get("streamed_bytes_per_step", 0)
        # The CPU's reads and the streamed copies overlap (the copy stream runs beside).
        floor = max(on_cpu / cpu_bw / 1e6, streamed / pinned / 1e6)
        gbps = on_cpu / ms / 1e6
        print(f"| {fraction:.0%} | {ms:.2f} | {1000 / ms:.1f} | {on_cpu / 2**30:.2f} GiB | "
              f"{streamed / 2**30:.2f} GiB | {floor:.2f} | {gbps:.1f} | {gbps / cpu_bw:.0%} | "
              f"{r['placement']} |")


if __name__ == "__main__":
    main()
