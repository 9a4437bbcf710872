#!/usr/bin/env bash
# Measures the project's figures on this machine, each beside its reference in the same run, prints them
# and keeps them in docs/BENCHMARKS.md (each bench replaces its own section). Run it on a quiet machine:
# the figures of a busy one say little. The llama.cpp reference needs `pip install llama-cpp-python==0.3.36`
# (it compiles llama.cpp, about 10 minutes on 2 cores); it is not a dependency of the app.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-models.sh >/dev/null
cargo build --release --locked -p almanac-cli
almanac=target/release/almanac
report=docs/BENCHMARKS.md

"$almanac" bench generation --write "$report" "$@"
# 100,000 passages built from BEIR SciFact; the work folder keeps the abstracts' vectors between runs
# (embedding them is the slow part of a first run, about 10 minutes on 2 cores).
"$almanac" bench retrieval --beir ../shared/data/beir-scifact --work target/bench-retrieval --write "$report"
