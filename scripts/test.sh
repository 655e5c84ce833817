#!/usr/bin/env bash
# The one test command: CI runs exactly this (through .ci/run), and so should you.
#
# 1. Installs what the interop tests drive, only when missing: kcat and PostgreSQL (Debian
#    packages; the PostgreSQL sink's test starts a throwaway server of its own from the
#    binaries) and a virtualenv at .venv with kafka-python and confluent-kafka.
# 2. Runs, stopping at the first failing step: rustfmt check, clippy with warnings as
#    errors, a build of every target (examples and benches included), all tests under
#    nextest (which replays every committed fuzz corpus file, tests/fuzz_corpus_replay.rs),
#    and the doc tests.
# 3. With EDDY_FUZZ_SMOKE=1, also a bounded libFuzzer run of each fuzz target
#    (scripts/fuzz.sh --smoke; its first build takes ~12 minutes on 2 cores, so it is not
#    part of the default run; docs/FUZZING.md).
#
# Works on a fresh Debian 12 machine as root with Rust (cargo, cargo-nextest), python3 and
# gcc; running it again skips the installs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV="$ROOT/.venv"
KAFKA_PYTHON_VERSION=3.0.12
CONFLUENT_KAFKA_VERSION=2.16.1

section() {
    printf '\n==> %s (%ss)\n' "$*" "$SECONDS"
}

SUDO=()
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
    SUDO=(sudo)
fi
APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

section "test dependencies"
if ! command -v kcat >/dev/null; then
    echo "installing kcat"
    apt_install kcat
fi

# Debian keeps initdb and pg_ctl out of PATH, under /usr/lib/postgresql/<version>/bin.
if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    echo "installing postgresql"
    apt_install postgresql
fi

if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; }; then
    echo "creating $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        # Debian splits venv/ensurepip out of python3.
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
fi

PINNED_CHECK="import kafka, confluent_kafka
from importlib.metadata import version
assert version('kafka-python') == '$KAFKA_PYTHON_VERSION', version('kafka-python')
assert version('confluent-kafka') == '$CONFLUENT_KAFKA_VERSION', version('confluent-kafka')"
if ! "$VENV/bin/python" -c "$PINNED_CHECK" 2>/dev/null; then
    echo "installing kafka-python $KAFKA_PYTHON_VERSION and confluent-kafka $CONFLUENT_KAFKA_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "kafka-python==$KAFKA_PYTHON_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
    "$VENV/bin/python" -c "$PINNED_CHECK"
fi
echo "kcat: $(command -v kcat); python: $VENV/bin/python"
echo "postgresql: $(command -v initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb' | head -n 1)"

export EDDY_TEST_PYTHON="$VENV/bin/python"
EDDY_TEST_KCAT="$(command -v kcat)"
export EDDY_TEST_KCAT

# A one-shot build gains nothing from incremental caches, which would add gigabytes.
export CARGO_INCREMENTAL=0
echo "disk free before the build: $(df -h --output=avail . | tail -n 1 | tr -d ' ')"

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo build (all targets)"
cargo build --workspace --all-targets

section "cargo nextest"
cargo nextest run --workspace --no-fail-fast

section "doc tests"
# The vendored kafka-protocol is a workspace member (a path dependency); its docs are
# upstream's and assume features Eddy does not build.
cargo test --doc --workspace --exclude eddy-kafka-protocol

if [ "${EDDY_FUZZ_SMOKE:-0}" = 1 ]; then
    section "fuzz smoke (scripts/fuzz.sh --smoke)"
    scripts/fuzz.sh --smoke
fi

echo "target/ after the run: $(du -sh target 2>/dev/null | cut -f1)"
section "all checks passed"
