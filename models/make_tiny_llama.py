#!/usr/bin/env python3
"""Makes models/tiny-llama: the small Llama checkpoint (with tokenizer.json) that the README's
main command compiles and runs.

    pip install tokenizers numpy && python3 models/make_tiny_llama.py [--refresh-corpus]

It is not trained. Its tokenizer is a Llama 3 style byte-level BPE trained (with
`tokenizers`) on models/tiny-llama/corpus.txt, prose taken from docs/ and README.md; its
weights are set from the same text with numpy: the embeddings and LM head are a low-rank
factorisation of the token bigram log-probabilities, so the model continues text with
locally plausible token pairs (it babbles in the docs' vocabulary); the attention and MLP
weights are small random values that only perturb that. It exists to show the whole path
(tokenizer, compiler, paged KV cache, sampling, streaming) on any machine in seconds, not to
say anything sensible. The same corpus gives the same files; --refresh-corpus first
rewrites corpus.txt from the current docs.
"""
import glob
import json
import os
import re
import sys

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))
from make_weights import save_safetensors, to_bf16_bits  # noqa: E402
OUT = os.path.join(HERE, "tiny-llama")

VOCAB = 1024
HIDDEN = 128
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 344
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>"]


def docs_prose():
    files = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [os.path.join(ROOT, "README.md")]
    texts = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            # Paragraphs of prose; code blocks and tables make poor babble.
            text, in_code = [], False
            for line in f:
                if line.startswith("```"):
                    in_code = not in_code
                elif not in_code and not line.startswith("|"):
                    text.append(line)
            prose = "".join(text)
            prose = re.sub(r"`[^`]*`", "", prose)                   # inline code
            prose = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", prose)    # links: keep the text
            prose = re.sub(r"[#*>]+ ?", "", prose)                   # headings, emphasis, quotes
            texts.append(re.sub(r"[ \t]+", " ", prose))
    return texts


def corpus(refresh):
    """The training text as paragraphs."""
    path = os.path.join(OUT, "corpus.txt")
    if refresh or not os.path.exists(path):
        os.makedirs(OUT, exist_ok=True)
        paragraphs = [p.strip() for t in docs_prose() for p in t.split("\n\n") if p.strip()]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n\n".join(paragraphs) + "\n")
    with open(path, encoding="utf-8") as f:
        return [p for p in f.read().split("\n\n") if p.strip()]


def train_tokenizer(texts):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = tok.token_to_id(SPECIALS[0])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=SPECIALS[0] + " $A", special_tokens=[(SPECIALS[0], bos)])])
    return tok


def bigram_weights(tok, texts, rng):
    vocab = tok.get_vocab_size()
    bos, eos = tok.token_to_id(SPECIALS[0]), tok.token_to_id(SPECIALS[1])
    counts = np.full((vocab, vocab), 0.05)  # add-k smoothing
    for para in texts:
        ids = tok.encode(para.strip(), add_special_tokens=True).ids + [eos]
        for a, b in zip(ids, ids[1:]):
            counts[a, b] += 1
    logp = np.log(counts / counts.sum(1, keepdims=True))
    logp -= logp.mean(1, keepdims=True)
    u, s, vt = np.linalg.svd(logp)
    k = HIDDEN
    a = u[:, :k] * np.sqrt(s[:k])
    b = vt[:k].T * np.sqrt(s[:k])
    # The final RMSNorm rescales each hidden state to RMS 1: give the embedding rows RMS 1 and
    # fold each row's scale... into nothing (a per-row temperature; rankings are unchanged).
    rms = np.sqrt((a ** 2).mean(1, keepdims=True)) + 1e-6
    embed = a / rms
    return embed.astype(np.float32), b.astype(np.float32), bos, eos


def main():
    refresh = "--refresh-corpus" in sys.argv[1:]
    rng = np.random.RandomState(20261122)
    texts = corpus(refresh)
    tok = train_tokenizer(texts)
    embed, head, bos, eos = bigram_weights(tok, texts, rng)
    vocab = tok.get_vocab_size()
    d = HIDDEN // HEADS

    def small(rows, cols, scale):
        return (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(np.float32)

    w = {"model.embed_tokens.weight": embed, "lm_head.weight": head,
         "model.norm.weight": np.ones(HIDDEN, np.float32)}
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        w[p + "post_attention_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        w[p + "self_attn.q_proj.weight"] = small(HEADS * d, HIDDEN, 1.0)
        w[p + "self_attn.k_proj.weight"] = small(KV_HEADS * d, HIDDEN, 1.0)
        w[p + "self_attn.v_proj.weight"] = small(KV_HEADS * d, HIDDEN, 1.0)
        w[p + "self_attn.o_proj.weight"] = small(HIDDEN, HEADS * d, 0.05)
        w[p + "mlp.gate_proj.weight"] = small(INTERMEDIATE, HIDDEN, 1.0)
        w[p + "mlp.up_proj.weight"] = small(INTERMEDIATE, HIDDEN, 1.0)
        w[p + "mlp.down_proj.weight"] = small(HIDDEN, INTERMEDIATE, 0.05)

    os.makedirs(OUT, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": d,
        "vocab_size": vocab, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "bos_token_id": bos, "eos_token_id": eos,
        "torch_dtype": "bfloat16"}
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": eos, "do_sample": True,
                   "temperature": 0.7, "top_p": 0.9}, f, indent=2)
        f.write("\n")
    tok.save(os.path.join(OUT, "tokenizer.json"))
    save_safetensors(os.path.join(OUT, "model.safetensors"),
                     {name: ("BF16", to_bf16_bits(w[name])) for name in sorted(w)},
                     metadata={"format": "pt"})
    print(f"wrote {OUT}: vocabulary {vocab}, {sum(v.size for v in w.values())} parameters")


if __name__ == "__main__":
    main()
