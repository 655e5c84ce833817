#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders that read outside bytes (cargo-fuzz, libFuzzer);
# targets, results and how to read a crash are in docs/FUZZING.md.
#
#   scripts/fuzz.sh --smoke [TARGET...]      a bounded run of each target (FUZZ_SMOKE_SECONDS,
#                                            20 s by default) from the committed corpus,
#                                            which it leaves untouched
#   scripts/fuzz.sh --runs N [TARGET...]     N executions of each target (10,000,000 by
#                                            default), new inputs added to fuzz/corpus/,
#                                            then the corpus minimised (libFuzzer's
#                                            -set_cover_merge: the fewest files that keep
#                                            every feature; smaller than cargo fuzz cmin's)
#
# Installs cargo-fuzz when it is missing. Uses the nightly toolchain with AddressSanitizer
# when rustup has one, and otherwise the stable toolchain without a sanitizer (a machine
# with one toolchain; a panic, an overflow or a hang is still caught). The first build
# compiles the runtime's whole dependency tree with coverage instrumentation into
# fuzz/target: about 12 minutes on 2 cores, which is why scripts/test.sh runs this only
# when EDDY_FUZZ_SMOKE=1 (its replay of the committed corpora always runs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ALL_TARGETS=(request batch peer_frame properties node_config)

MODE=""
RUNS=10000000
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) MODE=smoke; shift ;;
        --runs) MODE=runs; RUNS="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ -z "$MODE" ]; then
    echo "usage: scripts/fuzz.sh --smoke | --runs N [TARGET...]" >&2
    exit 2
fi
TARGETS=("$@")
if [ ${#TARGETS[@]} = 0 ]; then
    TARGETS=("${ALL_TARGETS[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
    SANITIZER=(--sanitizer address)
else
    # cargo-fuzz passes unstable flags only for sanitizers; with none, stable builds it.
    TOOLCHAIN=()
    SANITIZER=(--sanitizer none)
fi
# Release with debug assertions (cargo-fuzz's -O): overflow checks stay on.
BUILD_FLAGS=(-O "${SANITIZER[@]}")
echo "toolchain: ${TOOLCHAIN[*]:-stable}, ${SANITIZER[*]}"

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
cd "$ROOT/fuzz"
SECONDS=0
cargo "${TOOLCHAIN[@]}" fuzz build "${BUILD_FLAGS[@]}"
echo "fuzz build: ${SECONDS}s"

run_target() {
    local target=$1
    shift
    local dict=()
    if [ -f "dict/$target.dict" ]; then
        dict=("-dict=dict/$target.dict")
    fi
    mkdir -p "artifacts/$target"
    # The binary cargo fuzz built, run directly (cargo fuzz run would check the build
    # again). -timeout: an input that takes 10 s is a hang, reported as a crash; a crash
    # leaves its input in fuzz/artifacts/<target>/.
    "target/$TRIPLE/release/$target" -artifact_prefix="artifacts/$target/" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" "${FUZZ_ARGS[@]}" "$@"
}

for target in "${TARGETS[@]}"; do
    printf '\n==> fuzz %s (%ss)\n' "$target" "$SECONDS"
    if [ "$MODE" = smoke ]; then
        # New inputs go to a scratch directory; the committed corpus is only read.
        scratch=$(mktemp -d)
        inputs=("corpus/$target")
        if [ -d "regressions/$target" ]; then
            inputs+=("regressions/$target")
        fi
        FUZZ_ARGS=(-max_total_time="${FUZZ_SMOKE_SECONDS:-20}")
        run_target "$target" "$scratch" "${inputs[@]}"
        rm -rf "$scratch"
    else
        mkdir -p "corpus/$target"
        FUZZ_ARGS=(-runs="$RUNS")
        run_target "$target" "corpus/$target"
        minimised=$(mktemp -d)
        "target/$TRIPLE/release/$target" -set_cover_merge=1 -timeout=10 -rss_limit_mb=2048 \
            "$minimised" "corpus/$target"
        rm -rf "corpus/$target"
        mv "$minimised" "corpus/$target"
        echo "corpus/$target: $(find "corpus/$target" -type f | wc -l) files"
    fi
done
printf '\n==> fuzzing passed (%ss)\n' "$SECONDS"
