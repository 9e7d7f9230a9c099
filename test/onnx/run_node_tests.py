#!/usr/bin/env python3
"""Runs the ONNX backend node tests through chitu: compile each case's model.onnx with
chitu-compile, run its test data sets with chitu-run (CPU executor or CUDA), compare with
the expected outputs at the suite's tolerances.

The cases come from the installed `onnx` package (onnx.backend.test.case.node), so nothing
is vendored: `pip install onnx` is the only requirement besides numpy.

  python3 test/onnx/run_node_tests.py prepare [--bin build/bin] [--work DIR]
  python3 test/onnx/run_node_tests.py run [--device cpu|cuda] [--work DIR]
      [--expected test/onnx/expected_pass.txt] [--report docs/onnx-conformance.md]

`prepare` needs chitu-compile and the onnx package; `run` needs only chitu-run and numpy,
so the GPU machine runs the cases compiled here.

A case is in scope when every op of its graph is one chitu-compile supports
(`chitu-compile --onnx-ops`). `run` fails if a case listed in --expected does not pass,
or if any case gives a wrong result or breaks instead of being refused at compile time
with a clear message.
"""
import argparse
import concurrent.futures as futures
import os
import re
import subprocess
import sys
import time
import warnings

import numpy as np


def load_cases():
    warnings.filterwarnings("ignore")
    import onnx
    import onnx.backend.test.case.node as node_cases
    with np.errstate(all="ignore"):
        cases = node_cases.collect_testcases(None)
    schemas = sorted({s.name for s in onnx.defs.get_all_schemas_with_history()
                      if s.domain in ("", "ai.onnx")}, key=len, reverse=True)
    return cases, schemas


def primary_op(case, schemas):
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    key = case.name[len("test_"):].replace("_", "").lower()
    for s in schemas:
        if key.startswith(s.lower()):
            return s
    return nodes[0].op_type if nodes else "?"


def supported_ops(bin_dir):
    out = subprocess.run([os.path.join(bin_dir, "chitu-compile"), "--onnx-ops"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


# Inputs chitu needs at compile time (shapes, axes, bounds, exponents). The node tests
# feed them as graph inputs; like onnx-mlir's CONSTANT_INPUT, the driver binds them as
# initializers from the data set, so the model compiled is the one a user would export.
COMPILE_TIME_INPUTS = {
    "Reshape": [1], "ReduceMean": [1], "ReduceSum": [1], "ReduceMax": [1],
    "Slice": [1, 2, 3, 4], "Split": [1], "Squeeze": [1], "Unsqueeze": [1],
    "Expand": [1], "ConstantOfShape": [0], "Range": [0, 1, 2], "Pow": [1],
    "Trilu": [1], "CumSum": [1],
}


def as_array(value):
    import onnx
    from onnx import numpy_helper
    if isinstance(value, onnx.TensorProto):
        value = numpy_helper.to_array(value)
    a = np.asarray(value)
    if a.dtype.kind == "V" and a.dtype.itemsize == 2:  # onnx's own bfloat16 type
        import ml_dtypes
        a = a.view(np.uint16).view(ml_dtypes.bfloat16)
    return a


def bind_compile_time_inputs(model, inputs):
    """The model with compile-time inputs turned into initializers, and the inputs left."""
    import onnx
    from onnx import numpy_helper
    graph_inputs = [v.name for v in model.graph.input
                    if v.name not in {t.name for t in model.graph.initializer}]
    wanted = set()
    for node in model.graph.node:
        for k in COMPILE_TIME_INPUTS.get(node.op_type, []):
            if k < len(node.input) and node.input[k] in graph_inputs:
                wanted.add(node.input[k])
    if not wanted:
        return model, list(zip(graph_inputs, inputs))
    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    rest = []
    for name, value in zip(graph_inputs, inputs):
        if name in wanted:
            bound.graph.initializer.append(numpy_helper.from_array(as_array(value), name))
        else:
            rest.append((name, value))
    keep = [v for v in bound.graph.input if v.name not in wanted]
    del bound.graph.input[:]
    bound.graph.input.extend(keep)
    return bound, rest


def compile_model(model, d, tag, args):
    model_path = os.path.join(d, f"model{tag}.onnx")
    with open(model_path, "wb") as f:
        f.write(model.SerializeToString())
    cbin = os.path.join(d, f"model{tag}.cbin")
    env = dict(os.environ, CHITU_CACHE_DIR=args.cache)
    p = subprocess.run([os.path.join(args.bin, "chitu-compile"), model_path, "-o", cbin,
                        "--quiet", "-j", "1"], capture_output=True, text=True, env=env)
    if p.returncode == 0:
        return cbin, None
    msg = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
    msg = msg.replace(model_path + ": ", "").replace("chitu-compile: error: ", "")
    # A refusal is chitu-compile's own one-line error (exit status 1); IR that fails
    # to verify or a crash is a bug.
    clear = p.returncode == 1 and "does not verify" not in p.stderr
    return None, ("unsupported" if clear else "compile-error", msg)


def prepare_case(case, args, schemas):
    """Compiles the case and writes its data sets as .npy files; returns its manifest."""
    d = os.path.join(args.work, case.name)
    os.makedirs(d, exist_ok=True)
    manifest = {"name": case.name, "op": primary_op(case, schemas), "rtol": case.rtol,
                "atol": case.atol, "data_sets": []}
    out_names = [v.name for v in case.model.graph.output]
    compiled = {}
    for k, (inputs, expected) in enumerate(case.data_sets):
        model, rest = bind_compile_time_inputs(case.model, inputs)
        key = model.SerializeToString()
        if key not in compiled:
            compiled[key] = compile_model(model, d, len(compiled), args)
        cbin, refusal = compiled[key]
        if refusal:
            manifest["status"], manifest["message"] = refusal
            return manifest
        ds = {"cbin": os.path.relpath(cbin, args.work), "inputs": [], "outputs": []}
        for j, (name, value) in enumerate(rest):
            path = os.path.join(d, f"in{k}_{j}.npy")
            np.save(path, as_array(value))
            ds["inputs"].append([name, os.path.relpath(path, args.work)])
        for j, (name, value) in enumerate(zip(out_names, expected)):
            path = os.path.join(d, f"want{k}_{j}.npy")
            np.save(path, as_array(value))
            ds["outputs"].append([name, os.path.relpath(path, args.work)])
        manifest["data_sets"].append(ds)
    manifest["status"] = "compiled"
    return manifest


def bf16_as_float(a):
    """.npy files store bfloat16 as 2-byte void; widen it (exactly) to float32."""
    if a.dtype.kind == "V" and a.dtype.itemsize == 2:
        return (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return a


def run_prepared(m, args):
    """Runs a compiled case's data sets on the device and compares the outputs."""
    if m["status"] != "compiled":
        return m["status"], m.get("message", "")
    w = args.work
    for k, ds in enumerate(m["data_sets"]):
        cmd = [os.path.join(args.bin, "chitu-run"), os.path.join(w, ds["cbin"]),
               "--device", args.device, "--quiet"]
        for name, path in ds["inputs"]:
            cmd += ["--input", f"{name}={os.path.join(w, path)}"]
        got_paths = []
        for j, (name, _) in enumerate(ds["outputs"]):
            got = os.path.join(w, m["name"], f"got{k}_{j}_{args.device}.npy")
            got_paths.append(got)
            cmd += ["--output", f"{name}={got}"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            return "run-error", (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        for (name, want_path), got_path in zip(ds["outputs"], got_paths):
            want = bf16_as_float(np.load(os.path.join(w, want_path)))
            got = bf16_as_float(np.load(got_path))
            if got.shape != want.shape:
                return "fail", f"output {name}: shape {got.shape}, expected {want.shape}"
            if want.dtype.kind in "fc" or want.dtype.name == "bfloat16":
                bad = ~np.isclose(got.astype(np.float64), want.astype(np.float64),
                                  rtol=m["rtol"], atol=m["atol"], equal_nan=True)
            else:
                bad = got.astype(np.int64) != want.astype(np.int64)
            if bad.any():
                i = np.flatnonzero(bad)[0]
                return "fail", (f"output {name}: {int(bad.sum())} of {bad.size} elements "
                                f"differ (first at {i}: {got.flat[i]} vs {want.flat[i]})")
    return "pass", ""


def parallel(fn, items, jobs, label):
    start = time.time()
    results = []
    with futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for n, r in enumerate(pool.map(fn, items), 1):
            results.append(r)
            if n % 100 == 0:
                print(f"  {label}: {n}/{len(items)} ({time.time() - start:.0f} s)", flush=True)
    return results


def prepare(args):
    import json
    cases, schemas = load_cases()
    ops = supported_ops(args.bin)
    rx = re.compile(args.filter) if args.filter else None
    selected = [c for c in cases if (not rx or rx.search(c.name)) and
                {n.op_type for n in c.model.graph.node} <= ops and
                all(n.domain in ("", "ai.onnx") for n in c.model.graph.node)]
    print(f"{len(selected)} node test cases in scope (of {len(cases)} in onnx "
          f"{__import__('onnx').__version__}; {len(ops)} supported ops)", flush=True)
    manifests = parallel(lambda c: prepare_case(c, args, schemas), selected, args.j, "compiled")
    with open(os.path.join(args.work, "manifest.json"), "w") as f:
        json.dump(manifests, f, indent=0)
    refused = sum(m["status"] != "compiled" for m in manifests)
    print(f"compiled {len(manifests) - refused}, refused {refused}")
    return 0


def gpu_usable(args, manifests):
    probe = next((m for m in manifests if m["status"] == "compiled" and
                  m["name"] == "test_relu"), None)
    if probe is None:
        return True
    status, msg = run_prepared(probe, args)
    return not (status == "run-error" and ("no CUDA" in msg or "no GPU" in msg
                                           or "CUDA device" in msg))


def run(args):
    import json
    with open(os.path.join(args.work, "manifest.json")) as f:
        manifests = json.load(f)
    rx = re.compile(args.filter) if args.filter else None
    manifests = [m for m in manifests if not rx or rx.search(m["name"])]
    if args.device == "cuda" and not gpu_usable(args, manifests):
        print("SKIPPED: no usable GPU (chitu-run --device cuda failed on a compiled case)")
        return 0
    start = time.time()
    statuses = parallel(lambda m: run_prepared(m, args), manifests, args.j, "ran")
    results = {m["name"]: r for m, r in zip(manifests, statuses)}
    counts = {}
    for status, _ in results.values():
        counts[status] = counts.get(status, 0) + 1
    print(f"device {args.device}: {len(results)} cases in {time.time() - start:.0f} s: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for name in sorted(results):
        status, msg = results[name]
        if status not in ("pass", "unsupported"):
            print(f"  {status:13s} {name}: {msg}")
    if args.write_expected:
        with open(args.write_expected, "w") as f:
            f.write("# ONNX node test cases that must pass (CPU and GPU); written by\n"
                    "# test/onnx/run_node_tests.py run --write-expected. Regenerate after\n"
                    "# adding an operator and review the difference.\n")
            for name in sorted(n for n, (st, _) in results.items() if st == "pass"):
                f.write(name + "\n")
    if args.report:
        write_report(args, manifests, results)

    failed = False
    expected = set()
    if args.expected:
        with open(args.expected) as f:
            expected = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        for name in sorted(expected):
            if rx and not rx.search(name):
                continue
            status, msg = results.get(name, ("missing", "not prepared (no longer in scope?)"))
            if status != "pass":
                print(f"EXPECTED TO PASS: {name}: {status}: {msg}")
                failed = True
    # A supported op must never give a wrong result: anything but a pass or a clear
    # refusal at compile time is a failure, listed or not.
    wrong = sorted(n for n, (st, _) in results.items() if st not in ("pass", "unsupported"))
    for n in wrong:
        if n not in expected:
            print(f"WRONG OR BROKEN (not a clear refusal): {n}: {results[n][1]}")
    failed = failed or bool(wrong)
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=["prepare", "run"],
                    help="prepare: compile the cases and write their data (needs "
                         "chitu-compile and onnx); run: execute and compare (numpy only)")
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--work", default="build/test/onnx-node")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--filter", default="", help="regex on case names")
    ap.add_argument("--expected", help="file listing the cases that must pass")
    ap.add_argument("--write-expected", help="write the passing cases to this file")
    ap.add_argument("--report", help="write the per-op table (Markdown) to this file")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    args.work = os.path.abspath(args.work)
    args.cache = os.environ.get("CHITU_CACHE_DIR") or os.path.join(args.work, "nvrtc-cache")
    os.makedirs(args.work, exist_ok=True)
    return prepare(args) if args.step == "prepare" else run(args)


def write_report(args, manifests, results):
    import onnx
    by_op = {}
    for m in manifests:
        by_op.setdefault(m["op"], []).append(m["name"])
    lines = ["# ONNX backend node tests (generated)", "",
             "Generated by `test/onnx/run_node_tests.py run --report` on device "
             f"`{args.device}`, from the node tests of onnx {onnx.__version__} "
             "(`onnx.backend.test.case.node`). A case is in scope when chitu-compile "
             "supports every op of its graph; *refused* means chitu-compile rejected the "
             "model with a message naming the node and what it supports (an element "
             "type, attribute value or opset it does not handle). The reasons are listed "
             "below the table.", "",
             "| op | cases | pass | refused | fail |", "|---|---|---|---|---|"]
    total = [0, 0, 0, 0]
    notes = []
    for op in sorted(by_op):
        names = by_op[op]
        st = [results[n][0] for n in names]
        row = [len(names), st.count("pass"), st.count("unsupported"),
               len(names) - st.count("pass") - st.count("unsupported")]
        total = [a + b for a, b in zip(total, row)]
        lines.append(f"| {op} | " + " | ".join(map(str, row)) + " |")
        for n in sorted(names):
            st_, msg = results[n]
            if st_ != "pass":
                notes.append(f"| {n} | {st_} | {msg.replace('|', '/')} |")
    lines.append("| **total** | " + " | ".join(f"**{v}**" for v in total) + " |")
    lines += ["", "## Cases that do not pass, and why", "", "| case | status | reason |",
              "|---|---|---|"] + notes
    with open(args.report, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
