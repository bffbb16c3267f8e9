#!/usr/bin/env bash
# README command 2: set up a fresh machine, build, and run the whole test
# suite (GoogleTest through CTest), then the same suite again on an ASan +
# UBSan build of the daemon, its libraries and the tests. Must run as root:
# tests load BPF programs and create network namespaces (all named
# xgt<pid>..., removed afterwards).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"

echo "== test suite (RelWithDebInfo)"
(cd "$root/build" && ctest --output-on-failure --timeout 600 "$@")

echo "== test suite (ASan + UBSan)"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DXDPGW_SANITIZE=ON \
  -DXDPGW_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build-asan" -j"$(nproc)"
# Any sanitizer report fails the test that triggered it.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
cd "$root/build-asan"
ctest --output-on-failure --timeout 600 "$@"
