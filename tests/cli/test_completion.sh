#!/usr/bin/env bash
# The bash completion (dist/xdpgw.bash-completion) against the built
# binary: what TAB offers after each of a few command lines.
set -uo pipefail
xdpgw=$1
src=$2
scratch=$(mktemp -d /tmp/xdpgw-completion-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failures=0
# shellcheck source=/dev/null
source "$src/dist/xdpgw.bash-completion"

complete_line() {  # WORD...: the completions for the last word
  COMP_WORDS=("$xdpgw" "$@")
  COMP_CWORD=$#
  _xdpgw
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

expect() {  # EXPECTED WORD...
  local expected=$1
  shift
  local got
  got=$(complete_line "$@")
  if [[ $got != "$expected" ]]; then
    echo "FAIL: xdpgw $* <TAB>: got '$got', expected '$expected'" >&2
    failures=$((failures + 1))
  fi
}

expect "announce backend capture check decap events flows reload run stats status stop " ""
expect "check " ch
expect "stats status stop " st
expect "--offline " check --of
expect "drain undrain " backend ""
expect "--interval " --instance x stats --inte
expect "--json " stats --instance router --js
# --instance and --socket are long only (tcpdump's -i and -s mean other things).
expect "--all --help --instance --interval --json --socket -a -h -j " stats --instance router -
# capture takes tcpdump's -c, -s (snaplen) and -w (a short option with no long name).
expect "--count --help --instance --snaplen --socket --what -c -h -s -w " capture -
expect "attach detach stats " decap ""
touch "$scratch/gw.toml"
expect "$scratch/gw.toml " check -c "$scratch/g"

((failures == 0)) || exit 1
echo PASS
