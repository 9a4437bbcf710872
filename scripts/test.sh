#!/usr/bin/env bash
# Runs every test: installs what is missing (system packages, the default models), then the whole
# workspace's tests, end-to-end ones included, against the real models and indexes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
scripts/install-models.sh >/dev/null
cargo test --workspace --locked "$@"
