#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding OpenAI's official Python client, which the tests of
# `almanac serve`'s OpenAI-compatible API drive it with (tests/serve.rs, tests/openai/*.py), and
# prints its python's path.
#   scripts/reference/setup-openai.sh [VENV_DIR]        (default: target/openai-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${1:-target/openai-venv}
packages=(openai==3.51.0)

exec scripts/reference/pinned-venv.sh "$venv" "openai" "${packages[@]}"
