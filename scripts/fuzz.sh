#!/usr/bin/env bash
# Runs each cargo-fuzz target for a set time (default 600 s each): scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds come from files in the
# repository; findings land in fuzz/artifacts/TARGET/. A crash found is fixed and its input kept as a
# regression test in the normal suite (see crates/engine/tests/model_files.rs, crates/fetch/src/extract.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(gguf_header html_extract chunker)
fi

seed() {
    local target="$1" dir="fuzz/corpus/$1"
    mkdir -p "$dir"
    case "$target" in
        gguf_header)
            # Tiny real GGUFs (Llama 3 shapes); libFuzzer cuts each seed to -max_len, a header's start.
            find crates/engine/tests/fixtures -name '*.gguf' -exec cp {} "$dir/" \; ;;
        html_extract)
            cp crates/fetch/tests/fixtures/chrome/*.html "$dir/" ;;
        chunker)
            cp docs/*.md "$dir/" ;;
    esac
}

feature() {
    case "$1" in
        gguf_header) echo engine ;;
        html_extract) echo fetch ;;
        chunker) echo indexes ;;
    esac
}

# Rust code is memory-safe, so the default skips AddressSanitizer (builds and runs much faster);
# FUZZ_SANITIZER=address also checks the C parts (ring, SQLite).
sanitizer="${FUZZ_SANITIZER:-none}"
for target in "${targets[@]}"; do
    seed "$target"
    echo "== $target for ${seconds}s"
    cargo +nightly fuzz run --sanitizer "$sanitizer" --features "$(feature "$target")" \
        "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10
done
