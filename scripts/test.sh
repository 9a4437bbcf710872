#!/usr/bin/env bash
# Runs every test: installs what is missing (system packages, the default models), then the whole
# workspace's tests, end-to-end ones included, against the real models and indexes.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests leave nothing running: every process of this run inherits ALMANAC_TEST_RUN; any still alive
# when the run ends, however it ends, is listed and stopped, and fails the run.
export ALMANAC_TEST_RUN="$$-$(date +%s%N)"
trap 'scripts/leftover-processes.sh --check ALMANAC_TEST_RUN || exit 1' EXIT

# A cold build and its test binaries fill 4.3 GB of target/ without incremental state (.ci/run turns it
# off; with it, a warm developer's target/ grows past 15 GB). Say so now rather than after half an
# hour of compiling: a CI run failed for a full disk on 2026-12-05.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if (( free_kib < 8 * 1024 * 1024 )); then
    echo "warning: $(( free_kib / 1024 / 1024 )) GB free on the disk of $(pwd); a cold build and the tests need about 5 GB, more with incremental compilation" >&2
fi

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
