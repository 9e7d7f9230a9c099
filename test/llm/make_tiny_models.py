#!/usr/bin/env python3
"""Writes tiny random Hugging Face checkpoints of each supported family (numpy only).

    python3 test/llm/make_tiny_models.py OUT_DIR [--only NAME]

Each model is a directory with config.json and safetensors weights, deterministic (numpy's
frozen RandomState stream), so CI can rebuild exactly the models whose transformers logits
are committed in test/llm/golden/ (made by make_golden.py). The configurations hit the
corners the LLM issue lists: GQA and MQA, head_dim different from hidden/heads, odd
intermediate sizes, vocabularies that are not a multiple of 8, q/k/v biases, tied
embeddings, sliding windows, llama3 and linear rope scaling, sharded and bf16/f16
checkpoints. The weights are random: the models mean nothing.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples"))
from make_weights import save_safetensors, to_bf16_bits  # noqa: E402

BASE = {
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-5,
    "use_cache": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "attention_dropout": 0.0,
}

MODELS = {
    # Llama with GQA, odd sizes, default rope; sharded in two files.
    "llama": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=64,
                  intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=509, max_position_embeddings=256,
                  rope_theta=10000.0, tie_word_embeddings=False, torch_dtype="float32",
                  _shards=2),
    # Llama 3 style: MQA, head_dim 24 (not hidden/heads), llama3 rope scaling, bf16 file.
    "llama3": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=64,
                   intermediate_size=150, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=1, head_dim=24, vocab_size=517,
                   max_position_embeddings=512, rope_theta=500000.0,
                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64},
                   tie_word_embeddings=False, torch_dtype="bfloat16"),
    # Linear rope scaling, attention bias on q/k/v/o, f16 file.
    "llama_linear": dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=48,
                         intermediate_size=97, num_hidden_layers=1, num_attention_heads=3,
                         num_key_value_heads=3, vocab_size=301, max_position_embeddings=128,
                         rope_theta=10000.0, rope_scaling={"rope_type": "linear", "factor": 2.0},
                         attention_bias=True, tie_word_embeddings=False, torch_dtype="float16"),
    # Qwen2: q/k/v bias, tied embeddings.
    "qwen2": dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=64,
                  intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=401, max_position_embeddings=256,
                  rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False,
                  rms_norm_eps=1e-6, torch_dtype="float32"),
    # Mistral: sliding window shorter than the test prompts.
    "mistral": dict(architectures=["MistralForCausalLM"], model_type="mistral", hidden_size=64,
                    intermediate_size=112, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, vocab_size=333,
                    max_position_embeddings=256, rope_theta=10000.0, sliding_window=6,
                    tie_word_embeddings=False, torch_dtype="float32"),
}

# Random weights scaled so that logits spread (greedy choices are not near ties).
SCALE = 0.35


def weights(cfg, rng):
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    n, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", h // n)
    v = cfg["vocab_size"]
    qwen2 = cfg["model_type"] == "qwen2"
    bias = cfg.get("attention_bias", False)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) * SCALE / np.sqrt(cols) * 4).astype(np.float32)

    def vec(size, mean=0.0, scale=0.1):
        return (mean + rng.standard_normal(size) * scale).astype(np.float32)

    w = {"model.embed_tokens.weight": (rng.standard_normal((v, h)) * SCALE * 2).astype(np.float32)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = vec(h, 1.0)
        w[p + "self_attn.q_proj.weight"] = mat(n * d, h)
        w[p + "self_attn.k_proj.weight"] = mat(kv * d, h)
        w[p + "self_attn.v_proj.weight"] = mat(kv * d, h)
        w[p + "self_attn.o_proj.weight"] = mat(h, n * d)
        if qwen2 or bias:
            w[p + "self_attn.q_proj.bias"] = vec(n * d)
            w[p + "self_attn.k_proj.bias"] = vec(kv * d)
            w[p + "self_attn.v_proj.bias"] = vec(kv * d)
        if bias:
            w[p + "self_attn.o_proj.bias"] = vec(h)
        w[p + "post_attention_layernorm.weight"] = vec(h, 1.0)
        w[p + "mlp.gate_proj.weight"] = mat(i, h)
        w[p + "mlp.up_proj.weight"] = mat(i, h)
        w[p + "mlp.down_proj.weight"] = mat(h, i)
    w["model.norm.weight"] = vec(h, 1.0)
    if not cfg.get("tie_word_embeddings", False):
        w["lm_head.weight"] = mat(v, h)
    return w


def stored(array, dtype):
    """(safetensors dtype, array of the stored values) of `array` saved as `dtype`."""
    if dtype == "bfloat16":
        return "BF16", to_bf16_bits(array)
    if dtype == "float16":
        return "F16", array.astype(np.float16)
    return "F32", array.astype(np.float32)


def save(path, tensors, dtype):
    save_safetensors(path, {name: stored(tensors[name], dtype) for name in sorted(tensors)},
                     metadata={"format": "pt"})


def write_model(name, out_dir):
    spec = dict(MODELS[name])
    shards = spec.pop("_shards", 1)
    cfg = dict(BASE, **spec)
    seed = sum(ord(c) * 31 ** k for k, c in enumerate(name)) % (2 ** 31)
    w = weights(cfg, np.random.RandomState(seed))
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
                   "do_sample": False}, f, indent=2)
    names = sorted(w)
    if shards == 1:
        save(os.path.join(d, "model.safetensors"), w, cfg["torch_dtype"])
        return d
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save(os.path.join(d, fname), {k: w[k] for k in part}, cfg["torch_dtype"])
        weight_map.update({k: fname for k in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
    return d


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--only", action="append", help="model name (repeatable)")
    args = p.parse_args()
    for name in args.only or MODELS:
        print(write_model(name, args.out))


if __name__ == "__main__":
    main()
