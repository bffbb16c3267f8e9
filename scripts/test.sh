#!/usr/bin/env bash
# README command 2: set up a fresh machine, build, and run the whole test
# suite (GoogleTest through CTest). Must run as root: tests load BPF programs
# and create network namespaces (all named xgt<pid>..., removed afterwards).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 600 "$@"
