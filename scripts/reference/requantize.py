#!/usr/bin/env python3
"""Requantizes a Llama GGUF (by default the app's SmolLM2-135M-Instruct Q4_1) to Q4_K_M and Q8_0, for
measuring `almanac bench generation --model ...` on the types people run.

    python=$(scripts/reference/setup.sh)
    "$python" scripts/reference/requantize.py [SOURCE.gguf] [OUT_DIR]     (default OUT_DIR: target/requantized)

Every tensor is dequantized with the gguf package (numpy) and quantized again with llama.cpp's own
ggml_quantize_chunk (no importance matrix); metadata is copied, general.file_type updated. The mix
follows llama.cpp's llama_tensor_get_type for these two file types:
  Q8_0    every 2-D tensor Q8_0; 1-D tensors (norms) F32.
  Q4_K_M  Q4_K, except attn_v and ffn_down in the layers where llama.cpp's use_more_bits(i, n) holds
          (the first and last eighth of the layers and every third between) get Q6_K, and output.weight
          (token_embd.weight when the output is tied) gets Q6_K. A tensor whose rows do not split into
          256-value super-blocks falls back as llama.cpp does: Q4_K to Q5_0, Q6_K to Q8_0. SmolLM2's
          width of 576 is such a case, so its Q4_K_M is mostly Q5_0, with ffn_down (rows of 1536) in
          Q4_K/Q6_K and token_embd in Q8_0, as llama-quantize makes it.
The source's own rounding stays (requantizing a Q4_1 file is not quantizing the original weights), so
these files measure speed, not quality.
"""
import os
import re
import sys
from pathlib import Path

import gguf
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ggml_quants import quantize  # noqa: E402

Q = gguf.GGMLQuantizationType
QK_K = 256
FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}
FILE_TYPES = {"Q4_K_M": gguf.LlamaFileType.MOSTLY_Q4_K_M, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}


def default_source() -> Path:
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share"))
    models = Path(os.environ.get("ALMANAC_MODELS_DIR", data / "almanac/models"))
    return models / "SmolLM2-135M-Instruct.Q4_1.gguf"


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's rule (C integer division) for the layers that get more bits in the _M mixes."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def target_type(name: str, row_len: int, mix: str, n_layers: int, has_output: bool) -> Q:
    if mix == "Q8_0":
        return Q.Q8_0
    layer = re.match(r"blk\.(\d+)\.", name)
    if name == "output.weight" or (not has_output and name == "token_embd.weight"):
        wanted = Q.Q6_K
    elif layer and (".attn_v." in name or ".ffn_down." in name) and use_more_bits(int(layer.group(1)), n_layers):
        wanted = Q.Q6_K
    else:
        wanted = Q.Q4_K
    if row_len % QK_K:
        wanted = FALLBACK[wanted]
    return wanted


def copy_metadata(reader: gguf.GGUFReader, writer: gguf.GGUFWriter, mix: str) -> None:
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_file_type(FILE_TYPES[mix])
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type)


def requantize(source: Path, out: Path, mix: str) -> dict[str, int]:
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    n_layers = int(reader.fields[f"{arch}.block_count"].contents())
    names = [t.name for t in reader.tensors]
    writer = gguf.GGUFWriter(str(out), arch)
    copy_metadata(reader, writer, mix)
    counts: dict[str, int] = {}
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        if len(tensor.shape) == 1 or values.ndim == 1:
            writer.add_tensor(tensor.name, values.reshape(-1))
            kind = Q.F32
        else:
            values = values.reshape(-1, values.shape[-1])
            kind = target_type(tensor.name, values.shape[-1], mix, n_layers, "output.weight" in names)
            writer.add_tensor(tensor.name, quantize(values, kind), raw_dtype=kind)
        counts[kind.name] = counts.get(kind.name, 0) + 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return counts


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else default_source()
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "target/requantized"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"\.(Q\w+|F16|F32|BF16)$", "", source.stem, flags=re.IGNORECASE)
    for mix in FILE_TYPES:
        out = out_dir / f"{stem}.{mix}.gguf"
        counts = requantize(source, out, mix)
        print(f"{out} ({out.stat().st_size // 1024} KiB): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
