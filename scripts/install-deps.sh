#!/usr/bin/env bash
# Installs the Debian 12 packages xdpgw needs, and mounts bpffs. Idempotent:
# safe to run on every invocation of the README commands; it does nothing
# when everything is already in place.
#
#   scripts/install-deps.sh                  everything (build, test, demo)
#   scripts/install-deps.sh runtime          only what `xdpgw` runs with
#   scripts/install-deps.sh build [test ...] one or more sets
#
# The runtime set is what the .deb depends on (dpkg-shlibdeps derives that
# list from the binary; tests/package checks that the two agree).
set -euo pipefail

RUNTIME=(
  # the shared libraries the xdpgw binary links (libelf and zlib come with
  # libbpf1)
  libbpf1 libxdp1 liburing2 libmnl0 libspdlog1.10-fmt9 libfmt9
  libtomlplusplus3 libsystemd0
)
BUILD=(
  build-essential cmake pkg-config clang llvm bpftool
  libbpf-dev libxdp-dev libelf-dev zlib1g-dev linux-libc-dev
  liburing-dev libboost-dev libtomlplusplus-dev libcli11-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libmnl-dev libsystemd-dev
  # the man page, from --help
  help2man
)
TEST=(
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # test and demo tooling: topologies, traffic, captures
  iproute2 ethtool tcpdump iputils-ping netcat-openbsd socat iperf3
  netsniff-ng python3-scapy procps kmod
  # SYN floods from random sources against the load balancer
  hping3
  # libFuzzer + sanitizer runtimes for clang (config fuzzer); gnuplot for
  # benchmark charts; nftables for the LB benchmark's kernel DNAT reference
  libclang-rt-14-dev gnuplot-nox nftables
  # control-plane tests: a real HTTP client scrapes the metrics endpoint and
  # Prometheus' promtool (from the prometheus package) lints what it serves
  curl prometheus
  # scale-out test: BIRD 2 announces VIPs over BGP to an ECMP upstream router
  bird2
  # flow-export test: nfcapd receives the IPFIX / NetFlow v9 records, nfdump
  # reads them back
  nfdump
  # bench/hw script checks (tests/bench_hw): shell lint
  shellcheck
  # package test (tests/package): builds the .deb with CPack (dpkg-dev for
  # dpkg-shlibdeps) and checks it with lintian
  dpkg-dev lintian
  # proxy mode tests and benchmark: real backends and clients (nginx with the
  # stream module for PROXY protocol and as a baseline, HAProxy as the other
  # baseline, ab from apache2-utils for many short connections)
  nginx libnginx-mod-stream haproxy apache2-utils
)

sets=("$@")
((${#sets[@]})) || sets=(runtime build test)
PACKAGES=()
for set in "${sets[@]}"; do
  case $set in
    runtime) PACKAGES+=("${RUNTIME[@]}") ;;
    build) PACKAGES+=("${BUILD[@]}") ;;
    test) PACKAGES+=("${TEST[@]}") ;;
    *)
      echo "usage: install-deps.sh [runtime|build|test]..." >&2
      exit 2
      ;;
  esac
done

if [[ $EUID -ne 0 ]]; then
  echo "install-deps.sh: must run as root (installs packages, mounts bpffs)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages are installed for their tools (promtool, iperf3, ...), never to
  # run as services: keep maintainer scripts from starting any daemon.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [[ -n $own_policy ]] && rm -f "$policy"
fi

# bpffs is not mounted on a fresh machine; every pin lives under it.
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
