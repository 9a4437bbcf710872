#!/usr/bin/env bash
# Sets everything up and opens the Almanac desktop window: system packages, the default models, the web
# UI (ui/dist), a release build, then the window on the demo library that ships in demo/ (kept in its own
# data directory, so your own library is untouched). Your own documents: add them in the window's Library
# tab, or `target/release/almanac ingest PATH`. Headless: `xvfb-run -a scripts/run.sh` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
scripts/install-models.sh >/dev/null
scripts/build-ui.sh
cargo build --release --locked -p almanac-cli -p almanac-desktop

demo_dir="${ALMANAC_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/almanac/demo}"
target/release/almanac --data-dir "$demo_dir" ingest demo
ALMANAC_DATA_DIR="$demo_dir" exec target/release/almanac-desktop "$@"
