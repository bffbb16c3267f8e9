#!/usr/bin/env bash
# Usage errors exit 2 and print the usage line of the command they were
# typed for; --help and --version exit 0.
set -uo pipefail
xdpgw=$1
failures=0

expect() {  # CODE PATTERN ARGS...: exit code CODE and PATTERN in stdout+stderr
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$xdpgw" "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]]; then
    echo "FAIL: xdpgw $*: exit $rc, expected $code:"$'\n'"$out" >&2
    failures=$((failures + 1))
  elif ! grep -qF -- "$pattern" <<<"$out"; then
    echo "FAIL: xdpgw $*: output lacks '$pattern':"$'\n'"$out" >&2
    failures=$((failures + 1))
  fi
}

expect 2 "Usage: xdpgw [OPTIONS] SUBCOMMAND"
expect 2 "Usage: xdpgw [OPTIONS] SUBCOMMAND" frobnicate
expect 2 "Usage: xdpgw check [OPTIONS]" check --confgi x.toml
expect 2 "Run 'xdpgw check --help' for more." check --confgi x.toml
expect 2 "Usage: xdpgw check [OPTIONS]" check
expect 2 "Usage: xdpgw run [OPTIONS]" run
expect 2 "Usage: xdpgw capture [OPTIONS]" capture -w x.pcap --what everything
# tcpdump's flags on capture; --instance/--socket have no -i/-s anywhere.
expect 2 "Usage: xdpgw capture [OPTIONS]" capture -w x.pcapng -s 0
expect 2 "Usage: xdpgw capture [OPTIONS]" capture -w x.pcapng -i router
expect 2 "Usage: xdpgw status [OPTIONS]" status -i router
expect 2 "Usage: xdpgw stop [OPTIONS]" stop -s /run/xdpgw/x.sock
expect 0 "-s,--snaplen" capture --help
expect 0 "Output pcapng file; - for stdout" capture --help
expect 2 "Usage: xdpgw flows [OPTIONS]" flows --limit 0
expect 2 "Usage: xdpgw backend drain [OPTIONS] VIP BACKEND" backend drain web
expect 2 "Usage: xdpgw check [OPTIONS]" check --offline --kernel -c x.toml
expect 0 "Usage: xdpgw check [OPTIONS]" check --help
expect 0 "xdpgw " --version

((failures == 0)) || exit 1
echo PASS
