#!/usr/bin/env bash
# Builds the web UI into ui/dist: exact dependency versions from ui/package-lock.json, then type-check
# and bundle. The desktop window embeds ui/dist when the almanac-desktop package compiles.
set -euo pipefail
cd "$(dirname "$0")/../ui"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
