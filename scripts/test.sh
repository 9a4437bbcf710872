#!/usr/bin/env bash
# Runs every test: installs what is missing (system packages, the default models), then the whole
# workspace's tests, end-to-end ones included, against the real models and indexes.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests leave nothing running: every process of this run inherits ALMANAC_TEST_RUN; any still alive
# when the run ends, however it ends, is listed and stopped, and fails the run.
export ALMANAC_TEST_RUN="$$-$(date +%s%N)"
trap 'scripts/leftover-processes.sh --check ALMANAC_TEST_RUN || exit 1' EXIT

scripts/install-system-packages.sh
scripts/install-models.sh >/dev/null
scripts/reference/setup-openai.sh >/dev/null   # OpenAI's Python client (pinned), for tests/serve.rs
scripts/reference/setup-llama-server.sh >/dev/null   # llama.cpp's llama-server (pinned), the remote backend in tests/serve.rs
scripts/build-ui.sh        # the desktop package embeds ui/dist when it compiles
scripts/supply-chain.sh    # cargo deny check licenses bans sources (deny.toml; installs cargo-deny, pinned), npm audit --omit=dev
cargo test --workspace --locked "$@"
scripts/test-aarch64.sh    # the engine's CPU kernels built for aarch64 and run under qemu: scalar, NEON and NEON+sdot compared bit for bit
(cd ui && npm ci && npm test && npm run build && npm run e2e)   # the built UI against the real `almanac serve`, in Chromium
scripts/desktop-e2e.sh     # the real window under Xvfb: a question, a cited answer, target/desktop-e2e/answer.png
