#!/usr/bin/env python3
"""Writes the random weights of the examples (deterministic: fixed seeds).

    python3 examples/make_weights.py        # rewrites examples/*.safetensors

The values are random, scaled like an initialised network; they carry no meaning.
The safetensors files are written by hand (the format is an 8-byte header length, a
JSON header and the raw bytes) so that bf16 needs no extra package.
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def to_bf16_bits(a):
    """float32 -> bf16 bit patterns, rounding to nearest even."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def save_safetensors(path, tensors, metadata=None):
    """tensors: name -> (safetensors dtype, numpy array of the stored bytes), written in
    this order; metadata: the optional __metadata__ strings (transformers wants
    {"format": "pt"})."""
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name, (dtype, array) in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def mlp_weights(seed):
    rng = np.random.default_rng(seed)
    return {
        "up.weight": rng.standard_normal((256, 64)).astype(np.float32) / 8.0,
        "up.bias": rng.standard_normal(256).astype(np.float32) / 10.0,
        "down.weight": rng.standard_normal((64, 256)).astype(np.float32) / 16.0,
        "norm.weight": (1.0 + rng.standard_normal(64) / 10.0).astype(np.float32),
    }


def attention_weights(seed):
    rng = np.random.default_rng(seed)
    w = {n: rng.standard_normal((64, 64)).astype(np.float32) / 8.0
         for n in ("q.weight", "k.weight", "v.weight", "o.weight")}
    w["norm.weight"] = (1.0 + rng.standard_normal(64) / 10.0).astype(np.float32)
    w["norm.bias"] = (rng.standard_normal(64) / 10.0).astype(np.float32)
    return w


def main():
    mlp = mlp_weights(1)
    save_safetensors(os.path.join(HERE, "mlp.safetensors"),
                     {k: ("F32", v) for k, v in mlp.items()})
    save_safetensors(os.path.join(HERE, "mlp_bf16.safetensors"),
                     {k: ("BF16", to_bf16_bits(v)) for k, v in mlp.items()})
    save_safetensors(os.path.join(HERE, "attention.safetensors"),
                     {k: ("F32", v) for k, v in attention_weights(2).items()})


if __name__ == "__main__":
    main()
