"""Writes the GGUF seeds of the checkpoint fuzz target with llama.cpp's own `gguf` package.

    .venv-interop/bin/python Fuzz/make_gguf_seeds.py Fuzz/Corpus/checkpoint

Two files of about 1.3 KB: a Llama-like model with metadata of every kind the reader decodes
(strings, including one with a NUL and one non-ASCII; arrays of strings, floats and ints), an
F32 embedding and norm, and one F16 or Q8_0 projection.
"""
import os
import sys

import gguf
import numpy as np


def make(path: str, quantized: bool) -> None:
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny")
    w.add_context_length(32)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_head_count(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "a", "b", "\u00e9", "x\u0000y"])
    w.add_token_scores([0.0, -1.0, -2.0, -3.0, -4.0])
    w.add_array("test.ints", [1, 2, 3])
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((5, 8)).astype(np.float32))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(8, np.float32))
    q = rng.standard_normal((8, 32)).astype(np.float32)
    if quantized:
        w.add_tensor("blk.0.attn_q.weight", gguf.quants.quantize(q, gguf.GGMLQuantizationType.Q8_0),
                     raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        w.add_tensor("blk.0.attn_q.weight", q.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    out = sys.argv[1]
    make(os.path.join(out, "gguf_tiny_f16.gguf"), quantized=False)
    make(os.path.join(out, "gguf_tiny_q8_0.gguf"), quantized=True)
