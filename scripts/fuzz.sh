#!/usr/bin/env bash
# Runs the cargo-fuzz targets for a set time each (default 600 s): scripts/fuzz.sh [SECONDS] [TARGET...]
# (no TARGET: all of them that FUZZ_FEATURES builds). Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`),
# python3 for the seeds, and the installed models for http_api (scripts/install-models.sh).
#
# One `cargo fuzz build` builds every target (one dependency tree for all, instead of one per target);
# then FUZZ_JOBS targets (default 2) run at a time under `nice`, each its own libFuzzer process.
# Seeds come from the repository, ../shared/data and the installed models (scripts/fuzz_seeds.py) into
# fuzz/corpus/TARGET (ignored by git; the corpus grows there from run to run). Logs go to
# fuzz/logs/TARGET.log and findings to fuzz/artifacts/TARGET/. A finding is fixed in the crate at
# fault and its input kept as a regression test of that crate (see fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
# The fuzz crate's feature (one per crate) that builds each target.
declare -A feature_of=(
    [gguf_header]=engine [tokenizer]=engine [chat_template]=engine [html_extract]=fetch
    [pdf]=documents [docx]=documents [epub]=documents [text_formats]=documents [chunker]=indexes
    [beir]=eval [settings]=core [http_api]=cli
)
all=(gguf_header tokenizer chat_template html_extract pdf docx epub text_formats chunker beir settings http_api)
jobs="${FUZZ_JOBS:-2}"

# Rust code is memory-safe, so the default skips AddressSanitizer (builds and runs much faster);
# FUZZ_SANITIZER=address also checks our unsafe code (the CPU kernels) and the C parts (SQLite,
# zstd). FUZZ_FEATURES builds only some crates' targets (e.g. engine,indexes: a fraction of the
# cold build; the default is all of them). The build is one `cargo fuzz build`; a change of
# sanitizer or features rebuilds what they change, and the binaries of fuzz/target are those of
# the last build.
sanitizer="${FUZZ_SANITIZER:-none}"
features="${FUZZ_FEATURES:-engine,fetch,indexes,documents,core,eval,cli}"
built() { [[ ",$features," == *",${feature_of[$1]:-?},"* ]]; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for target in "${all[@]}"; do
        if built "$target"; then targets+=("$target"); fi
    done
fi
for target in "${targets[@]}"; do
    if ! built "$target"; then
        echo "fuzz.sh: target $target needs feature ${feature_of[$target]:-?}, not in FUZZ_FEATURES=$features" >&2
        exit 2
    fi
done

build_flags=(--sanitizer "$sanitizer" --codegen-units 16 --features "$features")
cargo +nightly fuzz build "${build_flags[@]}"
bin_dir="fuzz/target/x86_64-unknown-linux-gnu/release"

python3 scripts/fuzz_seeds.py fuzz/corpus "${targets[@]}"
mkdir -p fuzz/logs
# The targets' scratch files (model files, data folders) go to one folder, in memory when /dev/shm
# exists, removed when the script ends.
scratch=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/almanac-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

# Per target: the longest input, and the time one input may take before it counts as a hang. The
# memory limit is the parser worker's address-space limit (parse_memory_mib, 2 GiB) for all.
options() {
    case "$1" in
        gguf_header) echo "-max_len=65536 -timeout=10" ;;
        # The app gives a parser worker 60 s per file; 10 s for at most 64 KiB is a hang.
        pdf | docx | epub | text_formats) echo "-max_len=65536 -timeout=10" ;;
        # An answer without a chat model ends at once; the embedder runs on real text.
        http_api) echo "-max_len=16384 -timeout=20" ;;
        *) echo "-max_len=65536 -timeout=5" ;;
    esac
}

run_one() {
    local target="$1"
    mkdir -p "fuzz/artifacts/$target"
    # shellcheck disable=SC2046
    nice -n 10 "$bin_dir/$target" "fuzz/corpus/$target" $(options "$target") \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$target/" >"fuzz/logs/$target.log" 2>&1
}

failed=()
running=()
names=()
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s (log: fuzz/logs/$target.log)"
    run_one "$target" &
    running+=("$!")
    names+=("$target")
    if [ ${#running[@]} -ge "$jobs" ]; then
        if ! wait "${running[0]}"; then failed+=("${names[0]}"); fi
        running=("${running[@]:1}")
        names=("${names[@]:1}")
    fi
done
for i in "${!running[@]}"; do
    if ! wait "${running[$i]}"; then failed+=("${names[$i]}"); fi
done

for target in "${targets[@]}"; do
    log="fuzz/logs/$target.log"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    echo "$target: ${runs} inputs, corpus ${corpus} files, $(grep -c '^==[0-9]*== ERROR\|^SUMMARY\|deadly signal\|ERROR: libFuzzer' "$log" || true) findings"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "findings in: ${failed[*]} (see fuzz/artifacts/ and fuzz/logs/)" >&2
    exit 1
fi
