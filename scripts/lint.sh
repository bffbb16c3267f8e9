#!/usr/bin/env bash
# clang-tidy over gateway/ with the checked-in .clang-tidy; exits non-zero on
# any finding. Needs a configured build/ (compile_commands.json).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -f $root/build/compile_commands.json ]] || "$root/scripts/build.sh"
mapfile -t sources < <(cd "$root" && git ls-files 'gateway/*.cpp')
cd "$root"
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet
