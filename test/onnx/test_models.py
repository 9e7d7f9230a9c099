#!/usr/bin/env python3
"""Model-level ONNX tests: chitu against onnxruntime on fresh inputs.

    python3 test/onnx/test_models.py --bin build/bin --work build/test/onnx-models
        [--device cpu|cuda] [--models test/onnx/models] [--compile-only | --run-only]

Compiles every test/onnx/models/*.onnx (tiny BERT- and GPT-2-style encoders/decoders
exported from transformers by export_models.py) once, with symbolic batch and sequence
dimensions, then for several (batch, sequence) shapes draws token ids and an attention
mask with padding, runs onnxruntime (float32) and chitu-run, and compares every output by
relative error, max |chitu - ort| / max |ort|: <= 1e-4 compiled as float32 (CPU executor
and CUDA), and within the formats' bounds compiled with --precision bf16 (3e-2) and fp16
(5e-3): every op rounds its result to the format, as the bf16/fp16 paths of PyTorch do,
so the error is a few units of the format's last place over the models' two layers
(attention, raised into one op, keeps its scores and probabilities in f32). Every
Softmax of these models belongs to an attention, so the compile step also checks that
chitu-raise turned each into a chitu.attention (one ATTENTION op per Softmax node).
--compile-only / --run-only
split the work between a machine with chitu-compile and the GPU machine; the inputs and
onnxruntime's outputs are written with the artifacts, so the GPU machine needs only numpy.
"""
import argparse
import glob
import itertools
import json
import os
import subprocess
import sys

import numpy as np

SHAPES = [(2, 7), (1, 13), (3, 5), (1, 1)]
# --precision: relative error bound against onnxruntime's float32
PRECISIONS = {"fp32": 1e-4, "bf16": 3e-2, "fp16": 5e-3}


def compile_and_reference(args, path):
    import onnx
    import onnxruntime as ort
    name = os.path.splitext(os.path.basename(path))[0]
    d = os.path.join(args.work, name)
    os.makedirs(d, exist_ok=True)
    for precision in PRECISIONS:
        subprocess.run([os.path.join(args.bin, "chitu-compile"), path, "-o",
                        os.path.join(d, f"model.{precision}.cbin"), "--precision", precision,
                        "--quiet"], check=True)
    model = onnx.load(path)
    inspect = subprocess.run([os.path.join(args.bin, "chitu-inspect"),
                              os.path.join(d, "model.fp32.cbin"), "--json"],
                             check=True, capture_output=True, text=True)
    kinds = [op for k in json.loads(inspect.stdout)["kernels"] for op in k["ops"]]
    softmaxes = sum(node.op_type == "Softmax" for node in model.graph.node)
    if kinds.count("ATTENTION") != softmaxes or "SOFTMAX" in kinds:
        sys.exit(f"{name}: {softmaxes} Softmax nodes but {kinds.count('ATTENTION')} attention "
                 f"ops and {kinds.count('SOFTMAX')} softmax ops after chitu-raise")
    vocab = next(int(t.dims[0]) for t in model.graph.initializer if "word" in t.name or
                 "wte" in t.name)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    cases = []
    rng = np.random.default_rng(0)
    for k, (batch, seq) in enumerate(SHAPES):
        ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
        mask = np.ones((batch, seq), dtype=np.int64)
        if seq > 2:  # right padding on every other row
            mask[1::2, seq - 2:] = 0
        feeds = {"input_ids": ids, "attention_mask": mask}
        feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
        outs = sess.run(None, feeds)
        case = {"shape": [batch, seq], "inputs": {}, "outputs": {}}
        for n, v in feeds.items():
            p = os.path.join(d, f"{k}_{n}.npy")
            np.save(p, v)
            case["inputs"][n] = p
        for o, v in zip(sess.get_outputs(), outs):
            p = os.path.join(d, f"{k}_{o.name}.ort.npy")
            np.save(p, v)
            case["outputs"][o.name] = p
        cases.append(case)
    with open(os.path.join(d, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
    print(f"{name}: compiled, {len(cases)} shapes referenced by onnxruntime {ort.__version__}")


def run(args, d):
    name = os.path.basename(d)
    with open(os.path.join(d, "cases.json")) as f:
        spec = json.load(f)
    ok = True
    for (precision, bound), (k, case) in itertools.product(PRECISIONS.items(),
                                                            enumerate(spec["cases"])):
        cbin = os.path.join(d, f"model.{precision}.cbin")
        cmd = [os.path.join(args.bin, "chitu-run"), cbin, "--device", args.device, "--quiet"]
        for n, p in case["inputs"].items():
            cmd += ["--input", f"{n}={os.path.join(d, os.path.basename(p))}"]
        got = {}
        for o in case["outputs"]:
            got[o] = os.path.join(d, f"{k}_{o}.chitu-{precision}-{args.device}.npy")
            cmd += ["--output", f"{o}={got[o]}"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 and args.device == "cuda" and (
                "no CUDA" in p.stderr or "no GPU" in p.stderr or "CUDA device" in p.stderr):
            print(f"SKIPPED: no usable GPU ({p.stderr.strip()})")
            return None
        if p.returncode != 0:
            print(f"FAIL {name} {case['shape']}: chitu-run: {p.stderr.strip()}")
            ok = False
            continue
        for o, ref_path in case["outputs"].items():
            ref = np.load(os.path.join(d, os.path.basename(ref_path)))
            out = np.load(got[o])
            if out.shape != ref.shape:
                print(f"FAIL {name} {case['shape']} {o}: shape {out.shape} vs {ref.shape}")
                ok = False
                continue
            err = float(np.max(np.abs(out.astype(np.float64) - ref)) /
                        max(float(np.max(np.abs(ref))), 1e-30))
            good = err <= bound
            ok &= good
            print(f"{'ok  ' if good else 'FAIL'} {name} {precision} batch {case['shape'][0]} "
                  f"sequence {case['shape'][1]} {o}: max relative error {err:.2e} "
                  f"(bound {bound:.0e}, {args.device})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--work", default="build/test/onnx-models")
    ap.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "models"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--compile-only", action="store_true")
    ap.add_argument("--run-only", action="store_true")
    args = ap.parse_args()
    args.work = os.path.abspath(args.work)
    if not args.run_only:
        for path in sorted(glob.glob(os.path.join(args.models, "*.onnx"))):
            compile_and_reference(args, path)
    if args.compile_only:
        return 0
    ok = True
    for d in sorted(glob.glob(os.path.join(args.work, "*", "cases.json"))):
        result = run(args, os.path.dirname(d))
        if result is None:
            return 0
        ok &= result
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
