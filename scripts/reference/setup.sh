#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding the llama.cpp reference that `almanac bench generation`
# and the llama.cpp fixtures (Llama 3 logits, SmolLM2 greedy parity) are measured against, and prints
# its python's path.
#   scripts/reference/setup.sh [VENV_DIR]        (default: target/reference-venv)
# xllamacpp ships llama.cpp b11549 prebuilt (AVX2, glibc 2.17) as one shared library exporting the C
# API; scripts/reference/llamacpp.py drives it through ctypes. Nothing compiles. It is a reference for
# measurements and fixtures, not a dependency of the app.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${1:-target/reference-venv}
packages=(xllamacpp==2026.10.11549 gguf==0.19.0 numpy==2.4.6 jinja2==3.1.6)

exec scripts/reference/pinned-venv.sh "$venv" "xllamacpp, gguf, numpy, jinja2" "${packages[@]}"
