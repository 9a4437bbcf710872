#!/usr/bin/env bash
# The desktop end-to-end test (tests/desktop_e2e.rs): the real window, with the real models, under a
# virtual X display (Xvfb, unless DISPLAY is set), driven by tauri-driver and WebKitWebDriver. It asks a
# question, checks the cited answer and saves target/desktop-e2e/answer.png (and sources.png,
# web-unavailable.png), with the network cut (unshare --net) where the system allows it.
#
# Installs tauri-driver into ~/.cargo/bin when it is missing; builds the UI when ui/dist is missing
# (scripts/build-ui.sh rebuilds it), then the workspace's tests and binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Whatever this run starts (Xvfb, tauri-driver, WebKitWebDriver, the window) inherits ALMANAC_E2E_RUN
# and is stopped when the script ends: success, failure, Ctrl-C or kill (SIGTERM). The test stops
# its own processes; this is the net for a test process killed before it could.
export ALMANAC_E2E_RUN="$$-$(date +%s%N)"
trap 'scripts/leftover-processes.sh --stop ALMANAC_E2E_RUN' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v tauri-driver >/dev/null; then
  echo "desktop-e2e: installing tauri-driver into ~/.cargo/bin" >&2
  cargo install --locked tauri-driver --version '^2.1'
fi
[ -f ui/dist/index.html ] || scripts/build-ui.sh
# The same feature set as `cargo test --workspace` (scripts/test.sh), so nothing is built twice; this
# also builds target/debug/almanac, which the test uses to ingest its library.
cargo test --workspace --locked --no-run

run=(cargo test --workspace --locked --offline --test desktop_e2e -- --ignored --nocapture)
[ -n "${DISPLAY:-}" ] || run=(xvfb-run -a -s "-screen 0 1280x900x24" "${run[@]}")
# The offline assistant: the window runs with the network cut (a network namespace with loopback only,
# which tauri-driver needs). ALMANAC_E2E_ONLINE=1 runs it in the normal network instead.
if [ -z "${ALMANAC_E2E_ONLINE:-}" ] && unshare --net true 2>/dev/null; then
  run=(env ALMANAC_E2E_OFFLINE=1 unshare --net sh -c 'ip link set lo up && exec "$@"' sh "${run[@]}")
fi
# In the background and waited for, so that a signal reaches the traps above at once.
"${run[@]}" &
wait $!
