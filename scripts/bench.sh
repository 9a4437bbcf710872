#!/usr/bin/env bash
# Measures the project's figures on this machine, each beside its reference in the same run, prints them
# and keeps them in docs/BENCHMARKS.md (each bench replaces its own section). Run it on a quiet machine:
# the figures of a busy one say little. The llama.cpp reference (llama.cpp b11549, prebuilt, driven through
# its C API) lives in a venv that scripts/reference/setup.sh creates in seconds, the ONNX Runtime one in
# setup-onnx.sh's; neither is a dependency of the app. Extra arguments go to the generation bench (e.g.
# --runs 5, --model FILE, --no-reference).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-models.sh >/dev/null
cargo build --release --locked -p almanac-cli
almanac=target/release/almanac
report=docs/BENCHMARKS.md

python=$(scripts/reference/setup.sh)
"$almanac" bench generation --python "$python" --write "$report" "$@"
# Embeddings/s beside ONNX Runtime (fp32 all-MiniLM-L6-v2, built once by setup-onnx.sh) on SciFact's
# abstracts and claims, 2 threads as the issue measures it.
onnx_python=$(scripts/reference/setup-onnx.sh)
"$almanac" bench ingestion --threads 2 --python "$onnx_python" --write "$report"
# 100,000 passages built from BEIR SciFact; the work folder keeps the abstracts' vectors between runs
# (embedding them is the slow part of a first run, about 10 minutes on 2 cores).
"$almanac" bench retrieval --beir ../shared/data/beir-scifact --work target/bench-retrieval --write "$report"
# Quoted evidence and sentence attribution: model-independent, about a minute (documents from ../shared/data).
"$almanac" bench grounding --write "$report"
