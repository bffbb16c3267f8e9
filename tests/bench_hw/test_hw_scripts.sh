#!/usr/bin/env bash
# CI check of bench/hw/: the hardware scripts cannot run here (no pktgen, no
# DPDK NIC), so this checks everything short of sending: shell syntax and
# lint (the shellcheck tool), the exact /proc/net/pktgen writes of
# pktgen.sh --dry-run for every scenario, its refusals, the TRex files' byte-compilation, and the TRex
# profile and runner against a test double of trex_stl_lib (check_trex.py).
#
# Also `xdpgw check` of the DUT configs in bench/hw/ inside a namespace of its
# own holding port0/port1 (so root is needed, as for the rest of the suite).
#
# usage: test_hw_scripts.sh REPO_ROOT PYTHON_WITH_SCAPY XDPGW_BINARY
set -euo pipefail

root=$1
python=$2
xdpgw=$3
here=$(cd "$(dirname "$0")" && pwd)
pktgen=$root/bench/hw/pktgen.sh
tmp=$(mktemp -d)
# Named like the harness's objects (xgt<pid>-...) so the suite's leftover
# cleanup recognises it if this script is killed.
netns=xgt$$-hwcfg
cleanup() {
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

echo "== bash -n and shellcheck"
shell_files=("$root"/bench/hw/*.sh "$here"/test_hw_scripts.sh)
for f in "${shell_files[@]}"; do
  bash -n "$f" || fail "bash -n $f"
done
command -v shellcheck >/dev/null || {
  echo "FAIL: shellcheck not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
}
shellcheck "${shell_files[@]}" || fail "shellcheck"

echo "== pktgen.sh --dry-run"
mac=02:00:00:00:00:01
# run NAME ARGS...: dry-run into $tmp/NAME.out; must succeed.
run() {
  local name=$1
  shift
  if ! "$pktgen" --dev eth7 --dst-mac "$mac" --dry-run "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    fail "$name: pktgen.sh $* exited non-zero: $(cat "$tmp/$name.err")"
  fi
}
# expect NAME LINE...: every LINE appears verbatim in NAME's output.
expect() {
  local name=$1 line
  shift
  for line in "$@"; do
    grep -Fxq -- "$line" "$tmp/$name.out" || fail "$name: missing line '$line'"
  done
}
# absent NAME PATTERN: no line of NAME's output matches the regex.
absent() {
  if grep -Eq -- "$2" "$tmp/$1.out"; then fail "$1: unexpected line matching '$2'"; fi
}

P=/proc/net/pktgen
run router4 --scenario router --threads 2 --first-cpu 2 --flows 10 --rate 1000001 --duration 5
expect router4 \
  "$P/pgctrl: reset" \
  "$P/kpktgend_2: rem_device_all" "$P/kpktgend_2: add_device eth7@2" \
  "$P/kpktgend_3: rem_device_all" "$P/kpktgend_3: add_device eth7@3" \
  "$P/eth7@2: pkt_size 60" "$P/eth7@2: dst_mac $mac" "$P/eth7@2: flag QUEUE_MAP_CPU" \
  "$P/eth7@2: ratep 500001" "$P/eth7@3: ratep 500000" \
  "$P/eth7@2: dst_min 198.18.2.2" "$P/eth7@2: dst_max 198.18.2.2" \
  "$P/eth7@2: src_min 198.19.0.1" "$P/eth7@2: src_max 198.19.0.5" \
  "$P/eth7@3: src_min 198.19.0.6" "$P/eth7@3: src_max 198.19.0.10" \
  "$P/eth7@2: udp_dst_min 9" "$P/eth7@2: udp_src_min 1024" "$P/eth7@2: udp_src_max 1024" \
  "$P/pgctrl: start" "$P/pgctrl: stop"
absent router4 'RND|imix|src_mac|kpktgend_[014]|delay'
# The start comes after every device is configured.
[[ $(grep -n "pgctrl: start" "$tmp/router4.out" | cut -d: -f1) -gt $(grep -n "eth7@3: udp_src_max" "$tmp/router4.out" | cut -d: -f1) ]] ||
  fail "router4: start before the last device write"

run router6 --scenario router -6 --flows 100 --threads 2 --src-mac 02:00:00:00:00:02
expect router6 \
  "$P/eth7@0: dst6 2001:2:0:2::2" "$P/eth7@0: src6 2001:2:0:1::2" "$P/eth7@0: src_mac 02:00:00:00:00:02" \
  "$P/eth7@0: udp_src_min 1024" "$P/eth7@0: udp_src_max 1073" \
  "$P/eth7@1: udp_src_min 1074" "$P/eth7@1: udp_src_max 1123" \
  "$P/eth7@0: pkt_size 78" "$P/eth7@0: delay 0"
grep -q "IPv6 frames start at pkt_size 78" "$tmp/router6.err" || fail "router6: no note about the IPv6 minimum size"
absent router6 ': (dst|src)_min|pgctrl: stop'

run imix --scenario router --size imix
expect imix "$P/eth7@0: imix_weights 60,7 590,4 1514,1"
absent imix 'pkt_size'

run size --scenario router --size 1518 --count 1000 --burst 32 --clone 0
expect size "$P/eth7@0: pkt_size 1514" "$P/eth7@0: count 1000" "$P/eth7@0: burst 32" "$P/eth7@0: clone_skb 0"

for lb in lb-nat lb-dsr; do
  run "$lb" --scenario "$lb" --flows 64
  expect "$lb" "$P/eth7@0: dst_min 198.18.100.1" "$P/eth7@0: udp_dst_min 80" \
    "$P/eth7@0: src_min 198.19.0.1" "$P/eth7@0: src_max 198.19.0.64"
  run "$lb-6" --scenario "$lb" -6
  expect "$lb-6" "$P/eth7@0: dst6 2001:2:0:100::1" "$P/eth7@0: udp_dst_max 80"
done

run acl --scenario acl-flood --flows 4096 --flowlen 4 --threads 2
expect acl "$P/eth7@0: flag IPSRC_RND" "$P/eth7@0: src_min 198.19.0.0" "$P/eth7@0: src_max 198.19.255.255" \
  "$P/eth7@0: flows 2048" "$P/eth7@1: flows 2048" "$P/eth7@0: flowlen 4" "$P/eth7@0: flag FLOW_SEQ"

run punt --scenario punt --dport 6000
expect punt "$P/eth7@0: udp_dst_min 6000" "$P/eth7@0: udp_dst_max 6000" "$P/eth7@0: dst_min 198.18.2.2"
run punt-default --scenario punt
expect punt-default "$P/eth7@0: udp_dst_min 5000"

# Every write goes to a pktgen file and is a command pktgen knows.
known='^(reset|start|stop|rem_device_all|add_device [a-z0-9]+@[0-9]+|count [0-9]+|clone_skb [0-9]+|pkt_size [0-9]+|imix_weights( [0-9]+,[0-9]+)+|delay 0|ratep [0-9]+|burst [0-9]+|flag (QUEUE_MAP_CPU|NO_TIMESTAMP|IPSRC_RND|FLOW_SEQ)|(dst|src)_mac [0-9a-f:]{17}|udp_(src|dst)_(min|max) [0-9]+|(dst|src)_(min|max) [0-9.]+|(dst6|src6) [0-9a-f:]+|flows [0-9]+|flowlen [0-9]+)$'
for out in "$tmp"/*.out; do
  case_name=$(basename "$out" .out)
  while IFS= read -r line; do
    [[ $line == xdpgw-pktgen:* ]] && continue
    file=${line%%: *}
    cmd=${line#*: }
    [[ $file =~ ^$P/(pgctrl|kpktgend_[0-9]+|eth7@[0-9]+)$ ]] || fail "$case_name: write to unexpected file '$file'"
    [[ $cmd =~ $known ]] || fail "$case_name: unknown pktgen command '$cmd'"
  done <"$out"
done

# Refusals: exit status 2 and a message, never a half-written config.
refuse() {
  local why=$1
  shift
  local rc=0
  "$pktgen" --dry-run "$@" >"$tmp/refused.out" 2>"$tmp/refused.err" || rc=$?
  if ((rc != 2)); then
    fail "accepted ($why): pktgen.sh $* (rc $rc)"
  elif [[ -s $tmp/refused.out ]]; then
    fail "refused but wrote first ($why): $(head -n1 "$tmp/refused.out")"
  fi
}
refuse "no scenario" --dev eth7 --dst-mac "$mac"
refuse "no dev" --scenario router --dst-mac "$mac"
refuse "bad mac" --scenario router --dev eth7 --dst-mac 02:00:00:00:01
refuse "bad scenario" --scenario bogus --dev eth7 --dst-mac "$mac"
refuse "acl-flood over IPv6" --scenario acl-flood -6 --dev eth7 --dst-mac "$mac"
refuse "size too small" --scenario router --size 63 --dev eth7 --dst-mac "$mac"
refuse "size too large" --scenario router --size 1519 --dev eth7 --dst-mac "$mac"
refuse "flows < threads" --scenario router --flows 1 --threads 2 --dev eth7 --dst-mac "$mac"
refuse "too many IPv4 flows" --scenario router --flows 70000 --dev eth7 --dst-mac "$mac"
refuse "ports past 65535" --scenario router -6 --flows 65000 --sport 1024 --dev eth7 --dst-mac "$mac"
refuse "bad dport" --scenario punt --dport 0 --dev eth7 --dst-mac "$mac"
refuse "bad src" --scenario router --src 198.19.0 --dev eth7 --dst-mac "$mac"
refuse "v4 src with -6" --scenario router -6 --src 198.19.0.1 --dev eth7 --dst-mac "$mac"
refuse "unknown option" --scenario router --dev eth7 --dst-mac "$mac" --bogus 1
refuse "missing value" --scenario router --dev eth7 --dst-mac

echo "== TRex: py_compile, profile and runner against the stub"
for f in "$root"/bench/hw/trex/*.py; do
  # Byte-code goes to the temp dir, never next to the sources.
  PYTHONPYCACHEPREFIX=$tmp/pycache "$python" -m py_compile "$f" || fail "py_compile $f"
done
PYTHONDONTWRITEBYTECODE=1 "$python" "$here/check_trex.py" "$root" || fail "check_trex.py"
# The runner answers --help without TRex installed.
PYTHONDONTWRITEBYTECODE=1 "$python" "$root/bench/hw/trex/run_trex.py" --help >/dev/null || fail "run_trex.py --help"

echo "== xdpgw check of the DUT configs"
ip netns add "$netns"
ip -n "$netns" link add port0 type veth peer name port1
sed 's/^mode = "nat"/mode = "dsr"/' "$root/bench/hw/xdpgw-lb.toml" >"$tmp/xdpgw-lb-dsr.toml"
grep -q '^mode = "dsr"' "$tmp/xdpgw-lb-dsr.toml" || fail "xdpgw-lb.toml: no 'mode = \"nat\"' line to turn into dsr"
for cfg in "$root/bench/hw/xdpgw-router.toml" "$root/bench/hw/xdpgw-lb.toml" "$tmp/xdpgw-lb-dsr.toml"; do
  ip netns exec "$netns" "$xdpgw" check -c "$cfg" || fail "xdpgw check $cfg"
done

if ((fails)); then
  echo "$fails check(s) failed" >&2
  exit 1
fi
echo "all bench/hw checks passed"
