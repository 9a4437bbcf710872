#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding OpenAI's official Python client, which the tests of
# `almanac serve`'s OpenAI-compatible API drive it with (tests/serve.rs, tests/openai/*.py), and
# prints its python's path.
#   scripts/reference/setup-openai.sh [VENV_DIR]        (default: target/openai-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${1:-target/openai-venv}
packages=(openai==3.51.0)

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
# Reinstall only when a pin is missing, so a second run is instant.
installed=$("$venv/bin/python" -m pip freeze 2>/dev/null || true)
missing=()
for package in "${packages[@]}"; do
    grep -qxi "$package" <<<"$installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
fi
"$venv/bin/python" -c 'import openai' >&2
echo "$(cd "$venv" && pwd)/bin/python"
