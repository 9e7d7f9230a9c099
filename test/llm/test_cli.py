#!/usr/bin/env python3
"""chitu-run's generation mode end to end on the bundled model (models/tiny-llama): the
streamed text starts with the prompt and equals the tokenizer's decode of the generated ids,
the speed lines are printed, --greedy/--dump-logits/--stop/--seed/--place behave as
documented, checkpoints a quantized model cannot quantize at load are refused, and int4
weights quantized at load match numpy's statement of the format.

    python3 test/llm/test_cli.py --bin build/bin --work build/test/cli [--device cuda]
"""
import argparse
import json
import os
import re
import shutil
import struct
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

    # Quantized at load (config-only int8/fp8/int4 models): a weight row with a NaN, or a tensor
    # of another shape than the model quantizes, is refused with its name and reason.
    if not args.cbin:
        config_only = os.path.join(args.work, "config-only")
        os.makedirs(config_only, exist_ok=True)
        shutil.copy(os.path.join(model_dir, "config.json"), config_only)
        target = "model.layers.1.self_attn.q_proj.weight"
        for fmt in ["int8", "fp8", "int4", "int4_asym"]:
            qcbin = os.path.join(args.work, f"tiny-llama-{fmt}.cbin")
            run([tool("chitu-compile"), config_only, "-o", qcbin, "--quiet", "--weight-dtype", fmt])
            for what, words in [("nan", "row 5 holds a NaN or an infinity and cannot be quantized"),
                                ("shape", "the model quantizes a float matrix of 128 rows")]:
                bad = os.path.join(args.work, f"bad-{what}")
                write_bad_checkpoint(model_dir, bad, target, what)
                r = subprocess.run([tool("chitu-run"), qcbin, "--device", args.device,
                                    "--weights", bad, "--prompt", PROMPT, "--max-tokens", "1"],
                                   capture_output=True, text=True)
                check(r.returncode != 0 and words in r.stderr and target in r.stderr,
                      f"{fmt} model, checkpoint with a {what} problem: {r.stderr!r}")

    # int4 weights quantized at load (config-only models) against numpy: the same model in
    # bf16 with each quantized weight replaced by numpy's restatement of the format
    # (docs/precision.md), dequantized and rounded to bf16, gives the same logits (the CPU
    # dequantizes exactly so; the GPU sums unrounded weights: to rounding), and differs from
    # the unquantized model's (the comparison sees a wrong scale or nibble order).
    if not args.cbin:
        bf16_cbin = os.path.join(args.work, "tiny-llama-config-only.cbin")
        run([tool("chitu-compile"), config_only, "-o", bf16_cbin, "--quiet"])

        def logits_of(model, weights, name):
            npy = os.path.join(args.work, name + ".npy")
            run([tool("chitu-run"), model, "--device", args.device, "--weights", weights,
                 "--tokenizer", tokenizer, "--prompt", PROMPT, "--max-tokens", "1",
                 "--dump-logits", npy])
            return np.load(npy).astype(np.float64)

        def cosine(a, b):
            return ((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))).min()

        plain = logits_of(bf16_cbin, model_dir, "plain-logits")
        for fmt, group in [("int4", 32), ("int4_asym", 64)]:
            qcbin = os.path.join(args.work, f"tiny-llama-{fmt}.cbin")
            run([tool("chitu-compile"), config_only, "-o", qcbin, "--quiet", "--weight-dtype", fmt,
                 "--group-size", str(group)])
            fake = os.path.join(args.work, f"fake-{fmt}")
            replaced = write_fake_quant_checkpoint(model_dir, fake, group, fmt == "int4_asym")
            want = logits_of(bf16_cbin, fake, f"fake-{fmt}-logits")
            got = logits_of(qcbin, model_dir, f"{fmt}-logits")
            same = cosine(got, want)
            check(replaced > 0 and (np.array_equal(got, want) if args.device == "cpu"
                                    else same >= 0.99999),
                  f"{fmt} g{group}: logits cosine {same} with numpy's format ({replaced} weights)")
            check(cosine(got, plain) < same, f"{fmt}: logits equal the unquantized model's")

    for f in failures:
        print("FAIL:", f)
    print(f"{'FAILED' if failures else 'passed'}: chitu-run generation on {args.device}")
    return 1 if failures else 0


def copy_model(model_dir, out):
    """Copies the model's config and tokenizer files to `out`; returns its safetensors header
    (a dict) and body (a bytearray) for the caller to change and write_safetensors."""
    os.makedirs(out, exist_ok=True)
    for f in ["config.json", "tokenizer.json", "generation_config.json"]:
        shutil.copy(os.path.join(model_dir, f), out)
    data = bytearray(open(os.path.join(model_dir, "model.safetensors"), "rb").read())
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_safetensors(out, header, body):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(body))


def int4_dequantized(w, group, asym):
    """numpy's int4 groups (docs/precision.md) of a float32 [rows, cols] matrix, dequantized:
    (nibble - zero) * scale in float32."""
    rows, cols = w.shape
    g = w.reshape(rows, cols // group, group)
    if asym:
        lo = np.minimum(g.min(-1, keepdims=True), np.float32(0))
        hi = np.maximum(g.max(-1, keepdims=True), np.float32(0))
        scale = np.where(hi > lo, (hi - lo) / np.float32(15), np.float32(1)).astype(np.float32)
        zero = np.clip(np.rint(-lo / scale), 0, 15).astype(np.float32)
    else:
        peak = np.abs(g).max(-1, keepdims=True)
        scale = np.where(peak > 0, peak / np.float32(7.5), np.float32(1)).astype(np.float32)
        zero = np.float32(8)
    nibble = np.clip(np.rint(g / scale) + zero, 0, 15).astype(np.float32)
    return ((nibble - zero) * scale).astype(np.float32).reshape(rows, cols)


def bf16_bits(x):
    """float32 -> bf16 bits, rounded to nearest even (finite values)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_fake_quant_checkpoint(model_dir, out, group, asym):
    """A copy of the bf16 model whose linear layers' weights (not lm_head; rows that divide
    into groups) hold numpy's int4 dequantized values; returns how many it replaced."""
    header, body = copy_model(model_dir, out)
    replaced = 0
    for name, t in header.items():
        if name == "__metadata__" or not re.search(r"_proj\.weight$", name):
            continue
        assert t["dtype"] == "BF16", t
        rows, cols = t["shape"]
        if cols % group:
            continue
        a, b = t["data_offsets"]
        bits = np.frombuffer(bytes(body[a:b]), dtype=np.uint16).astype(np.uint32) << 16
        w = bits.view(np.float32).reshape(rows, cols)
        body[a:b] = bf16_bits(int4_dequantized(w, group, asym)).tobytes()
        replaced += 1
    write_safetensors(out, header, body)
    return replaced


def write_bad_checkpoint(model_dir, out, name, what):
    """A copy of the model whose tensor `name` (bf16 [128, 128]) holds a NaN in row 5
    ("nan") or is declared [64, 256] ("shape", the same bytes)."""
    header, body = copy_model(model_dir, out)
    t = header[name]
    assert t["dtype"] == "BF16" and t["shape"] == [128, 128], t
    if what == "nan":
        at = t["data_offsets"][0] + (5 * 128 + 7) * 2
        body[at:at + 2] = struct.pack("<H", 0x7FC0)
    else:
        t["shape"] = [64, 256]
    write_safetensors(out, header, body)


if __name__ == "__main__":
    sys.exit(main())
