#!/usr/bin/env python3
"""Tiny random-weight GGUF files with Llama 3.2's structure, and llama.cpp's logits for a few prompts on
each, for crates/engine/tests/llama3_structure.rs.

What it writes, in crates/engine/tests/fixtures/llama3/:
    tiny-llama32-q8_0.gguf              tied embeddings, 8 heads / 2 key-value heads (GQA 4), head dim 32, Q8_0
    tiny-llama32-q4_k.gguf              the same weights, Q4_K
    tiny-llama32-untied-gqa8-q4_k.gguf  an output.weight of its own, 8 heads / 1 key-value head (GQA 8), Q4_K
    tiny-llama32-gqa1-hd64-q8_0.gguf    tied, 4 heads / 4 key-value heads (GQA 1), head dim 64, Q8_0
    llamacpp-logits.json                per file: the prompts' ids and llama.cpp's last-position logits

Every file has what makes Llama 3.2 differ from older Llamas: general.architecture "llama", rope.freq_base
500000, a rope_freqs.weight tensor with the llama3 scaling factors (computed as llama.cpp's
convert_hf_to_gguf.py does for rope_scaling {"rope_type": "llama3", "factor": 32, "low_freq_factor": 1,
"high_freq_factor": 4, "original_max_position_embeddings": 8192}), grouped-query attention, a 131072
context, and a Llama-3-style byte-level BPE vocabulary (tokenizer.ggml.model "gpt2", pre "llama-bpe",
3016 tokens and their merges, <|begin_of_text|> ... <|eot_id|>): the one of
tests/fixtures/llamacpp/llama3-vocab.gguf. Dimensions are small (embedding 256, feed-forward 512,
2 layers) so each file stays around a megabyte or two.

Weights are drawn from a seeded numpy generator (SEED), then every 2-D tensor is quantized with
llama.cpp's own ggml_quantize_chunk (scripts/reference/ggml_quants.py); norms and rope_freqs stay F32.
The prompts are tokenized by llama.cpp (llama_tokenize, special tokens parsed) and their logits come from
llama.cpp b11549 with all prompt tokens in one batch (scripts/reference/llamacpp.py). For each file the
JSON also records how far the logits move when the same file is read with every rope factor set to 1
(`without_rope_freqs_max_diff`): what an implementation that ignores rope_freqs would be off by.

Run with the venv of scripts/reference/setup.sh:
    python=$(scripts/reference/setup.sh) && "$python" scripts/reference/make_llama3_fixtures.py
"""
import ctypes
import hashlib
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ggml_quants import quantize  # noqa: E402
from llamacpp import Llama, Session, build_description  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/engine/tests/fixtures/llama3"
VOCAB = ROOT / "tests/fixtures/llamacpp/llama3-vocab.gguf"
SEED = 20261205
Q = gguf.GGMLQuantizationType

ROPE_BASE = 500000.0
ROPE_SCALING = {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


@dataclass
class Structure:
    file: str
    qtype: gguf.GGMLQuantizationType
    heads: int
    kv_heads: int
    tied: bool
    seed: int
    embedding: int = 256
    ffn: int = 512
    layers: int = 2


STRUCTURES = [
    Structure("tiny-llama32-q8_0.gguf", Q.Q8_0, heads=8, kv_heads=2, tied=True, seed=SEED),
    Structure("tiny-llama32-q4_k.gguf", Q.Q4_K, heads=8, kv_heads=2, tied=True, seed=SEED),
    Structure("tiny-llama32-untied-gqa8-q4_k.gguf", Q.Q4_K, heads=8, kv_heads=1, tied=False, seed=SEED + 1),
    Structure("tiny-llama32-gqa1-hd64-q8_0.gguf", Q.Q8_0, heads=4, kv_heads=4, tied=True, seed=SEED + 2),
]

DEMO = "\n\n".join((ROOT / "demo" / name).read_text() for name in
                   ["hollowmere-observatory.md", "tidewater-cooperative.txt", "using-almanac.md"])
PROMPTS = [
    "<|begin_of_text|>Hello",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhen was the Tidewater Bicycle "
    "Cooperative set up, and by whom?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer from these sources.\n\n"
    + DEMO + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho set up the cooperative?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    # Long enough (about 1,700 tokens) that positions reach where the rope factors matter.
    "<|begin_of_text|>" + "\n\n".join([DEMO] * 3),
]


def llama3_rope_factors(head_dim: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors for rope_type llama3."""
    factor = ROPE_SCALING["factor"]
    low, high = ROPE_SCALING["low_freq_factor"], ROPE_SCALING["high_freq_factor"]
    old_context = ROPE_SCALING["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_context / low, old_context / high
    freqs = 1.0 / (ROPE_BASE ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            factors.append(1.0)
        elif wavelen > low_freq_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def read_vocab() -> dict:
    reader = gguf.GGUFReader(str(VOCAB))
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    return {"tokens": field("tokenizer.ggml.tokens"), "types": field("tokenizer.ggml.token_type"),
            "merges": field("tokenizer.ggml.merges"), "bos": field("tokenizer.ggml.bos_token_id"),
            "eos": field("tokenizer.ggml.eos_token_id")}


def random_weights(s: Structure, n_vocab: int) -> dict[str, np.ndarray]:
    """Gaussian weights scaled so activations stay near unit size through the layers, with attention
    sharp enough (scores of a few units) that positions, and so the rope, visibly change the output."""
    rng = np.random.default_rng(s.seed)
    head_dim = s.embedding // s.heads
    dense = lambda rows, cols, gain=1.0: (rng.standard_normal((rows, cols)) * gain / math.sqrt(cols)).astype(np.float32)  # noqa: E731
    norm = lambda n: (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731
    w = {"token_embd.weight": rng.standard_normal((n_vocab, s.embedding)).astype(np.float32)}
    for i in range(s.layers):
        b = f"blk.{i}."
        w[b + "attn_norm.weight"] = norm(s.embedding)
        w[b + "attn_q.weight"] = dense(s.heads * head_dim, s.embedding, 2.0)
        w[b + "attn_k.weight"] = dense(s.kv_heads * head_dim, s.embedding, 2.0)
        w[b + "attn_v.weight"] = dense(s.kv_heads * head_dim, s.embedding)
        w[b + "attn_output.weight"] = dense(s.embedding, s.heads * head_dim)
        w[b + "ffn_norm.weight"] = norm(s.embedding)
        w[b + "ffn_gate.weight"] = dense(s.ffn, s.embedding)
        w[b + "ffn_up.weight"] = dense(s.ffn, s.embedding)
        w[b + "ffn_down.weight"] = dense(s.embedding, s.ffn)
    w["output_norm.weight"] = norm(s.embedding)
    if not s.tied:
        w["output.weight"] = dense(n_vocab, s.embedding, 4.0)
    return w


def write_gguf(path: Path, s: Structure, vocab: dict, rope_factors: np.ndarray) -> None:
    n_vocab = len(vocab["tokens"])
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Almanac tiny Llama 3.2 structure test model (random weights)")
    w.add_license("MIT OR Apache-2.0")
    w.add_context_length(131072)
    w.add_embedding_length(s.embedding)
    w.add_block_count(s.layers)
    w.add_feed_forward_length(s.ffn)
    w.add_head_count(s.heads)
    w.add_head_count_kv(s.kv_heads)
    w.add_rope_dimension_count(s.embedding // s.heads)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type({Q.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0, Q.Q4_K: gguf.LlamaFileType.MOSTLY_Q4_K_S}[s.qtype])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(vocab["tokens"])
    w.add_token_types(vocab["types"])
    w.add_token_merges(vocab["merges"])
    w.add_bos_token_id(vocab["bos"])
    w.add_eos_token_id(vocab["eos"])
    w.add_add_bos_token(True)
    w.add_tensor("rope_freqs.weight", rope_factors)
    for name, tensor in random_weights(s, n_vocab).items():
        if tensor.ndim == 1:
            w.add_tensor(name, tensor)
        else:
            w.add_tensor(name, quantize(tensor, s.qtype), raw_dtype=s.qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tokenize(llama: Llama, session: Session, text: str) -> list[int]:
    f = llama.lib.llama_tokenize
    f.restype = ctypes.c_int32
    f.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                  ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
    data = text.encode()
    out = (ctypes.c_int32 * (len(data) + 8))()
    n = f(session.vocab, data, len(data), out, len(out), False, True)
    if n < 0:
        raise RuntimeError("llama_tokenize failed")
    return list(out[:n])


def last_logits(llama: Llama, path: Path, prompts: list[list[int]]) -> list[np.ndarray]:
    session = Session(llama, str(path), threads=2, n_ctx=2048)
    try:
        return [np.array(session.logits(ids, every_position=False)[0], dtype=np.float32) for ids in prompts]
    finally:
        session.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    llama = Llama()
    vocab = read_vocab()
    files = []
    prompt_ids = None
    for s in STRUCTURES:
        path = OUT / s.file
        factors = llama3_rope_factors(s.embedding // s.heads)
        write_gguf(path, s, vocab, factors)
        if prompt_ids is None:
            session = Session(llama, str(path), threads=2, n_ctx=2048)
            prompt_ids = [tokenize(llama, session, text) for text in PROMPTS]
            session.close()
            print("prompt lengths", [len(p) for p in prompt_ids])
        logits = last_logits(llama, path, prompt_ids)
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / s.file
            write_gguf(plain, s, vocab, np.ones_like(factors))
            without = last_logits(llama, plain, prompt_ids)
        files.append({
            "file": s.file,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "type": s.qtype.name, "heads": s.heads, "kv_heads": s.kv_heads, "tied": s.tied,
            "head_dim": s.embedding // s.heads, "rope_factors": [round(float(f), 6) for f in factors],
            "prompts": [{
                "ids": ids,
                "logits": [round(float(x), 4) for x in row],
                "without_rope_freqs_max_diff": round(float(np.abs(row - other).max()), 4),
            } for ids, row, other in zip(prompt_ids, logits, without)],
        })
        print(f"{s.file}: {path.stat().st_size} bytes; spread "
              + ", ".join(f"{float(r.max() - r.min()):.1f}" for r in logits)
              + "; without rope_freqs off by " + ", ".join(f"{p['without_rope_freqs_max_diff']:.2f}" for p in files[-1]["prompts"]))
    fixture = {"reference": build_description(), "seed": SEED, "prompts": PROMPTS, "files": files}
    (OUT / "llamacpp-logits.json").write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print("prompt lengths", [len(p) for p in prompt_ids])


if __name__ == "__main__":
    main()
