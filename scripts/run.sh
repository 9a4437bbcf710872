#!/usr/bin/env bash
# Sets everything up and starts Almanac: system packages, the default models, a release build, then
# `almanac chat` on the demo library that ships in demo/ (kept in its own data directory, so your own
# library is untouched). Your own documents: `target/release/almanac ingest PATH`, then `almanac chat`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
scripts/install-models.sh >/dev/null
cargo build --release --locked -p almanac-cli

demo_dir="${ALMANAC_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/almanac/demo}"
target/release/almanac --data-dir "$demo_dir" ingest demo
exec target/release/almanac --data-dir "$demo_dir" chat "$@"
