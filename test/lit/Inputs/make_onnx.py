#!/usr/bin/env python3
"""Writes the small ONNX models of the frontend's lit tests into a directory.

    python3 make_onnx.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def save(name, nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, os.path.join(out, name + ".onnx"))


f32 = TensorProto.FLOAT
# A linear layer with a GELU over dynamic rows: MatMul + Add + the erf form of GELU, and
# a reshape whose shape comes from a Shape subgraph.
w = numpy_helper.from_array(np.full((8, 4), 0.5, np.float32), "w")
b = numpy_helper.from_array(np.arange(4, dtype=np.float32), "b")
half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
sqrt2 = numpy_helper.from_array(np.array(1.4142135, np.float32), "sqrt2")
minus1 = numpy_helper.from_array(np.array([-1], np.int64), "minus1")
zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
save("mlp", [
    helper.make_node("MatMul", ["x", "w"], ["xw"], name="proj"),
    helper.make_node("Add", ["xw", "b"], ["h"]),
    helper.make_node("Div", ["h", "sqrt2"], ["hs"]),
    helper.make_node("Erf", ["hs"], ["e"]),
    helper.make_node("Add", ["e", "one"], ["e1"]),
    helper.make_node("Mul", ["h", "e1"], ["he"]),
    helper.make_node("Mul", ["he", "half"], ["g"]),
    helper.make_node("Shape", ["x"], ["sx"]),
    helper.make_node("Gather", ["sx", "zero"], ["rows"], axis=0),
    helper.make_node("Concat", ["rows", "minus1"], ["shape"], axis=0),
    helper.make_node("Reshape", ["g", "shape"], ["y"]),
], [helper.make_tensor_value_info("x", f32, ["batch", 8])],
   [helper.make_tensor_value_info("y", f32, ["batch", 4])], [w, b, half, one, sqrt2, minus1, zero])

# A causal mask from the sequence length: Range, Unsqueeze, LessOrEqual, Where.
save("mask", [
    helper.make_node("Shape", ["x"], ["s"], start=1, end=2),
    helper.make_node("Squeeze", ["s", "zero"], ["n"]),
    helper.make_node("Range", ["c0", "n", "c1"], ["r"]),
    helper.make_node("Unsqueeze", ["r", "zero"], ["row"]),
    helper.make_node("Unsqueeze", ["r", "one64"], ["col"]),
    helper.make_node("LessOrEqual", ["row", "col"], ["keep"]),
    helper.make_node("Where", ["keep", "x", "neg"], ["y"]),
], [helper.make_tensor_value_info("x", f32, ["n", "n"])],
   [helper.make_tensor_value_info("y", f32, ["n", "n"])],
   [numpy_helper.from_array(np.array(0, np.int64), "c0"),
    numpy_helper.from_array(np.array(1, np.int64), "c1"),
    numpy_helper.from_array(np.array([0], np.int64), "zero"),
    numpy_helper.from_array(np.array([1], np.int64), "one64"),
    numpy_helper.from_array(np.array(-1e9, np.float32), "neg")])

# Error cases.
x4 = [helper.make_tensor_value_info("x", f32, [4])]
y4 = [helper.make_tensor_value_info("y", f32, [4])]
save("unsupported_op", [helper.make_node("Sin", ["x"], ["y"], name="my_sin")], x4, y4)
save("bad_attribute", [helper.make_node("Gelu", ["x"], ["y"], name="g", approximate="fast")], x4, y4,
     opset=20)
save("unknown_attribute", [helper.make_node("Relu", ["x"], ["y"], name="r", alpha=0.1)], x4, y4)
save("double_input", [helper.make_node("Relu", ["x"], ["y"])],
     [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [4])],
     [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [4])])
save("old_softmax", [helper.make_node("Softmax", ["x"], ["y"], name="sm")], x4, y4, opset=11)
save("opset_6", [helper.make_node("Relu", ["x"], ["y"])], x4, y4, opset=6)
save("custom_domain", [helper.make_node("FusedGemm", ["x"], ["y"], domain="com.microsoft")], x4, y4)
save("dangling", [helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")], x4, y4)

# External data: the initializer's bytes live in a file next to the model; a second model
# names a file that is not there.
ext = numpy_helper.from_array(np.arange(4, dtype=np.float32) * 2, "w")
for name, exists in [("external", True), ("external_missing", False)]:
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], name, x4, y4, [ext]),
        opset_imports=[helper.make_opsetid("", 17)])
    path = os.path.join(out, name + ".onnx")
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=name + ".weights", size_threshold=0)
    if not exists:
        os.remove(os.path.join(out, name + ".weights"))

with open(os.path.join(out, "truncated.onnx"), "wb") as f:
    f.write(open(os.path.join(out, "mlp.onnx"), "rb").read()[:100])
with open(os.path.join(out, "not_onnx.onnx"), "wb") as f:
    f.write(b"this is not a protobuf at all\xff\xff\xff")
np.save(os.path.join(out, "x_3x8.npy"), np.linspace(-2, 2, 24, dtype=np.float32).reshape(3, 8))
np.save(os.path.join(out, "x_4.npy"), np.arange(4, dtype=np.float32))
