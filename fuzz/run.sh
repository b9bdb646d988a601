#!/usr/bin/env bash
# Runs the fuzz targets on the stable toolchain, then minimises their corpus.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS (default 30) is the time given to each target; with no TARGET,
# every target in fuzz/fuzz_targets/ runs, one after the other. Each target
# starts from fuzz/corpus/<target>/ (seeded from secagg::fuzzing::seeds when
# empty) and its findings from fuzz/regressions/<target>/; the corpus is then
# minimised in place (`cargo fuzz cmin`) unless CMIN=0. The script exits
# non-zero on the first finding; libFuzzer leaves the input in
# fuzz/artifacts/<target>/. Copy it to fuzz/regressions/<target>/<name> and
# add a test named for it to tests/api/fuzz_corpus.rs.
#
# Environment: SANITIZER (address or none) for every target; by default the
# decoders and shamir run under AddressSanitizer, which also enforces the
# malloc limit below, and client and server (whole rounds of X25519, several
# times slower under ASan) without it. CMIN=0: keep the corpus as fuzzing
# left it.
#
# Needs cargo-fuzz (installed when missing). cargo-fuzz passes unstable -Z
# flags to rustc (sanitizer, coverage instrumentation), which the stable
# toolchain accepts with RUSTC_BOOTSTRAP=1; no nightly toolchain is needed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

seconds="${1:-30}"
if [ "$#" -gt 0 ]; then shift; fi
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

sanitizer_of() {
    case "${SANITIZER:-}:$1" in
        :client | :server) echo none ;;
        :*) echo address ;;
        *) echo "$SANITIZER" ;;
    esac
}

# libFuzzer options: a malloc above 256 MiB or a run above 10 s is a finding
# (the targets use tiny rounds; nothing legitimate comes close).
fuzz_opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256
    -print_final_stats=1)

# Whole rounds run at tens of inputs a second: start them at full length
# rather than letting libFuzzer grow the length limit slowly.
extra_opts_of() {
    case "$1" in
        client | server) echo "-len_control=0 -max_len=2048" ;;
        *) echo "" ;;
    esac
}

for t in "${targets[@]}"; do
    # Release code with debug assertions and overflow checks: an overflow is
    # a finding too.
    # One target directory per sanitizer, so switching does not rebuild.
    san="$(sanitizer_of "$t")"
    flags=(-O -a -s "$san" --target-dir "target/$san")
    corpus="corpus/$t"
    mkdir -p "$corpus"
    if [ -z "$(ls -A "$corpus")" ]; then
        (cd .. && cargo test --test api fuzz_corpus::write_seed_corpus -- --ignored --exact)
    fi
    dirs=("$corpus")
    if [ -d "regressions/$t" ]; then
        dirs+=("regressions/$t")
    fi
    echo "== $t: ${seconds}s"
    read -r -a extra <<<"$(extra_opts_of "$t")"
    if ! cargo fuzz run "${flags[@]}" "$t" "${dirs[@]}" -- "${fuzz_opts[@]}" "${extra[@]}"; then
        echo "== $t: FINDING (input in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    if [ "${CMIN:-1}" != 0 ]; then
        cargo fuzz cmin "${flags[@]}" "$t" "$corpus"
    fi
    echo "== $t: corpus $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
done
