#!/usr/bin/env bash
# Installs the Debian packages Almanac needs to build, run and test, skipping those already present.
set -euo pipefail

packages=(
  build-essential pkg-config   # C code in dependencies (SQLite, candle's kernels)
  python3 python3-pip          # scripts/install-models.sh fetches the default models with pip
  python3-venv                 # scripts/reference/setup-openai.sh: OpenAI's Python client for tests/serve.rs
  strace util-linux            # the offline test: unshare --net, and strace to see no connection is tried
  chromium                     # the browser end-to-end tests (ui/e2e), driven by playwright-core; never a downloaded browser
  libwebkit2gtk-4.1-dev libsoup-3.0-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev  # the Tauri window
  webkit2gtk-driver xvfb xauth iproute2  # the desktop end-to-end test: WebKitWebDriver under Xvfb, offline
  dbus gnome-keyring            # tests/serve.rs: the backend's API key in the OS keyring (a private D-Bus session with gnome-keyring's Secret Service)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-system-packages: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
