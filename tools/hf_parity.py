#!/usr/bin/env python3
"""Writes parity fixtures for mathrl's Llama-family model from Hugging Face transformers.

For a tiny random LlamaForCausalLM and Qwen2ForCausalLM (f32, eager attention) it saves, per model,
into <out>/<name>/:
  config.json, model.safetensors   (save_pretrained)
  expected.safetensors             logits [B, T, V], and "grad.<param name>" for every parameter
  inputs.json                      input_ids, labels (HF convention: shifted inside the model), loss
test/hf-parity.test.ts loads each folder with mathrl and compares logits, loss and gradients.

Needs torch, transformers and safetensors (present on the GPU machines; a CPU is enough):
  python3 tools/hf_parity.py test/fixtures/hf-parity
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

COMMON = dict(
    vocab_size=61,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
)

MODELS = [
    ("llama", LlamaConfig, LlamaForCausalLM, dict(tie_word_embeddings=False)),
    ("qwen2", Qwen2Config, Qwen2ForCausalLM, dict(tie_word_embeddings=True, use_sliding_window=False)),
]


def main(out_dir: str) -> None:
    for name, config_cls, model_cls, extra in MODELS:
        torch.manual_seed(1234)
        cfg = config_cls(**COMMON, **extra)
        cfg._attn_implementation = "eager"
        model = model_cls(cfg).to(torch.float32)
        with torch.no_grad():  # larger than HF's 0.02 init so the logits are far from uniform
            for pname, p in model.named_parameters():
                if p.ndim == 2:
                    p.normal_(0.0, 0.2)
                elif pname.endswith("bias"):
                    p.normal_(0.0, 0.1)
                else:
                    p.uniform_(0.8, 1.2)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        model.save_pretrained(d, safe_serialization=True)

        B, T = 2, 9
        ids = torch.randint(0, cfg.vocab_size, (B, T))
        labels = ids.clone()
        labels[0, :3] = -100  # a masked prompt
        out = model(input_ids=ids, labels=labels)
        out.loss.backward()
        expected = {"logits": out.logits.detach().contiguous()}
        for pname, p in model.named_parameters():
            expected["grad." + pname] = p.grad.detach().contiguous()
        save_file(expected, os.path.join(d, "expected.safetensors"))
        with open(os.path.join(d, "inputs.json"), "w") as f:
            json.dump({"input_ids": ids.tolist(), "labels": labels.tolist(), "loss": out.loss.item(),
                       "torch": torch.__version__, "transformers": __import__("transformers").__version__}, f)
        print(f"{name}: loss {out.loss.item():.6f} -> {d}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/hf-parity")
