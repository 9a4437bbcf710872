#!/usr/bin/env bash
# The supply-chain checks of the README's test command: the Rust dependency tree against deny.toml
# (licences, banned or duplicate crates, sources) with cargo-deny, and the UI's production
# dependencies against npm's advisories. Installs cargo-deny (pinned) when it is missing.
# Advisory databases: cargo-deny's (RustSec) is a git repository on GitHub, which CI cannot reach,
# so `cargo deny check advisories` is not run here (see the README); npm's audit endpoint sits
# beside the registry: where the registry in use does not serve it, this says SKIPPED, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2   # about 4.5 CPU-minutes to build (docs/decisions/0018)
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  echo "supply-chain: installing cargo-deny $CARGO_DENY_VERSION" >&2
  cargo install --locked --quiet "cargo-deny@$CARGO_DENY_VERSION"
fi
# Duplicate versions are warnings (deny.toml): counted on success, shown in full on a failure.
if deny=$(cargo deny --locked check --hide-inclusion-graph licenses bans sources 2>&1); then
  echo "supply-chain: cargo deny: $(tail -n1 <<<"$deny") ($(grep -c '^warning\[duplicate\]' <<<"$deny") crates in two or more versions)" >&2
else
  echo "$deny" >&2
  exit 1
fi

# `npm audit --omit=dev`: a report fails on any advisory; an endpoint that cannot be used is a
# SKIPPED line, never a silent pass.
report=$(cd ui && npm audit --omit=dev --json 2>/dev/null) || true
node - "$report" <<'EOF'
const text = process.argv[2] || "";
let report;
try { report = JSON.parse(text); } catch { report = null; }
if (!report || !report.auditReportVersion) {
  // npm's error object: a status code and a message that starts with it ("405 Method Not Allowed - POST …").
  const why = report && report.message ? report.message.split(" - ")[0] : (text.trim().split("\n")[0] || "no answer");
  console.error(`supply-chain: SKIPPED: npm audit --omit=dev: the registry's audit endpoint could not be used (${why}); run it where it can be reached`);
  process.exit(0);
}
const found = Object.values(report.vulnerabilities || {});
if (found.length === 0) {
  console.error(`supply-chain: npm audit --omit=dev: no advisories for ${report.metadata.dependencies.prod} production dependencies`);
  process.exit(0);
}
for (const v of found) console.error(`supply-chain: npm audit: ${v.name} ${v.range}: ${v.severity}`);
process.exit(1);
EOF
