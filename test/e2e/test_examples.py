#!/usr/bin/env python3
"""End to end: compile each example with chitu-compile, run it with chitu-run on the CPU,
and compare with the same computation in numpy.

    python3 test/e2e/test_examples.py --bin build/bin --work /tmp/e2e

Bounds (norm-wise relative error): f32 <= 1e-5; bf16 <= 2e-2 against numpy in f32 on the
same bf16-rounded inputs and weights (chitu rounds every stored tensor to bf16).
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, EXAMPLES)
from make_weights import to_bf16_bits  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.float32)
        out[name] = arr.reshape(info["shape"]).astype(np.float32)
    return out


def bf16(a):
    """Rounds float32 values to bf16 precision (kept as float32)."""
    return (to_bf16_bits(a).astype(np.uint32) << 16).view(np.float32)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def rms_norm(x, g, eps=1e-5):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def layer_norm(x, g, b, eps=1e-5):
    m = x.mean(axis=-1, keepdims=True)
    v = ((x - m) ** 2).mean(axis=-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def mlp_ref(x, w, round_=lambda a: a):
    h = round_(x @ w["up.weight"].T)
    hb = round_(h + w["up.bias"])
    a = round_(gelu_tanh(hb))
    d = round_(a @ w["down.weight"].T)
    r = round_(d + x)
    return round_(rms_norm(r, w["norm.weight"]))


def attention_ref(x, mask, w):
    n = x.shape[0]
    heads = lambda t: t.reshape(n, 4, 16).transpose(1, 0, 2)
    q, k, v = (heads(x @ w[f"{p}.weight"].T) for p in "qkv")
    s = q @ k.transpose(0, 2, 1) * 0.25 + mask
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    ctx = (p @ v).transpose(1, 0, 2).reshape(n, 64)
    return layer_norm(ctx @ w["o.weight"].T + x, w["norm.weight"], w["norm.bias"])


def rel_err(out, ref):
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))


class Runner:
    def __init__(self, bindir, work):
        self.bin = bindir
        self.work = work
        self.failures = 0

    def tool(self, name, *args, check=True):
        r = subprocess.run([os.path.join(self.bin, name), *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
        return r

    def report(self, name, ok, detail):
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            self.failures += 1

    def compile(self, example, extra=()):
        out = os.path.join(self.work, example + "".join(e.replace("-", "_") for e in extra) + ".cbin")
        self.tool("chitu-compile", os.path.join(EXAMPLES, example + ".mlir"), "-o", out,
                  "--quiet", *extra)
        return out

    def run(self, cbin, inputs, outputs=("y",)):
        args = [cbin, "--quiet"]
        for name, arr in inputs.items():
            path = os.path.join(self.work, f"in_{name}.npy")
            np.save(path, arr)
            args += ["--input", f"{name}={path}"]
        paths = {}
        for name in outputs:
            paths[name] = os.path.join(self.work, f"out_{name}.npy")
            args += ["--output", f"{name}={paths[name]}"]
        self.tool("chitu-run", *args)
        return {n: np.load(p) for n, p in paths.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    r = Runner(args.bin, args.work)

    mlp_w = load_safetensors(os.path.join(EXAMPLES, "mlp.safetensors"))
    for extra in [(), ("--embed-weights",)]:
        cbin = r.compile("mlp", extra)
        for n in [1, 7, int(rng.integers(20, 90))]:
            x = rng.standard_normal((n, 64)).astype(np.float32)
            y = r.run(cbin, {"x": x})["y"]
            e = rel_err(y, mlp_ref(x, mlp_w))
            r.report(f"mlp {' '.join(extra) or 'external weights'} tokens={n}",
                     y.shape == (n, 64) and e <= 1e-5, f"rel err {e:.2e}")

    cbin = r.compile("mlp_bf16")
    w16 = {k: bf16(v) for k, v in mlp_w.items()}
    for n in [3, int(rng.integers(10, 50))]:
        x = bf16(rng.standard_normal((n, 64)).astype(np.float32))
        y = r.run(cbin, {"x": x})["y"]
        e = rel_err(y, mlp_ref(x, w16, bf16))
        r.report(f"mlp_bf16 tokens={n}", e <= 2e-2, f"rel err {e:.2e} (bound 2e-2)")

    att_w = load_safetensors(os.path.join(EXAMPLES, "attention.safetensors"))
    cbin = r.compile("attention")
    for n in [1, int(rng.integers(5, 40))]:
        x = rng.standard_normal((n, 64)).astype(np.float32)
        mask = np.triu(np.full((n, n), -np.inf, dtype=np.float32), 1)
        y = r.run(cbin, {"x": x, "mask": mask})["y"]
        e = rel_err(y, attention_ref(x, mask, att_w))
        r.report(f"attention causal tokens={n}", e <= 1e-5, f"rel err {e:.2e}")

    # A mask whose size disagrees with x is refused with a message naming both.
    x = rng.standard_normal((4, 64)).astype(np.float32)
    np.save(os.path.join(args.work, "x.npy"), x)
    np.save(os.path.join(args.work, "mask.npy"), np.zeros((5, 5), np.float32))
    res = r.tool("chitu-run", cbin, "--input", f"x={args.work}/x.npy", "--input",
                 f"mask={args.work}/mask.npy", check=False)
    r.report("attention mask of the wrong size", res.returncode == 1 and
             "input 'mask' has shape [5, 5] but the model expects [?, ?]" in res.stderr,
             res.stderr.strip())

    if r.failures:
        print(f"{r.failures} failed (seed {seed})")
        return 1
    print("all examples match numpy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
