#!/usr/bin/env bash
# Traffic benchmarks: xdpgw against the generator's ceiling, a minimal XDP
# forwarder and Linux forwarding, measured in the same run on the same
# topology (scripts/netns/bench-topology.sh). See bench/README.md.
#
# usage: sudo bench/run.sh [--quick] [xdpgw-bench options, e.g. --frames N --rounds N --cpu N]
#
# Writes bench/results/<UTC time>-<quick|full>/{results.json,results.md,chart.dat,chart.png,logs/}
# and points bench/results/latest at it. Builds nothing itself unless the
# build is missing (then scripts/build.sh). Every namespace and xdpgw
# instance it creates is named xbn<pid>-* and removed on exit, Ctrl-C
# included; leftovers of earlier runs that were killed are removed first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ $EUID -ne 0 ]]; then
  echo "bench/run.sh: needs root (network namespaces, XDP, BPF_PROG_TEST_RUN)" >&2
  exit 1
fi

mode=full
args=()
for arg in "$@"; do
  case $arg in
    --quick) mode=quick; args+=(--quick) ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$arg") ;;
  esac
done

build=${XDPGW_BUILD_DIR:-$root/build}
bench=$build/bench/xdpgw-bench
xdpgw=$build/gateway/xdpgw
topology=$root/scripts/netns/bench-topology.sh
if [[ ! -x $bench || ! -x $xdpgw ]]; then
  echo "== no build in $build: running scripts/build.sh"
  "$root/scripts/build.sh"
  build=$root/build bench=$root/build/bench/xdpgw-bench xdpgw=$root/build/gateway/xdpgw
fi

prefix=xbn$$
results=$root/bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)-$mode
out=$results/$stamp

# Removes what a run named xbn<pid> created: xdpgw instances (XDP links,
# pins, lock and socket), then its namespaces. xdpgw-bench does this itself
# on any normal end or Ctrl-C; this is for a runner that was killed.
remove_run() {
  local run=$1 pin
  for pin in /sys/fs/bpf/xdpgw/"$run"-*; do
    [[ -e $pin ]] || continue
    "$xdpgw" stop --instance "$(basename "$pin")" --detach >/dev/null 2>&1 || rm -rf "$pin"
  done
  rm -f /run/xdpgw/"$run"-*
  "$topology" down "$run"
}

remove_leftovers() {
  local name pid
  local -A dead=()
  for name in $(ip netns list | awk '{print $1}') $(ls /sys/fs/bpf/xdpgw /run/xdpgw 2>/dev/null); do
    [[ $name =~ ^xbn([0-9]+)- ]] || continue
    pid=${BASH_REMATCH[1]}
    if [[ $pid != "$$" ]] && ! kill -0 "$pid" 2>/dev/null; then dead[$pid]=1; fi
  done
  for pid in "${!dead[@]}"; do
    echo "== removing leftovers of an earlier run that was killed (xbn$pid)"
    remove_run "xbn$pid"
  done
}

cleanup() { remove_run "$prefix"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

remove_leftovers
status=0
"$bench" --out "$out" --prefix "$prefix" --xdpgw "$xdpgw" --topology-script "$topology" \
  "${args[@]}" || status=$?
[[ -f $out/results.json ]] || exit "$status"

if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$out/chart.dat'; outfile='$out/chart.png'" "$root/bench/chart.gp" \
    && echo "chart: $out/chart.png"
else
  echo "no chart: gnuplot is not installed (apt-get install gnuplot-nox)"
fi
ln -sfn "$stamp" "$results/latest"
echo "results: $out/results.md, $out/results.json (also bench/results/latest/)"
exit "$status"
