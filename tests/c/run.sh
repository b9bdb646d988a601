#!/usr/bin/env bash
# Builds the C ABI (cargo build --release --features ffi), then compiles
# tests/c/round.c and tests/c/review.c against it twice: with the address
# and undefined-behaviour sanitizers (run directly), and without them (run
# under valgrind memcheck: no errors, no definite leaks). The C example of
# README.md's "C and Python" section is extracted and run the same two
# ways. CI runs this from scripts/test.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== C ABI: cargo build --release --features ffi --lib"
cargo build --release --features ffi --lib
lib="$PWD/target/release"
out="$PWD/target/c-tests"
mkdir -p "$out"
cflags=(-std=c11 -Wall -Wextra -Werror -g -Iinclude)
link=(-L"$lib" -lsecagg -Wl,-rpath,"$lib" -lm)

echo "== C ABI: round.c with -fsanitize=address,undefined"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  tests/c/round.c "${link[@]}" -o "$out/round-asan"
ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" "$out/round-asan"

echo "== C ABI: review.c with -fsanitize=address,undefined"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  tests/c/review.c "${link[@]}" -o "$out/review-asan"
ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" "$out/review-asan"

echo "== C ABI: README.md's C example with -fsanitize=address,undefined"
# The first ```c block after the "## C and Python" heading.
awk '/^## C and Python/ { sec = 1; next } /^## / { sec = 0 }
     sec && /^```c$/ { inblk = 1; found = 1; next }
     inblk && /^```$/ { exit }
     inblk { print }
     END { if (!found) exit 1 }' README.md > "$out/readme.c"
test -s "$out/readme.c"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  "$out/readme.c" "${link[@]}" -o "$out/readme-asan"
ASAN_OPTIONS="detect_leaks=1" "$out/readme-asan"

echo "== C ABI: round.c and review.c under valgrind memcheck"
gcc "${cflags[@]}" -O1 tests/c/round.c "${link[@]}" -o "$out/round"
gcc "${cflags[@]}" -O1 tests/c/review.c "${link[@]}" -o "$out/review"
gcc "${cflags[@]}" -O1 "$out/readme.c" "${link[@]}" -o "$out/readme"
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind missing: installing it with apt-get"
  if ! { apt-get update -qq && apt-get install -y -qq valgrind; } >/dev/null 2>&1; then
    echo "SKIPPED: valgrind could not be installed; the sanitizer run above still ran"
    exit 0
  fi
fi
vg=(valgrind --quiet --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite --error-exitcode=1)
"${vg[@]}" "$out/round"
"${vg[@]}" "$out/review"
"${vg[@]}" "$out/readme"
