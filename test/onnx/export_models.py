#!/usr/bin/env python3
"""Tiny BERT- and GPT-2-style ONNX models exported from transformers (random weights).

    python3 test/onnx/export_models.py --out test/onnx/models

Builds each model from a small config with a fixed seed, exports it with PyTorch's
TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`, opset 17, batch and
sequence dimensions symbolic), and writes NAME.onnx. Run it where PyTorch and
transformers are installed (the GPU machine has both; no GPU is used) and commit the
.onnx files (each well under 1 MiB). test/onnx/test_models.py then compares chitu with
onnxruntime on fresh inputs, so no golden outputs need committing.
"""
import argparse
import os

MODELS = {
    # name: (transformers class, config overrides, exported outputs)
    "bert-tiny": ("BertModel", dict(vocab_size=512, hidden_size=64, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=128,
                                    max_position_embeddings=128, type_vocab_size=2),
                  ["last_hidden_state"]),
    "gpt2-tiny": ("GPT2LMHeadModel", dict(vocab_size=512, n_embd=64, n_layer=2, n_head=4,
                                          n_positions=128),
                  ["logits"]),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--opset", type=int, default=17)
    args = p.parse_args()

    import torch
    import transformers

    os.makedirs(args.out, exist_ok=True)
    for name, (cls_name, overrides, outputs) in MODELS.items():
        torch.manual_seed(0)
        cls = getattr(transformers, cls_name)
        config_cls = cls.config_class
        config = config_cls(**overrides)
        config._attn_implementation = "eager"
        model = cls(config).eval()
        ids = torch.randint(0, overrides["vocab_size"], (2, 7))
        mask = torch.ones_like(ids)

        class Wrapper(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                out = self.m(input_ids=input_ids, attention_mask=attention_mask,
                             use_cache=False, return_dict=True)
                return tuple(out[k] for k in outputs)

        path = os.path.join(args.out, name + ".onnx")
        torch.onnx.export(Wrapper(model), (ids, mask), path, dynamo=False,
                          opset_version=args.opset, input_names=["input_ids", "attention_mask"],
                          output_names=outputs,
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"},
                                        **{o: {0: "batch", 1: "sequence"} for o in outputs}})
        import onnx
        m = onnx.load(path)
        ops = sorted({n.op_type for n in m.graph.node})
        print(f"{path}: {os.path.getsize(path)} bytes, {len(m.graph.node)} nodes, ops: "
              + " ".join(ops))
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
