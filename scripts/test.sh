#!/usr/bin/env bash
# README command 2: set up a fresh machine, build, and run the whole test
# suite (GoogleTest through CTest). Must run as root: tests load BPF programs
# and create network namespaces (all named xgt<pid>..., removed afterwards).
#
#   scripts/test.sh [CTEST ARGS...]            the suite on an ASan + UBSan build
#                                              (build-asan/); what CI runs
#   scripts/test.sh --release [CTEST ARGS...]  the same suite on the
#                                              RelWithDebInfo build (build/)
#                                              that the demo and benchmarks use
#
# One build, sanitized: the gateway's code (daemon, CLI, libraries; the
# tests and benchmarks are not instrumented, only linked with the runtimes)
# runs under ASan and UBSan in every test, the daemons the e2e tests start
# included. One build costs CI half of a normal build plus a sanitizer one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

release=0
if [[ ${1:-} == --release ]]; then
  release=1
  shift
fi

# Tests run two at a time: most of a test's time is the kernel verifying the
# BPF object or waiting on packets and timers. Tests with real traffic,
# daemons or AF_XDP rings hold the CTest RESOURCE_LOCK xdpgw_traffic (one
# at a time) and start first (COST), unit tests run beside them.
jobs=$(nproc)
((jobs > 4)) && jobs=4

if ((release)); then
  "$root/scripts/build.sh"
  echo "== test suite (RelWithDebInfo, $jobs at a time)"
  cd "$root/build"
  exec ctest --output-on-failure --timeout 600 -j"$jobs" "$@"
fi

"$root/scripts/install-deps.sh"
# -g1: line tables are all a sanitizer report needs, and cheaper to build.
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DXDPGW_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" >/dev/null
cmake --build "$root/build-asan" -j"$(nproc)"
echo "== test suite (ASan + UBSan, $jobs at a time)"
# Any sanitizer report fails the test that triggered it.
# intercept_tls_get_addr=0: GCC 12's ASan crashes at exit in its
# __tls_get_addr interceptor (DTLS_on_tls_get_addr) once a library with TLS
# was loaded and unloaded (seen with libxdp's socket setup on veth); the
# interceptor only serves leak checks of dynamic TLS blocks.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:intercept_tls_get_addr=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
cd "$root/build-asan"
exec ctest --output-on-failure --timeout 600 -j"$jobs" "$@"
