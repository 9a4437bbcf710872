#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding exactly pinned packages and prints its python's path;
# the setup scripts beside it call it with their own pins. A second run installs nothing.
#   scripts/reference/pinned-venv.sh VENV_DIR IMPORTS PACKAGE==VERSION...
# IMPORTS: the comma-separated modules that must import afterwards (e.g. "xllamacpp, gguf").
set -euo pipefail

venv=$1
imports=$2
shift 2
packages=("$@")

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
"$venv/bin/python" -c "import $imports" >&2
echo "$(cd "$venv" && pwd)/bin/python"
