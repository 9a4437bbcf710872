"""The ONNX Runtime reference of `almanac bench ingestion`: embeds texts with the fp32 ONNX
all-MiniLM-L6-v2 that setup-onnx.sh builds, the way a user of onnxruntime would (sentence-
transformers' recipe: texts sorted by length, batches of 32 padded to their longest, truncated to
256 tokens, mean pooling under the attention mask, L2 normalisation).

One JSON request per line on stdin, one JSON reply per line on stdout, so the model stays loaded
and its runs can alternate with Almanac's:
  {"mode": "info"}  ->  {"reference": "onnxruntime 1.32.0 ..."}
  {"mode": "embed", "texts": FILE, "threads": 2, "batch": 32, "sample": 16}
      ->  {"seconds": S, "count": N, "tokens": T, "sample": [[...], ...]}
`seconds` covers tokenisation, the forward passes and pooling (reading the file is not timed);
`sample` holds the vectors of the file's first `sample` lines, in file order.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

MODEL_DIR = Path(sys.prefix) / "all-MiniLM-L6-v2-fp32"
MAX_TOKENS = 256


class Reference:
    def __init__(self) -> None:
        self.tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.sessions = {}

    def session(self, threads: int) -> onnxruntime.InferenceSession:
        if threads not in self.sessions:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle threads sleep instead of spinning: the machine is shared, and Almanac's own
            # pool parks too (a spinning reference would also steal the other engine's core).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
            self.sessions[threads] = onnxruntime.InferenceSession(
                str(MODEL_DIR / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        return self.sessions[threads]

    def embed(self, texts: list, threads: int, batch: int) -> tuple:
        session = self.session(threads)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), 384), dtype=np.float32)
        tokens = 0
        for start in range(0, len(order), batch):
            indices = order[start : start + batch]
            encodings = self.tokenizer.encode_batch([texts[i] for i in indices])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            tokens += int(mask.sum())
            (hidden,) = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            m = mask[..., None].astype(np.float32)
            mean = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            vectors[indices] = mean / np.clip(
                np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12, None
            )
        return vectors, tokens


def main() -> None:
    reference = None
    for line in sys.stdin:
        try:
            request = json.loads(line)
            if reference is None:
                reference = Reference()
            if request.get("mode") == "info":
                reply = {
                    "reference": f"onnxruntime {onnxruntime.__version__}, fp32 ONNX all-MiniLM-L6-v2 "
                    "(scripts/reference/onnx_minilm.py), CPUExecutionProvider, no thread spinning"
                }
            else:
                texts = Path(request["texts"]).read_text(encoding="utf-8").splitlines()
                texts = [t for t in texts if t.strip()]
                started = time.perf_counter()
                vectors, tokens = reference.embed(texts, request["threads"], request["batch"])
                seconds = time.perf_counter() - started
                sample = vectors[: request.get("sample", 0)].tolist()
                reply = {"seconds": seconds, "count": len(texts), "tokens": tokens, "sample": sample}
        except Exception as error:  # one line back to the bench, which names the reference
            reply = {"error": f"{type(error).__name__}: {error}".replace("\n", " ")}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
