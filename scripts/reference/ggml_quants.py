"""llama.cpp's own quantizer (ggml_quantize_chunk, from the reference library that setup.sh installs),
for the scripts that write GGUF files: a tensor quantized here has the bytes llama-quantize would write
(without an importance matrix)."""
import ctypes

import gguf
import numpy as np

from llamacpp import library_path

_lib = ctypes.CDLL(library_path())
_quantize_chunk = _lib.ggml_quantize_chunk
_quantize_chunk.restype = ctypes.c_size_t
_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                            ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
_requires_imatrix = _lib.ggml_quantize_requires_imatrix
_requires_imatrix.restype = ctypes.c_bool
_requires_imatrix.argtypes = [ctypes.c_int]
_type_size = _lib.ggml_type_size
_type_size.restype = ctypes.c_size_t
_type_size.argtypes = [ctypes.c_int]
_blck_size = _lib.ggml_blck_size
_blck_size.restype = ctypes.c_int64
_blck_size.argtypes = [ctypes.c_int]


def quantize(weights: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    """A 2-D float matrix (rows x row length) as `qtype` blocks: uint8, rows x bytes per row."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    if (_blck_size(qtype), _type_size(qtype)) != (block, size):
        raise RuntimeError(f"gguf and llama.cpp disagree on {qtype.name}'s block size")
    if _requires_imatrix(qtype):
        raise ValueError(f"{qtype.name} needs an importance matrix")
    src = np.ascontiguousarray(weights, dtype=np.float32)
    rows, row_len = src.shape
    if row_len % block:
        raise ValueError(f"a row of {row_len} does not split into {qtype.name} blocks of {block}")
    row_bytes = row_len // block * size
    dst = np.zeros((rows, row_bytes), dtype=np.uint8)
    written = _quantize_chunk(int(qtype), src.ctypes.data, dst.ctypes.data, 0, rows, row_len, None)
    if written != dst.size:
        raise RuntimeError(f"ggml_quantize_chunk wrote {written} bytes, not {dst.size}")
    return dst
