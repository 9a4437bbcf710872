#!/usr/bin/env bash
# The desktop end-to-end test (tests/desktop_e2e.rs): the real window, with the real models, under a
# virtual X display (Xvfb, unless DISPLAY is set), driven by tauri-driver and WebKitWebDriver. It asks a
# question, checks the cited answer and saves target/desktop-e2e/answer.png.
#
# Installs tauri-driver into ~/.cargo/bin when it is missing; builds the UI when ui/dist is missing
# (scripts/build-ui.sh rebuilds it), then the workspace's tests and binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v tauri-driver >/dev/null; then
  echo "desktop-e2e: installing tauri-driver into ~/.cargo/bin" >&2
  cargo install --locked tauri-driver --version '^2.1'
fi
[ -f ui/dist/index.html ] || scripts/build-ui.sh
# The same feature set as `cargo test --workspace` (scripts/test.sh), so nothing is built twice; this
# also builds target/debug/almanac, which the test uses to ingest its library.
cargo test --workspace --locked --no-run

run=(cargo test --workspace --locked --test desktop_e2e -- --ignored --nocapture)
if [ -n "${DISPLAY:-}" ]; then
  "${run[@]}"
else
  xvfb-run -a -s "-screen 0 1280x900x24" "${run[@]}"
fi
