#!/usr/bin/env bash
# README command 2: set up a fresh machine, build, and run the whole test
# suite (GoogleTest through CTest). Must run as root: tests load BPF programs
# and create network namespaces (all named xgt<pid>..., removed afterwards).
#
#   scripts/test.sh [CTEST ARGS...]             the suite on the normal build (CI)
#   scripts/test.sh --sanitize [CTEST ARGS...]  the same suite on an ASan + UBSan
#                                               build of the daemon, its libraries
#                                               and the tests (build-asan/)
#
# The sanitizer pass is a second full build in Debug; on CI's two cores it
# would double the run, so it is run before a release and after changes to
# memory handling (UMEM, control socket, config), not on every push.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

sanitize=0
if [[ ${1:-} == --sanitize ]]; then
  sanitize=1
  shift
fi

# Tests run two at a time: most of a test's time is the kernel verifying the
# BPF object or waiting on packets and timers, not CPU this process uses.
# Tests that measure per-CPU behaviour or push a million frames carry the
# CTest property RUN_SERIAL and run alone (tests/CMakeLists.txt).
jobs=$(nproc)
((jobs > 4)) && jobs=4

if ((sanitize == 0)); then
  "$root/scripts/build.sh"
  echo "== test suite (RelWithDebInfo, $jobs at a time)"
  cd "$root/build"
  exec ctest --output-on-failure --timeout 600 -j"$jobs" "$@"
fi

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DXDPGW_SANITIZE=ON \
  -DXDPGW_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build-asan" -j"$(nproc)"
echo "== test suite (ASan + UBSan, $jobs at a time)"
# Any sanitizer report fails the test that triggered it.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
cd "$root/build-asan"
exec ctest --output-on-failure --timeout 600 -j"$jobs" "$@"
